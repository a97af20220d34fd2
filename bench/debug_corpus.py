"""Measure the debug agent on bugs seeded one at a time into a real third-party library.

    python bench/debug_corpus.py [--package itsdangerous==2.2.0] [--cache bench/.cache] [--repeat 3]

The wheel is fetched with ``pip download`` into the cache folder (once) and unpacked. Each
mutation below edits one line of the pristine library in a fresh copy; the agent analyses the
mutated file without a traceback at every depth, and we record whether a finding lands on the
seeded line. The pristine library is analysed too: findings the agent reports there are compared
with what the raw tools (ruff's and mypy's default rules) report on the same files. Timings are
per task with a warm cache (median of ``--repeat`` runs). Prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from parallel_execution.agents.debug.agent import analyse  # noqa: E402
from parallel_execution.paths import WorkspacePolicy  # noqa: E402

Mutation = tuple[str, str, Callable[[list[str]], tuple[int, str] | None]]


def _first(lines: list[str], pattern: str, edit: Callable[[str], str]) -> tuple[int, str] | None:
    for number, text in enumerate(lines, 1):
        if re.search(pattern, text) and not text.lstrip().startswith("#"):
            new = edit(text)
            if new != text:
                return number, new
    return None


MUTATIONS: list[Mutation] = [
    ("attribute-typo", "signer.py", lambda ls: _first(ls, r"self\.key_derivation\b", lambda t: t.replace(
        "self.key_derivation", "self.key_derivaton", 1))),
    ("attribute-typo", "serializer.py", lambda ls: _first(ls, r"return self\.serializer\.", lambda t: t.replace(
        "self.serializer", "self.serialiser", 1))),
    ("undefined-name", "encoding.py", lambda ls: _first(ls, r"return base64\.urlsafe_b64encode", lambda t: t.replace(
        "string", "strng", 1))),
    ("missing-import", "timed.py", lambda ls: _first(ls, r"^import time$", lambda t: "")),
    ("missing-import", "encoding.py", lambda ls: _first(ls, r"^import base64$", lambda t: "")),
    ("call-arity", "signer.py", lambda ls: _first(ls, r"self\.get_signature\(value\)", lambda t: t.replace(
        "self.get_signature(value)", "self.get_signature()", 1))),
    ("none-then-used", "signer.py", lambda ls: _first(ls, r"^\s+return base64_decode\(sig\)", lambda t: t.replace(
        "return base64_decode(sig)", "return None", 1))),
    ("str-plus-int", "timed.py", lambda ls: _first(ls, r"return int_to_bytes\(int\(self\.get_timestamp\(\)\)\)",
                                                   lambda t: t.replace("int_to_bytes(int(self.get_timestamp()))",
                                                                       "\"ts\" + int(self.get_timestamp())", 1))),
    ("non-constant-time-compare", "signer.py", lambda ls: _first(ls, r"hmac\.compare_digest\(", lambda t: re.sub(
        r"hmac\.compare_digest\((\w+), (\w+)\)", r"\1 == \2", t, count=1))),
    ("weak-hash", "signer.py", lambda ls: _first(ls, r"hashlib\.sha1", lambda t: t.replace(
        "hashlib.sha1", "hashlib.md5", 1))),
    ("swallowed-exception", "serializer.py", lambda ls: _first(ls, r"^\s+raise BadPayload\(", lambda t: re.sub(
        r"raise BadPayload\(.*", "pass", t))),
    ("unsafe-deserialisation", "serializer.py", lambda ls: _first(ls, r"return self\.serializer\.loads\(payload\)",
                                                                  lambda t: t.replace("self.serializer.loads(payload)",
                                                                                      "__import__('pickle').loads(payload)", 1))),
    ("off-by-one (control)", "encoding.py", lambda ls: _first(ls, r"len\(", lambda t: t.replace(
        "len(", "1 + len(", 1))),
]


def fetch(package: str, cache: Path) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    name = package.split("==")[0]
    wheels = sorted(cache.glob(f"{name}-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", package, "--no-deps", "--only-binary", ":all:",
                        "-q", "-d", str(cache)], check=True)
        wheels = sorted(cache.glob(f"{name}-*.whl"))
    target = cache / wheels[-1].stem
    if not target.exists():
        with zipfile.ZipFile(wheels[-1]) as archive:
            archive.extractall(target)
    return target / name


def run(workspace: Path, files: list[str], depth: str) -> tuple[dict, float]:
    started = time.perf_counter()
    out = asyncio.run(analyse("find defects", files, [], depth, None, WorkspacePolicy.create(workspace))).to_json()  # type: ignore[arg-type]
    return out, time.perf_counter() - started


def raw_tool_counts(workspace: Path, files: list[str]) -> dict[str, int]:
    ruff = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--output-format", "json",
                           "--exit-zero", *files], cwd=workspace, capture_output=True, text=True)
    mypy = subprocess.run([sys.executable, "-m", "mypy", "-O", "json", "--no-error-summary", "--config-file", "",
                           *files], cwd=workspace, capture_output=True, text=True)
    return {"ruff (default rules)": len(json.loads(ruff.stdout or "[]")),
            "mypy (default)": sum(1 for line in mypy.stdout.splitlines() if '"severity": "error"' in line)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--package", default="itsdangerous==2.2.0")
    parser.add_argument("--cache", default=str(Path(__file__).parent / ".cache"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    pristine = fetch(args.package, Path(args.cache))
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch) / "pristine"
        shutil.copytree(pristine.parent, base, ignore=shutil.ignore_patterns("*.dist-info"))
        pkg = base / pristine.name
        files = sorted(str(p.relative_to(base)) for p in pkg.glob("*.py"))
        alarms = {d: len(run(base, files, d)[0]["findings"]) for d in ("quick", "standard", "deep")}
        raw = raw_tool_counts(base, files)
        for kind, file, mutate in MUTATIONS:
            workspace = Path(scratch) / f"m{len(rows)}"
            shutil.copytree(base, workspace)
            target = workspace / pristine.name / file
            lines = target.read_text().splitlines()
            seeded = mutate(lines)
            if seeded is None:
                rows.append({"class": kind, "file": file, "seeded": False})
                continue
            line, new = seeded
            lines[line - 1] = new
            target.write_text("\n".join(lines) + "\n")
            row: dict = {"class": kind, "file": file, "line": line, "code": new.strip()[:80]}
            for depth in ("quick", "standard", "deep"):
                run(workspace, [str(target.relative_to(workspace))], depth)  # warm the caches
                times = []
                for _ in range(args.repeat):
                    out, seconds = run(workspace, [str(target.relative_to(workspace))], depth)
                    times.append(seconds)
                near = [f for f in out["findings"] if f["file"] == str(target) and abs(f["line"] - line) <= 0]
                row[depth] = {"hit": bool(near), "by": sorted({f"{f['tool']}:{f['code']}" for f in near}),
                              "median_s": round(statistics.median(times), 3)}
            rows.append(row)
    print(json.dumps({"package": args.package, "mutations": rows, "pristine_findings": alarms,
                      "pristine_raw_tools": raw}, indent=1))


if __name__ == "__main__":
    main()
