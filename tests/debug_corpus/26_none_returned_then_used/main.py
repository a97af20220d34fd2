"""Looks a user up; the lookup returns None when the user is unknown."""
from typing import Optional

USERS = {"ada": {"email": "ada@example.com"}}


def find_user(name: str) -> Optional[dict[str, str]]:
    if name in USERS:
        return USERS[name]
    return None


def email_of(name: str) -> str:
    return find_user(name)["email"]


print(email_of("bob"))
