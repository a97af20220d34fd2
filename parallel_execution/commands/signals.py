"""SIGINT / SIGTERM while the CLI runs a dispatch, and while it prints the result.

One handler, installed before the event loop starts and kept until the result is out:

* **running**, first signal: the dispatch is asked to stop (``on_first`` on the loop): running tasks
  are cancelled, their process groups killed, results and traces still written; the exit code
  becomes 130 / 143;
* **running**, second signal: leave at once, but first SIGKILL every process group and cgroup the
  run started and (as the CLI is their subreaper) every descendant (``containment.kill_everything``).
  The handler does this itself, in the main thread, so it works even while the loop is busy;
* **printing**: once the result starts going to stdout it is finished; a signal then is only
  recorded, so stdout always holds one complete JSON document.

A plain ``signal.signal`` handler rather than ``loop.add_signal_handler``: the latter is removed
(reset to the default, which raises ``KeyboardInterrupt``) when the loop closes, leaving a gap
between the run's end and the print in which a signal lost the result.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any, TypeVar

__all__ = ["SIGNAL_EXIT", "RunSignals"]

T = TypeVar("T")
SIGNAL_EXIT: dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 143}


class RunSignals:
    """``with RunSignals(on_first) as guard: result = run_sync(guard.running(coro)); guard.printing()``."""

    def __init__(self, on_first: Callable[[int], None]) -> None:
        self.on_first = on_first
        self.received: list[int] = []  # signals that arrived while the dispatch ran
        self.late: list[int] = []  # signals that arrived after it ended (not acted on)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._phase = "starting"
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> RunSignals:
        # Imported here, not in the handler (no import inside a signal handler) nor at the top
        # (``validate`` imports this module and never runs a dispatch).
        from parallel_execution.run import containment

        self._kill_everything = containment.kill_everything
        for signum in SIGNAL_EXIT:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)

    async def running(self, awaitable: Awaitable[T]) -> T:
        """Await the dispatch with signals routed to it."""
        self._loop = asyncio.get_running_loop()
        self._phase = "running"
        if self.received:  # arrived before the loop ran
            self.on_first(self.received[0])
        try:
            return await awaitable
        finally:
            self._phase = "ended"

    def printing(self) -> None:
        """From now on a signal is only recorded: the result is being printed."""
        self._phase = "printing"

    @property
    def exit_code(self) -> int | None:
        return SIGNAL_EXIT[self.received[0]] if self.received else None

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self._phase in ("ended", "printing"):
            self.late.append(signum)
            return
        if self.received:  # second signal: leave now; the journal is only written between steps
            self._kill_everything()
            os._exit(SIGNAL_EXIT.get(signum, 130))
        self.received.append(signum)
        # os.write, not print: the handler may interrupt a write to sys.stderr (a reentrant call).
        os.write(2, f"dispatch-runner: {signal.Signals(signum).name}, cancelling (again to exit at once)\n".encode())
        if self._loop is not None and self._phase == "running":
            self._loop.call_soon_threadsafe(self.on_first, signum)
