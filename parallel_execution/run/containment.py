"""Keep every process a dispatch starts inside the dispatch: none outlives its task or the runner.

A ``command`` task runs in its own process group, and killing that group ends the program and the
children that stayed in it. A child that leaves the group (``setsid``, ``setpgid``, a double fork, a
daemon) used to survive the task. Three layers catch those:

* **a scope per task attempt** (``open_scope``): the program's environment carries a tag
  (``PARALLEL_DISPATCH_SCOPE=<token>``) that its descendants inherit, and where a writable cgroup v2
  is available the program is moved into a cgroup of its own right after it starts (by a helper
  thread: the kernel makes the mover wait milliseconds; the program is not reaped before it is moved). ``Scope.close``
  (after the program ends, times out or is cancelled) kills the group, the cgroup (``cgroup.kill``)
  and every process still carrying the tag, and reaps the ones that became our children;
* **a child subreaper** (``become_subreaper``; the CLI sets it on itself before any task starts):
  orphans of our descendants are re-parented to the runner instead of init, so a double-forked
  daemon stays in our process tree, where the sweep finds it;
* **the exit sweep** (``kill_everything``): when the CLI leaves (normally, or at once on a second
  Ctrl-C) it SIGKILLs every open scope's group and cgroup and every descendant it has.

Not contained: a process that cleared its environment *and* forked before it was moved into the
task's cgroup (it is still killed by the exit sweep when the CLI runs it), work handed to a daemon
outside our tree (``systemd-run``, ``docker run``, ``at``, an ssh session), and anything left behind
by a runner that was itself SIGKILLed (the subreaper dies with it; a cgroup keeps the processes
together, but nothing kills them). The Python API (``dispatch()`` inside someone else's program)
does not set the subreaper or sweep the host's other children: scopes still work.

Process discovery reads ``/proc`` (``stat`` for the parent and state, ``environ`` for the tag);
without ``/proc`` only the process group is killed, as before. A task's sweep looks only at
processes started since its scope opened (``_Mark``: the start time in ``stat``, and without the
subreaper the pids handed out since), so per task it reads a few files, not every process.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import itertools
import os
import secrets
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SCOPE_ENV", "Scope", "become_subreaper", "cgroup_root", "claim_process", "descendants", "is_subreaper",
           "kill_everything", "open_scope", "owns_process", "proc_stat"]

SCOPE_ENV = "PARALLEL_DISPATCH_SCOPE"
_PR_SET_CHILD_SUBREAPER = 36
_PROC = Path("/proc")
_SWEEP_SECONDS = 2.0  # at most this long per sweep (a fork loop needs a few rounds)
_COUNTER = itertools.count(1)

_state: dict[str, object] = {"subreaper": False}
_open: dict[str, Scope] = {}
_cgroup_base: list[Path | None] = []  # [] = not probed yet; [None] = no usable cgroup v2
_movers: dict[str, concurrent.futures.ThreadPoolExecutor | None] = {}  # Scope.adopt(background=True)
_spare_cgroups: list[Path] = []  # empty task cgroups, reused: a mkdir + rmdir less per task
_SPARE_CGROUPS = 8
_RUN_ID: list[str] = []  # one random part per runner: scope tokens need no random bytes each


def become_subreaper() -> bool:
    """Make this process the reaper of its descendants' orphans (Linux); True if it now is."""
    if _state["subreaper"]:
        return True
    import ctypes  # here, not at the top: only a run that starts tasks pays for it

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        ok = libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        ok = False
    _state["subreaper"] = ok
    return ok


def is_subreaper() -> bool:
    return bool(_state["subreaper"])


def claim_process() -> None:
    """The CLI owns this process: nothing changes its working directory and every descriptor it
    opens is close-on-exec (so ``agents.command_spawn`` may start programs with ``posix_spawn``)."""
    _state["owned"] = True


def owns_process() -> bool:
    return bool(_state.get("owned"))


def proc_stat(pid: int | str) -> list[bytes] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state, ppid, pgrp, ...); None if
    the process is gone or there is no ``/proc``. The name may hold spaces and ")": split after the last."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2:].split()
    return fields if len(fields) > 2 else None


