"""Builds a status line."""


def status(count: int) -> str:
    prefix = "items: "
    return prefix + count


print(status(3))
