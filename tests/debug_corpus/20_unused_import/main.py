import os
import sys


def greet(name: str) -> str:
    return f"hello {name}"


print(greet(os.getenv("USER", "you")))
