"""``python -m parallel_execution``: the same as ``dispatch-runner``."""

from parallel_execution.launch import entrypoint

if __name__ == "__main__":
    entrypoint()
