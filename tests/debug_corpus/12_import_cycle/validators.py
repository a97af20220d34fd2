from models import User


def validate_email(email: str) -> str:
    if "@" not in email:
        raise ValueError(email)
    return email


def make_user(email: str) -> User:
    return User(email)