def _processes(since: _Mark | None = None) -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state letter) for every process we can see; with ``since``, only for the
    processes started after that mark (the others' ``stat`` is not even read when the pid
    allocator says which pids are new: see ``_Mark``)."""
    table: dict[int, tuple[int, str]] = {}
    try:
        names = os.listdir(_PROC)
    except OSError:
        return table
    window = since.new_pids() if since is not None else None
    for name in names:
        if not name.isdigit():
            continue
        if window is not None:
            pid, (low, high) = int(name), window
            if not (low < pid <= high if low <= high else pid > low or pid <= high):
                continue
        fields = proc_stat(name)
        if fields is not None and (since is None or not since.older(fields)):
            table[int(name)] = (int(fields[1]), fields[0].decode())
    return table


@dataclass(frozen=True, slots=True)
class _Mark:
    """Where the clock (and, without the subreaper, the pid allocator) stood when a scope
    opened. Every process of the scope started after it, so a sweep for the scope can pass over
    older processes: an older process cannot carry the scope's fresh tag, is not in its cgroup
    (only the scope's program is moved in), and no orphan of the scope is re-parented below one
    (orphans go to a subreaper among their ancestors: us). Per task this spares reading the
    runner's long-lived helpers (the trace-file worker) and, in ``dispatch()`` from Python where
    every process on the machine is a candidate, two reads per process."""

    ticks: int  # the clock in clock ticks, as /proc/<pid>/stat counts a start time
    last_pid: int = -1  # the pid last handed out (-1: not taken)
    forks: int = -1  # processes and threads created since boot

    def older(self, fields: list[bytes]) -> bool:
        """Whether the process of these ``proc_stat`` fields started before the mark (a tick's margin)."""
        return len(fields) > 19 and int(fields[19]) < self.ticks - 1

    def new_pids(self) -> tuple[int, int] | None:
        """(low, high): every process started since the mark has a pid in the cyclic range (low, high];
        None if unknown, or if so many tasks were created since that the allocator may have come
        round again (it hands out pids in a cycle; each new task moves it on by one plus the pids
        in use that it skips, so it cannot pass ``low`` again with fewer than that)."""
        now = _allocator() if self.last_pid >= 0 else None
        if now is None:
            return None
        last, forks, tasks = now
        if forks - self.forks + tasks + 1000 >= _pid_max() - 300:  # 300: pids below it are never reused
            return None
        return self.last_pid, last


def _mark(allocator: bool) -> _Mark:
    # Start times count from boot (kernels since 3.17: CLOCK_BOOTTIME, before: CLOCK_MONOTONIC).
    # The monotonic clock is never ahead of either, so nothing new can look older than the mark.
    ticks = int(time.monotonic() * _clock_ticks())
    now = _allocator() if allocator else None
    return _Mark(ticks, now[0], now[1]) if now is not None else _Mark(ticks)


def _allocator() -> tuple[int, int, int] | None:
    """(last pid handed out, tasks created since boot, tasks now) from /proc, or None (also where
    /proc shows another pid namespace than ours: its pids are not the ones the allocator counts)."""
    if not _state.setdefault("own_proc", _proc_is_ours()):
        return None
    try:
        with open("/proc/loadavg", "rb") as handle:
            load = handle.read().split()
        with open("/proc/stat", "rb") as handle:
            stat = handle.read()
        at = stat.index(b"\nprocesses ") + 11
        return int(load[4]), int(stat[at:stat.index(b"\n", at)]), int(load[3].split(b"/")[1])
    except (OSError, ValueError, IndexError):
        return None


def _proc_is_ours() -> bool:
    try:
        return int(os.readlink("/proc/self")) == os.getpid()
    except (OSError, ValueError):
        return False


def _pid_max() -> int:
    if "pid_max" not in _state:
        try:
            with open("/proc/sys/kernel/pid_max", "rb") as handle:
                _state["pid_max"] = int(handle.read())
        except (OSError, ValueError):
            _state["pid_max"] = 0  # unknown: new_pids never narrows the scan
    return int(_state["pid_max"])  # type: ignore[call-overload]


def _clock_ticks() -> int:
    if "ticks" not in _state:
        _state["ticks"] = os.sysconf("SC_CLK_TCK")
    return int(_state["ticks"])  # type: ignore[call-overload]


def _subtree(root: int, root_threads: list[int] | None = None, skip: set[int] | frozenset[int] = frozenset(),
             since: _Mark | None = None) -> dict[int, tuple[int, str]] | None:
    """pid -> (parent pid, state letter) for ``root``'s descendants only, found through the kernel's
    ``/proc/<pid>/task/<tid>/children`` lists: a few reads for a runner's few children, where
    ``_processes`` reads every process on the machine. None where the kernel has no such lists.

    ``root_threads``: only the children of these threads of ``root`` (every thread of the processes
    below it is read). ``skip``: children of ``root`` left out with everything below them; so are
    children of ``root`` started before ``since``."""
    if not _state.setdefault("children_lists", os.path.exists(f"/proc/self/task/{os.getpid()}/children")):
        return None
    table: dict[int, tuple[int, str]] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        try:
            threads = [str(t) for t in root_threads] if parent == root and root_threads else \
                os.listdir(f"/proc/{parent}/task")
        except OSError:  # exited meanwhile
            continue
        for tid in threads:
            try:
                with open(f"/proc/{parent}/task/{tid}/children", "rb") as handle:
                    children = handle.read().split()
            except OSError:
                continue
            for raw in children:
                pid = int(raw)
                if parent == root and pid in skip:
                    continue
                if (fields := proc_stat(pid)) is None or (parent == root and since and since.older(fields)):
                    continue
                table[pid] = (parent, fields[0].decode())
                frontier.append(pid)
    return table


def _candidates(scope: Scope | None = None) -> dict[int, tuple[int, str]]:
    """The process table a sweep needs: our descendants as subreaper (everything else is not ours), else all.

    ``scope``: only what a task's program can have left: its processes are children of the thread
    that started it (this one, the event loop's), and orphans are re-parented to our main thread
    (the kernel picks the reaper's first live thread). What other threads of ours started (tools
    run by thread pools) never carries a scope's tag, so those lists are not read per task; nor are
    the trees of the other tasks' programs still running (an orphan goes to a subreaper among its
    own ancestors, and no other task's program is one of those); nor processes older than the
    scope (``_Mark``).
    """
    if is_subreaper():
        me = os.getpid()
        if scope is not None:
            running = {pid for other in _open.values() for pid in other.pgids}
            table = _subtree(me, sorted({me, threading.get_native_id()}), running, scope.mark)
        else:
            table = _subtree(me)
        if table is not None:
            return table
    return _processes(scope.mark if scope is not None else None)


def descendants(root: int | None = None, table: dict[int, tuple[int, str]] | None = None) -> list[int]:
    """Every live (non-zombie) descendant of ``root`` (default: this process), parents first."""
    table = _processes() if table is None else table
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, frontier = [], [os.getpid() if root is None else root]
    while frontier:
        pid = frontier.pop()
        for child in children.get(pid, ()):
            if table[child][1] != "Z":
                out.append(child)
            frontier.append(child)
    return out


def _has_tag(pid: int, needle: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return needle in b"\0" + handle.read()
    except OSError:
        return False


def cgroup_root() -> Path | None:
    """This runner's own cgroup v2 folder for task cgroups, created on first use; None if unusable."""
    if not _cgroup_base:
        _cgroup_base.append(_make_cgroup_base())
    return _cgroup_base[0]


def _make_cgroup_base() -> Path | None:
    try:
        mount = next((line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
                      if " - cgroup2 " in line), None)
        own = next((line[3:] for line in Path("/proc/self/cgroup").read_text().splitlines()
                    if line.startswith("0::")), None)
    except OSError:
        return None
    if mount is None or own is None:
        return None
    base = Path(mount) / own.lstrip("/") / f"parallel-dispatch-{os.getpid()}"
    try:
        base.mkdir(exist_ok=True)
    except OSError:
        return None
    if not (base / "cgroup.procs").exists():
        return None
    atexit.register(_remove_cgroup_base)
    return base


@dataclass(slots=True)
class Scope:
    """The processes of one task attempt: its group, its cgroup (if any) and its tag."""

    token: str
    pgids: set[int] = field(default_factory=set)
    cgroup: Path | None = None
    moving: concurrent.futures.Future[Path | None] | None = None  # the move into the cgroup, under way
    mark: _Mark | None = None  # when it opened: its sweeps pass over older processes

    def env(self) -> dict[str, str]:
        """Add this to the program's environment so its descendants can be found."""
        return {SCOPE_ENV: self.token}

    def adopt(self, pid: int, *, background: bool = False) -> None:
        """The program started as ``pid`` (a group leader): track its group, move it into the cgroup.

        ``background``: the move runs on a helper thread (``moving``): writing ``cgroup.procs`` waits
        for the kernel (an RCU grace period, 1-4 ms) while using ~0.2 ms of CPU, and the event loop
        need not wait with it. The caller must not reap ``pid`` before ``moving`` is done (a reaped pid
        can be reused: the move would take a stranger), as ``command_spawn.Child.hold_reaping`` does.
        """
        self.pgids.add(pid)
        base = cgroup_root()
        if base is None:
            return
        folder = _spare_cgroups.pop() if _spare_cgroups else base / self.token
        if background:
            self.moving = _mover().submit(_move_into, folder, pid)
        else:
            self.cgroup = _move_into(folder, pid)

    def settle(self, timeout: float = _SWEEP_SECONDS) -> None:
        """Wait for a background move to end (at once in the usual case: reaping waited for it)."""
        if self.moving is not None:
            with contextlib.suppress(concurrent.futures.TimeoutError):
                self.cgroup = self.moving.result(timeout)
                self.moving = None

    def kill_now(self) -> None:
        """SIGKILL the groups and the cgroup without waiting (a second Ctrl-C)."""
        self.settle()
        for pgid in self.pgids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        if self.cgroup is not None:
            _cgroup_kill(self.cgroup)

    def close(self, spawned: int | None = None) -> int:
        """Kill whatever of this scope is still alive and reap it; return how many were found.

        ``spawned`` is the program itself, reaped by whoever started it, never here.
        """
        _open.pop(self.token, None)
        self.settle()
        # An empty cgroup stays empty (nothing in it can fork): then only groups and the tag are left
        # to look at, the usual case, which spares two cgroup reads and a kill per task.
        populated = self.cgroup is not None and _populated(self.cgroup)
        members = _cgroup_pids(self.cgroup) - {spawned} if populated and self.cgroup is not None else set()
        for pgid in self.pgids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        if populated and self.cgroup is not None:
            _cgroup_kill(self.cgroup)
        needle = f"\0{SCOPE_ENV}={self.token}\0".encode()
        found = _sweep(lambda pid, table: _has_tag(pid, needle) or (populated and self._in_cgroup(pid)), spawned,
                       members, scope=self)
        if self.cgroup is not None:
            deadline = time.monotonic() + _SWEEP_SECONDS
            while populated and _populated(self.cgroup) and time.monotonic() < deadline:
                _cgroup_kill(self.cgroup)
                time.sleep(0.005)
            if populated:
                with contextlib.suppress(OSError):
                    self.cgroup.rmdir()
            else:
                _spare(self.cgroup)  # empty, and nothing but us moves processes in
            self.cgroup = None
        return found

    def _in_cgroup(self, pid: int) -> bool:
        return self.cgroup is not None and pid in _cgroup_pids(self.cgroup)


def _move_into(folder: Path, pid: int) -> Path | None:
    if _has_exited(pid):  # an ended program forks no more: moving it would only wait for the kernel
        _spare(folder)
        return None
    try:
        with contextlib.suppress(FileExistsError):  # a spare one
            os.mkdir(folder)
        _write(folder, "cgroup.procs", b"%d" % pid)
        return folder
    except OSError:  # no permission after all, or the process is already gone
        with contextlib.suppress(OSError):
            folder.rmdir()
        return None


def _spare(folder: Path) -> None:
    """Keep an empty task cgroup (or its unused name) for the next task; list operations are atomic,
    so mover threads may call this too."""
    if len(_spare_cgroups) < _SPARE_CGROUPS:
        _spare_cgroups.append(folder)
    else:
        with contextlib.suppress(OSError):
            folder.rmdir()


def _has_exited(pid: int) -> bool:
    """Whether our child ``pid`` has ended; it stays unreaped (``WNOWAIT``: its pid cannot be reused)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # reaped already (or not our child): nothing to move either way
        return True
    except OSError:
        return False


def _mover() -> concurrent.futures.ThreadPoolExecutor:
    pool = _movers.get("pool")
    if pool is None:
        pool = _movers["pool"] = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="cgroup-move")
    return pool


def open_scope(label: str = "task") -> Scope:
    """A new scope; close it when the task's program has ended (``try/finally``)."""
    safe = "".join(c if c.isalnum() else "-" for c in label)[:40]
    if not _RUN_ID:
        _RUN_ID.append(secrets.token_hex(3))
    # The allocator's state is only needed where sweeps read every process (no subreaper).
    scope = Scope(f"{safe}-{os.getpid()}-{next(_COUNTER)}-{_RUN_ID[0]}", mark=_mark(allocator=not is_subreaper()))
    _open[scope.token] = scope
    return scope


def kill_everything() -> int:
    """SIGKILL every open scope and, if we are the subreaper (the CLI), every descendant; reap them.

    Quick (no grace period): for the CLI's exit, including the immediate exit on a second Ctrl-C.
    """
    scopes = list(_open.values())
    for scope in scopes:
        scope.kill_now()
    found = _sweep(lambda pid, table: True, None) if is_subreaper() else 0
    for scope in scopes:
        if scope.cgroup is not None:
            with contextlib.suppress(OSError):
                scope.cgroup.rmdir()
    _remove_cgroup_base()
    return found


def _remove_cgroup_base() -> None:
    while _spare_cgroups:
        with contextlib.suppress(OSError):
            _spare_cgroups.pop().rmdir()
    if _cgroup_base and _cgroup_base[0] is not None:
        with contextlib.suppress(OSError):
            _cgroup_base[0].rmdir()  # only once empty: a scope still open keeps it


def _sweep(matches: object, spawned: int | None, killed_already: set[int] | None = None,
           scope: Scope | None = None) -> int:
    """Kill matching processes (candidates: our descendants as subreaper, else all we can see) in
    rounds until none is left or time is up; reap the ones that are our children."""
    me, killed = os.getpid(), set(killed_already or ())
    deadline = time.monotonic() + _SWEEP_SECONDS
    while True:
        table = _candidates(scope)
        pool = descendants(me, table) if is_subreaper() else [p for p, (_, s) in table.items() if s != "Z" and p != me]
        targets = [pid for pid in pool if matches(pid, table)]  # type: ignore[operator]
        for pid in targets:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        killed.update(targets)
        _reap(killed - {spawned}, table, me)
        if not targets or time.monotonic() > deadline:
            break
        time.sleep(0.002)
    # Killed orphans become our zombies a moment after they die: reap them (never ``spawned``).
    while killed - {spawned} and time.monotonic() < deadline and _reap(killed - {spawned}, _candidates(scope), me):
        time.sleep(0.002)
    return len(killed)


def _reap(pids: set[int], table: dict[int, tuple[int, str]], me: int) -> bool:
    """waitpid the given pids that are our children; True while some of them are still alive."""
    pending = False
    for pid in pids:
        entry = table.get(pid)
        if entry is None:
            continue
        if entry[0] == me:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                continue
            pending = pending or done == 0
        elif entry[1] != "Z":
            pending = True  # still dying under a parent that is dying too
    return pending


def _cgroup_pids(folder: Path) -> set[int]:
    try:
        return {int(x) for x in _read(folder, "cgroup.procs").split()}
    except (OSError, ValueError):
        return set()


def _cgroup_kill(folder: Path) -> None:
    try:
        _write(folder, "cgroup.kill", b"1")
    except OSError:  # kernels before 5.14: kill the members one by one
        for pid in _cgroup_pids(folder):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def _populated(folder: Path) -> bool:
    try:
        return b"populated 1" in _read(folder, "cgroup.events")
    except OSError:
        return False


# cgroup files through plain os calls: pathlib's text files cost 4x the CPU (30 µs a read), per task.
def _read(folder: Path, name: str) -> bytes:
    fd = os.open(f"{folder}/{name}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = [os.read(fd, 1 << 16)]
        while chunks[-1]:  # cgroup.procs of a fork bomb can be longer than one read
            chunks.append(os.read(fd, 1 << 16))
        return b"".join(chunks)
    finally:
        os.close(fd)


def _write(folder: Path, name: str, data: bytes) -> None:
    fd = os.open(f"{folder}/{name}", os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
