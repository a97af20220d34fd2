import hashlib


def hash_password(password: str, salt: str) -> str:
    return hashlib.sha256((salt + password).encode()).hexdigest()


def register(username: str, password: str) -> dict:
    return {"user": username, "hash": hash_password(password)}


print(register("ada", "correct horse"))
