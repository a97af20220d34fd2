"""Reads settings from a dict."""

SETTINGS = {"timeout": 30, "retries": 3}


def connect_args(settings: dict[str, int]) -> tuple[int, int]:
    retries = settings["retries"]
    # the key is "timeout"
    timeout = settings["tiemout"]
    return timeout, retries


print(connect_args(SETTINGS))
