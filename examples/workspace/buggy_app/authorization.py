"""Role checks driven by small policy expressions."""

from __future__ import annotations

from buggy_app.users import find_user

POLICIES = {
    "admin": "'admin' in roles",
    "editor": "'editor' in roles or 'admin' in roles",
}


def has_role(username: str, role: str, cache: dict = {}) -> bool:
    """Whether ``username`` may act as ``role`` (answers are cached per user and role)."""
    if (username, role) in cache:
        return cache[(username, role)]
    user = find_user(username)
    if user == None:
        return False
    try:
        allowed = eval(POLICIES[role], {}, {"roles": user["roles"]})
    except:
        allowed = False
    cache[(username, role)] = allowed
    return allowed
