"""The bounded jq worker: ``python -I _jqworker.py MEMORY_BYTES CPU_SECONDS`` (started by ``jqrun``).

It reads one line holding the filter (JSON string), then the input document (JSON text), runs the
filter with jq and writes ``{"values": [...]}`` or ``{"error": "..."}`` as JSON on stdout. Before it
reads anything it limits its own address space (RLIMIT_AS) and CPU time, asks the kernel to kill it if
the runner dies (PR_SET_PDEATHSIG), and lets SIGINT kill it at once: the jq C library cannot be
interrupted otherwise. It imports nothing from the package, so it starts in a few tens of ms.
"""

from __future__ import annotations

import contextlib
import resource
import signal
import sys

__all__: list[str] = []

_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1


def _normalise(value: object) -> object:
    """jq numbers are doubles; the library turns integral ones into ints that JSON writers refuse."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if type(child) is int and not _INT_MIN <= child <= _INT_MAX:
                    item[key] = float(child)
                elif isinstance(child, (dict, list)):
                    stack.append(child)
        elif isinstance(item, list):
            for index, child in enumerate(item):
                if type(child) is int and not _INT_MIN <= child <= _INT_MAX:
                    item[index] = float(child)
                elif isinstance(child, (dict, list)):
                    stack.append(child)
    if type(value) is int and not _INT_MIN <= value <= _INT_MAX:
        return float(value)
    return value


def main() -> int:
    # Imported here: the runner imports this module for ``_normalise`` alone.
    import ctypes
    import json

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the runner
    memory, cpu = int(sys.argv[1]), int(sys.argv[2])
    if memory > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    if cpu > 0:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    import jq

    data = sys.stdin.buffer.read()
    head, _, document = data.partition(b"\n")
    try:
        program = jq.compile(json.loads(head))
        values = [_normalise(v) for v in program.input_text(document.decode("utf-8")).all()]
        text = json.dumps({"values": values}, allow_nan=False)
    except MemoryError:
        sys.stdout.write(json.dumps({"error": "out of memory", "memory": True}))
        return 0
    except (ValueError, RecursionError, OverflowError) as exc:
        message = str(exc).strip().splitlines()
        sys.stdout.write(json.dumps({"error": message[0].rstrip(":") if message else type(exc).__name__}))
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
