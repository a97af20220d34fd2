"""A token cache whose expiry reads an attribute that was renamed."""


class TokenCache:
    def __init__(self, token_ttl: int) -> None:
        self.token_ttl = token_ttl
        self.tokens: dict[str, float] = {}

    def expires_at(self, issued: float) -> float:
        # the attribute is token_ttl
        return issued + self.ttl


print(TokenCache(60).expires_at(1000.0))
