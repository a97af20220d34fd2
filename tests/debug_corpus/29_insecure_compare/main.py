"""Webhook signature check."""
import hashlib
import hmac


def verify(secret: bytes, body: bytes, signature: str) -> bool:
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return expected == signature


print(verify(b"k", b"body", "00"))
