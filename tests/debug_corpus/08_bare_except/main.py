import json


def load_settings(text: str) -> dict:
    try:
        settings = json.loads(text)
    except:
        settings = None
    return settings


def timeout_seconds(text: str) -> int:
    return load_settings(text)["timeout"]


print(timeout_seconds("{'timeout': 5}"))
