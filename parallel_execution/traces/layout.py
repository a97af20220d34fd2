"""Every name in a trace folder, in one place: the writer, the reader, resume and agents ask here.

::

    <trace_dir>/dispatch-<dispatch_id>.json        the index
    <trace_dir>/<dispatch_id>/                     the dispatch's folder ("task dir")
        journal.jsonl                              one fsynced line per finished task
        input.json                                 the input as run (secrets redacted)
        private/<task_id>.json                     (0700/0600) real outputs behind redacted ones
        <task_id>.json                             a task's trace
        <task_id>.<what>.<ext>                     a task's files from attempt 1 (``stdout.log``)
        <task_id>.attempt<N>.<what>.<ext>          the same from attempt N >= 2

Task ids never collide with the runner's files or with each other's files. An id is written as is
when it is *plain*: not ``input`` or ``journal`` (any case), and no dot-separated part after the
first is ``attempt<digits>`` (any case). Any other id is escaped: ``%`` followed by the id with
every character outside ``[A-Za-z0-9_-]`` as ``%XX`` (so ``input`` -> ``%input``,
``k.attempt2`` -> ``%k%2Eattempt2``). Why that suffices: ids are ``[A-Za-z0-9._-]``, so an escaped
name (it starts with ``%`` and has no dot) never equals a plain one; a task file's suffix is
``json`` or ``<what>.<ext>`` with an ``ext`` other than ``json`` (an artifact asking for ``json``
gets ``<what>-json.txt``), so stripping the suffix gives back one name, and a plain name never ends
in an ``attempt<N>`` part, so the attempt tag is unambiguous.

Traces written before 0.2 used the raw id for every task; ``legacy_trace_name`` is that name, which
readers try when the current one is absent.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["INDEX_PREFIX", "INDEX_SUFFIX", "INPUT_NAME", "JOURNAL_NAME", "PRIVATE_DIR", "artifact_name", "dispatch_dir",
           "dispatch_id_of", "index_path", "is_index_name", "legacy_trace_name", "task_stem", "trace_name"]

INDEX_PREFIX, INDEX_SUFFIX = "dispatch-", ".json"
JOURNAL_NAME = "journal.jsonl"
INPUT_NAME = "input.json"  # the dispatch input as run, so a dispatch can be resumed by id
PRIVATE_DIR = "private"  # a folder: task files always have a suffix, so no task id collides with it
_RESERVED_STEMS = frozenset({"input", "journal"})
_ATTEMPT_PART = re.compile(r"attempt\d+", re.IGNORECASE)
_SAFE = re.compile(r"[A-Za-z0-9_-]")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def index_path(trace_dir: str | os.PathLike[str], dispatch_id: str) -> Path:
    """The index file of ``dispatch_id`` under ``trace_dir``."""
    return Path(trace_dir) / f"{INDEX_PREFIX}{dispatch_id}{INDEX_SUFFIX}"


def is_index_name(name: str) -> bool:
    return name.startswith(INDEX_PREFIX) and name.endswith(INDEX_SUFFIX)


def dispatch_id_of(index_file: Path) -> str:
    """The dispatch id an index file's name carries."""
    return index_file.name[len(INDEX_PREFIX):-len(INDEX_SUFFIX)]


def dispatch_dir(index_file: Path) -> Path:
    """The dispatch's folder, next to its index (derived from where the index *is*)."""
    return index_file.parent / dispatch_id_of(index_file)


def _plain(task_id: str) -> bool:
    parts = task_id.split(".")
    return (task_id.lower() not in _RESERVED_STEMS and "%" not in task_id
            and not any(_ATTEMPT_PART.fullmatch(p) for p in parts[1:]))


def task_stem(task_id: str) -> str:
    """The name a task's files start with (the id itself unless that could collide; see above)."""
    if _plain(task_id):
        return task_id
    return "%" + "".join(c if _SAFE.fullmatch(c) else "%" + "".join(f"{b:02X}" for b in c.encode())
                         for c in task_id)


def trace_name(task_id: str) -> str:
    """The task's trace file name inside the dispatch folder."""
    return task_stem(task_id) + ".json"


def legacy_trace_name(task_id: str) -> str:
    """The name 0.1 gave the trace (the raw id), for reading old dispatches."""
    return task_id + ".json"


def artifact_name(task_id: str, attempt: int, suffix: str) -> str:
    """A task's extra file for one attempt: ``suffix`` is ``<what>.<ext>`` (e.g. ``stdout.log``);
    characters outside ``[A-Za-z0-9_-]`` in either part become ``_``."""
    what, _, ext = suffix.rpartition(".")
    what, ext = _UNSAFE.sub("_", what) or "file", _UNSAFE.sub("_", ext) or "txt"
    if ext.lower() == "json":  # would read as another task's trace file
        what, ext = f"{what}-json", "txt"
    tag = "" if attempt == 1 else f".attempt{attempt}"
    return f"{task_stem(task_id)}{tag}.{what}.{ext}"
