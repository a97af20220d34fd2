"""In-memory user store."""

from __future__ import annotations

_USERS: dict[str, dict] = {
    "ada": {
        "id": 1,
        "salt": "9f1c2e",
        "password_hash": "739040dc34fb239092a97b0b4db45e04412211818e76905d41dc66fb2d3cb1ff",
        "roles": ["admin"],
    },
    "grace": {"id": 2, "salt": "77ab01", "password_hash": "", "roles": ["editor"]},
}


def find_user(username: str) -> dict | None:
    """The user record, or None when the name is unknown."""
    return _USERS.get(username)
