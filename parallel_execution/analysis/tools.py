"""The three analyzers: where each program is, its version, the project's config, its command line.

* **ruff** (the ``ruff`` package's binary): pyflakes, syntax, bugbear, bandit-derived ``S``,
  ``ASYNC`` and a few pycodestyle rules (``catalogue.RUFF_SELECT``). With a project config
  (``ruff.toml``, ``.ruff.toml``, ``[tool.ruff]`` in ``pyproject.toml``, in the workspace root)
  ruff reads it and our selection is *added* (``--extend-select``); without one ruff runs
  ``--isolated`` with our selection, so a config of an enclosing folder (another project) never applies.
* **mypy** (``python -m mypy`` of the runner) with ``--python-executable`` = the project's
  interpreter, so third-party imports resolve against the user's site-packages; the project's
  config (``mypy.ini``, ``.mypy.ini``, ``[tool.mypy]``, ``setup.cfg [mypy]``) is passed explicitly;
  ``--check-untyped-defs`` is added so unannotated code is checked too.
* **bandit** (``python -m bandit``) with ``[tool.bandit]`` or ``.bandit`` when present.

A tool that is not installed is *missing* (:func:`available`); versions come from the installed
distribution's metadata (no process started). Cache folders are per workspace (ruff) and per
import root and interpreter (mypy), under :func:`cache_base`; one mypy at a time uses an incremental
cache (:func:`cache_lock`: concurrent runs sharing one could read each other's half-written files).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

from parallel_execution.analysis.catalogue import RUFF_SELECT

__all__ = ["RUFF_IGNORE", "available", "bandit_argv", "cache_base", "cache_dir", "cache_lock", "mypy_argv",
           "project_config", "ruff_argv", "version"]

RUFF_IGNORE = ("S101",)  # `assert` is a test idiom, not a defect
_CONFIGS: dict[str, tuple[tuple[str, str | None], ...]] = {
    "ruff": (("ruff.toml", None), (".ruff.toml", None), ("pyproject.toml", "[tool.ruff")),
    "mypy": (("mypy.ini", None), (".mypy.ini", None), ("pyproject.toml", "[tool.mypy"), ("setup.cfg", "[mypy")),
    "bandit": ((".bandit", None), ("pyproject.toml", "[tool.bandit")),
}
_DISTRIBUTIONS = {"ruff": "ruff", "mypy": "mypy", "bandit": "bandit"}


def cache_base() -> Path:
    """``$DISPATCH_ANALYSIS_CACHE``, else ``$XDG_CACHE_HOME/parallel-dispatch/analysis`` (``~/.cache``)."""
    explicit = os.environ.get("DISPATCH_ANALYSIS_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "parallel-dispatch" / "analysis"


def cache_dir(kind: str, *key: str) -> Path:
    digest = hashlib.sha256("\0".join(key).encode()).hexdigest()[:20]
    return cache_base() / kind / digest


@contextlib.asynccontextmanager
async def cache_lock(cache: Path, deadline: float) -> AsyncIterator[bool]:
    """Hold ``cache``'s lock file (one mypy at a time per incremental cache, across processes).

    Polls a non-blocking ``flock`` so waiting stays cancellable; yields False (run unlocked) when
    the lock is not free by ``deadline`` or cannot be taken at all."""
    try:
        cache.mkdir(parents=True, exist_ok=True)
        fd = os.open(cache / ".lock", os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError:
        yield False
        return
    try:
        locked = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                locked = True
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                await asyncio.sleep(0.05)
            except OSError:
                break
        yield locked
    finally:
        os.close(fd)  # closing releases the lock


def ruff_binary() -> str | None:
    try:
        from ruff.__main__ import find_ruff_bin

        return str(find_ruff_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("ruff")


def available(tool: str) -> bool:
    if tool == "ruff":
        return ruff_binary() is not None
    return importlib.util.find_spec(tool) is not None


def version(tool: str) -> str | None:
    try:
        return importlib.metadata.version(_DISTRIBUTIONS[tool])
    except importlib.metadata.PackageNotFoundError:
        return None


def project_config(tool: str, root: Path) -> Path | None:
    """The project's own configuration file for ``tool`` in ``root``, if it has one."""
    for name, marker in _CONFIGS[tool]:
        path = root / name
        if not path.is_file():
            continue
        if marker is None:
            return path
        try:
            if marker in path.read_text(encoding="utf-8", errors="replace"):
                return path
        except OSError:
            continue
    return None


def ruff_argv(files: list[str], *, config: Path | None, stdin_name: str | None = None) -> list[str]:
    """ruff without its own cache (``--no-cache``): the engine's result cache covers repeats."""
    binary = ruff_binary() or "ruff"
    # The project's config, or none at all: never one found above the workspace (another project's).
    settings = ["--config", str(config), "--extend-select"] if config else ["--isolated", "--select"]
    argv = [binary, "check", "--output-format", "json", "--no-fix", "--exit-zero", "--no-cache",
            *settings, ",".join(RUFF_SELECT), "--extend-ignore", ",".join(RUFF_IGNORE)]
    if stdin_name is not None:
        return [*argv, "--stdin-filename", stdin_name, "-"]
    return [*argv, "--", *files]


def mypy_argv(files: list[str], *, python: Path, config: Path | None, cache: Path, follow: str,
              explicit_bases: bool = False) -> list[str]:
    """``explicit_bases``: module names relative to ``MYPYPATH`` (scratch copies in per-text packages)."""
    argv = [sys.executable, "-m", "mypy", "-O", "json", "--show-column-numbers", "--show-absolute-path",
            "--no-error-summary", "--hide-error-context", "--no-pretty", "--no-color-output",
            "--check-untyped-defs", "--follow-imports", follow, "--cache-dir", str(cache),
            "--python-executable", str(python)]
    argv += ["--config-file", str(config) if config is not None else ""]  # "": no config from above
    argv += ["--explicit-package-bases"] if explicit_bases else []
    return [*argv, "--", *files]


def bandit_argv(files: list[str], *, config: Path | None) -> list[str]:
    argv = [sys.executable, "-m", "bandit", "-f", "json", "-q"]
    if config is not None:
        argv += ["--ini", str(config)] if config.name == ".bandit" else ["-c", str(config)]
    return [*argv, *files]
