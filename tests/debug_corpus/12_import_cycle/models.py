from validators import validate_email


class User:
    def __init__(self, email: str) -> None:
        self.email = validate_email(email)
