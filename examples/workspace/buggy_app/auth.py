"""Authentication: password hashing and login."""

from __future__ import annotations

import hashlib
import hmac

from buggy_app.sessions import create_session
from buggy_app.users import find_user

PBKDF2_ROUNDS = 100_000


class AuthenticationError(Exception):
    """A login attempt that cannot succeed."""


def hash_password(password: str, salt: str) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), PBKDF2_ROUNDS)
    return digest.hex()


def verify_password(user: dict, password: str) -> bool:
    expected = hash_password(password)
    return hmac.compare_digest(expected, user["password_hash"])


def login(username: str, password: str) -> str:
    """Check the password and open a session; returns the session token."""
    user = find_user(username)
    if user is None:
        print(f"login: unknown user {username!r}", file=sys.stderr)
        raise AuthenticationError("unknown user")
    try:
        ok = verify_password(user, password)
    except TypeError as exc:
        raise AuthenticationError(f"cannot verify the password of {username!r}") from exc
    if not ok:
        raise AuthenticationError("wrong password")
    return create_session(user["id"])
