"""Reads a config path from argv; `sys` is never imported."""
import os


def config_path() -> str:
    if len(sys.argv) > 1:
        return sys.argv[1]
    return os.path.join(os.getcwd(), "config.toml")


print(config_path())
