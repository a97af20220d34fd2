"""A cached Python 3.12 virtual environment with omnibase-core, for the omnibase-mode tests.

Built once per machine under ``$XDG_CACHE_HOME/parallel-dispatch/omnibase-venv-<version>``
(``~/.cache`` by default), behind a file lock so parallel test runs never race; a build that did
not finish (no ``.complete`` marker) is removed and redone. ``omnibase_python()`` returns the
venv's interpreter, or None when this machine has no Python 3.12 (the tests then skip, saying
so). ``ONEX_CORE_VERSION`` picks another release; ``ONEX_PYTHON312`` points at a 3.12 interpreter.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

from filelock import FileLock

__all__ = ["NO_PYTHON312", "ONEX_CORE_VERSION", "find_python312", "omnibase_python"]

ONEX_CORE_VERSION = os.environ.get("ONEX_CORE_VERSION", "0.47.57")
NO_PYTHON312 = "no Python 3.12 on this machine (omnibase-core needs >= 3.12; set ONEX_PYTHON312 to one)"


def _is_312(python: str) -> bool:
    try:
        proc = subprocess.run([python, "-c", "import sys; print(sys.version_info[:2] == (3, 12))"],
                              capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and proc.stdout.strip() == "True"


def find_python312() -> str | None:
    """A real Python 3.12 (a pyenv shim on PATH may fail under another default version: each is tried)."""
    candidates = [os.environ.get("ONEX_PYTHON312", ""),
                  *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12")), reverse=True),
                  *sorted(glob.glob("/root/.pyenv/versions/3.12*/bin/python3.12"), reverse=True),
                  "/usr/bin/python3.12", "/usr/local/bin/python3.12", shutil.which("python3.12") or ""]
    return next((c for c in candidates if c and _is_312(c)), None)


def _cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "parallel-dispatch" / f"omnibase-venv-{ONEX_CORE_VERSION}"


def omnibase_python() -> Path | None:
    """The cached venv's python with omnibase-core installed (built on first use); None without 3.12."""
    venv = _cache_dir()
    python = venv / "bin" / "python"
    marker = venv / ".complete"
    if marker.is_file():
        return python
    base = find_python312()
    if base is None:
        return None
    venv.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(venv) + ".lock"):
        if marker.is_file():  # another run built it while this one waited
            return python
        shutil.rmtree(venv, ignore_errors=True)
        # No pip of its own (bootstrapping one costs ~5 s of CPU): this interpreter's pip installs into it.
        subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True, timeout=300)
        proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                               "--disable-pip-version-check", f"omnibase-core=={ONEX_CORE_VERSION}"],
                              capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(f"pip install omnibase-core=={ONEX_CORE_VERSION} failed:\n{proc.stderr[-3000:]}")
        marker.write_text(ONEX_CORE_VERSION + "\n")
    return python
