"""Measure the debug agent on bugs seeded one at a time into a real third-party library.

    python bench/debug_corpus.py [--package itsdangerous==2.2.0] [--cache bench/.cache] [--repeat 3]

The wheel is fetched with ``pip download`` into the cache folder (once) and unpacked. Each
mutation below edits one line of the pristine library in a fresh copy; the agent analyses the
mutated file without a traceback at every depth, and we record whether a finding lands on the
seeded line. The pristine library is analysed too: findings the agent reports there are compared
with what the raw tools (ruff's and mypy's default rules) report on the same files. Timings are
per task: the first run in a fresh copy (``first_s``), after a one-line edit (``after_edit_s``: the result
cache misses, mypy's incremental cache is warm), and with a warm cache (``median_s``, median of
``--repeat`` runs). Bugs that raise under a small driver script are analysed again with their real
traceback and the package folder as ``affected_files``: ``traceback_top1`` says whether the root
cause is the seeded line. Prints Markdown tables (per bug class, timings, pristine findings);
``--json FILE`` keeps every case.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from parallel_execution.agents.debug.agent import analyse
from parallel_execution.inputs.paths import WorkspacePolicy

# (class, file, [(exact text of the line to edit, its replacement)], expected lines (None: the first edit's line))
Mutation = tuple[str, str, list[tuple[str, str]], list[str] | None]

MUTATIONS: list[Mutation] = [
    ("attribute-typo", "signer.py", [('if self.key_derivation == "concat":', 'if self.key_derivaton == "concat":')],
     None),
    ("attribute-typo", "timed.py", [("timestamp = base64_encode(int_to_bytes(self.get_timestamp()))",
                                     "timestamp = base64_encode(int_to_bytes(self.get_timestmp()))")], None),
    ("undefined-name", "encoding.py", [('return base64.urlsafe_b64encode(string).rstrip(b"=")',
                                        'return base64.urlsafe_b64encode(strng).rstrip(b"=")')], None),
    ("missing-import", "timed.py", [("import time", "")], ["return int(time.time())"]),
    ("missing-import", "encoding.py", [("import base64", "")], ["base64.urlsafe_b64encode", "base64.urlsafe_b64decode"]),
    ("call-arity", "signer.py", [("sig = self.algorithm.get_signature(key, value)",
                                  "sig = self.algorithm.get_signature(key)")], None),
    ("call-arity", "timed.py", [("ts_int = bytes_to_int(base64_decode(ts_bytes))",
                                 "ts_int = bytes_to_int(base64_decode(ts_bytes), 8)")], None),
    ("none-then-used", "signer.py", [("return base64_encode(sig)", "return base64_encode(sig) if sig else None")], None),
    ("str-plus-int", "timed.py", [("timestamp = base64_encode(int_to_bytes(self.get_timestamp()))",
                                   'timestamp = base64_encode("ts" + self.get_timestamp())')], None),
    ("non-constant-time-compare", "signer.py", [("return hmac.compare_digest(sig, self.get_signature(key, value))",
                                                 "return sig == self.get_signature(key, value)")], None),
    ("weak-hash", "signer.py", [("return hashlib.sha1(string)", "return hashlib.md5(string)")], None),
    ("swallowed-exception", "serializer.py", [("raise BadPayload(", "pass"), ('"Could not load the payload', ""),
                                              ('" occurred on unserializing', ""), ("original_error=e,", ""),
                                              (") from e", "")], ["@-1"]),
    ("unsafe-deserialisation", "serializer.py", [("import json", "import json, pickle"),
                                                 ("return use_serializer.loads(payload)  # type: ignore[arg-type]",
                                                  "return pickle.loads(payload)")], ["return pickle.loads(payload)"]),
    ("hard-coded-secret", "serializer.py", [("from .encoding import want_bytes",
                                             'from .encoding import want_bytes; DEFAULT_SECRET_KEY = "prod-7f3a9c2e"')],
     None),
    ("off-by-one (control)", "encoding.py", [('string += b"=" * (-len(string) % 4)',
                                              'string += b"=" * (-len(string) % 3)')], None),
]
AIOFILES: list[Mutation] = [
    ("missing-await", "tempfile/temptypes.py", [("        await self._check()", "        self._check()")], None),
    ("missing-await", "threadpool/__init__.py", [("f = await loop.run_in_executor(executor, cb)",
                                                  "f = loop.run_in_executor(executor, cb)")], None),
    ("attribute-typo", "tempfile/temptypes.py", [("        if self._file._rolled:", "        if self._file._roled:")],
     None),
    ("undefined-name", "threadpool/__init__.py", [("f = await loop.run_in_executor(executor, cb)",
                                                   "f = await loop.run_in_executor(exector, cb)")], None),
    ("call-arity", "threadpool/__init__.py", [("return wrap(f, loop=loop, executor=executor)",
                                               "return wrap(loop=loop, executor=executor)")], None),
    ("off-by-one (control)", "tempfile/temptypes.py", [("if max_size and self._file.tell() > max_size:",
                                                        "if max_size and self._file.tell() > max_size + 1:")], None),
]
AIOFILES_DRIVER = """
import asyncio, os, tempfile
import aiofiles, aiofiles.tempfile

async def main():
    d = tempfile.mkdtemp()
    async with aiofiles.open(os.path.join(d, "f.txt"), "w") as f:
        await f.write("hello")
    async with aiofiles.open(os.path.join(d, "f.txt")) as f:
        assert await f.read() == "hello"
    async with aiofiles.tempfile.SpooledTemporaryFile(max_size=4) as f:
        await f.write(b"0123456789")
        assert f._file._rolled, "rolled over to disk"

asyncio.run(main())
"""
DRIVER = """
import itsdangerous as d
s = d.URLSafeTimedSerializer("secret-key", salt="x")
assert s.loads(s.dumps({"user": 1}), max_age=60) == {"user": 1}
sg = d.Signer("k")
assert sg.unsign(sg.sign(b"v")) == b"v"
ts = d.TimestampSigner("k")
assert ts.unsign(ts.sign(b"value"), max_age=60) == b"value"
"""
STATIC = {"missing-await", "attribute-typo", "undefined-name", "missing-import", "call-arity", "none-then-used", "str-plus-int",
          "non-constant-time-compare", "weak-hash", "swallowed-exception", "unsafe-deserialisation",
          "hard-coded-secret"}


def seed(lines: list[str], edits: list[tuple[str, str]], expected: list[str] | None) -> set[int] | None:
    """Apply the edits (each to the first line that contains its text); the lines a finding should be on."""
    first: int | None = None
    for old, new in edits:
        number = next((i for i, text in enumerate(lines) if old in text and not text.lstrip().startswith("#")), None)
        if number is None:
            return None
        indent = lines[number][: len(lines[number]) - len(lines[number].lstrip())]
        lines[number] = lines[number].replace(old, new, 1) if new else ""
        if new and lines[number].strip() == new.strip():
            lines[number] = indent + new.strip()
        first = number + 1 if first is None else first
    if expected is None or expected == ["@-1"]:  # the first edit's line (and the one above it)
        return ({first, first - 1} if expected else {first}) if first else None
    return {i + 1 for i, text in enumerate(lines) for want in expected if want in text}


def fetch(package: str, cache: Path) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    name = package.split("==")[0].replace("-", "_")
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


async def _timed(workspace: Path, files: list[str], trace: str) -> tuple[dict, float]:
    started = time.perf_counter()
    out = (await analyse("the test suite fails", files, [trace], "standard", None,
                         WorkspacePolicy.create(workspace))).to_json()
    return out, time.perf_counter() - started


def raw_tool_counts(workspace: Path, files: list[str]) -> dict[str, int]:
    ruff = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--output-format", "json",
                           "--exit-zero", *files], cwd=workspace, capture_output=True, text=True)
    mypy = subprocess.run([sys.executable, "-m", "mypy", "-O", "json", "--no-error-summary", "--config-file", "",
                           *files], cwd=workspace, capture_output=True, text=True)
    untyped = subprocess.run([sys.executable, "-m", "mypy", "-O", "json", "--no-error-summary", "--config-file", "",
                              "--check-untyped-defs", *files], cwd=workspace, capture_output=True, text=True)
    return {"ruff (default rules)": len(json.loads(ruff.stdout or "[]")),
            "mypy (default)": sum(1 for line in mypy.stdout.splitlines() if '"severity": "error"' in line),
            "mypy --check-untyped-defs": sum(1 for line in untyped.stdout.splitlines() if '"severity": "error"' in line)}


PACKAGES = {"itsdangerous==2.2.0": (MUTATIONS, DRIVER), "aiofiles==25.1.0": (AIOFILES, AIOFILES_DRIVER)}


def render(report: list[dict]) -> str:
    """The per-class table (findings at the seeded line by depth, top-1 with a traceback) and timings."""
    classes: dict[str, dict[str, int]] = {}
    timing: dict[str, dict[str, list[float]]] = {d: {"first_s": [], "after_edit_s": [], "median_s": []}
                                                 for d in ("quick", "standard", "deep")}
    for package in report:
        for row in package["mutations"]:
            if "lines" not in row:
                continue
            c = classes.setdefault(row["class"], {"n": 0, "quick": 0, "standard": 0, "deep": 0, "tb": 0, "top1": 0})
            c["n"] += 1
            for depth, numbers in timing.items():
                c[depth] += row[depth]["hit"]
                for key, values in numbers.items():
                    values.append(row[depth][key])
            if row["raises"]:
                c["tb"] += 1
                c["top1"] += bool(row.get("traceback_top1"))
    lines = ["| bug class | cases | finding at the seeded line: quick | standard | deep | top-1 with traceback |",
             "|---|---|---|---|---|---|"]
    for name, c in classes.items():
        top1 = f"{c['top1']}/{c['tb']}" if c["tb"] else "- (does not raise)"
        lines.append(f"| {name} | {c['n']} | {c['quick']}/{c['n']} | {c['standard']}/{c['n']} | {c['deep']}/{c['n']} "
                     f"| {top1} |")
    lines += ["", "| depth | first run (s) | after a one-line edit (s) | warm cache (s) |", "|---|---|---|---|"]
    for depth, numbers in timing.items():
        lines.append(f"| {depth} | " + " | ".join(f"{statistics.median(v):.2f}" if v else "-"
                                                 for v in numbers.values()) + " |")
    lines += ["", "| package | agent findings on the pristine files (quick/standard/deep) | tools' defaults |",
              "|---|---|---|"]
    for package in report:
        ours = "/".join(str(package["pristine_findings"][d]["count"]) for d in ("quick", "standard", "deep"))
        raw = ", ".join(f"{k}: {v}" for k, v in package["pristine_raw_tools"].items())
        lines.append(f"| {package['package']} | {ours} | {raw} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--package", action="append", choices=sorted(PACKAGES))
    parser.add_argument("--cache", default=str(Path(__file__).parent / ".cache"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="also write the per-case results to this file")
    parser.add_argument("--from-json", help="only render the tables of an earlier --json file")
    args = parser.parse_args()
    if args.from_json:
        print(render(json.loads(Path(args.from_json).read_text())))
        return
    report = [measure(package, Path(args.cache), args.repeat) for package in args.package or sorted(PACKAGES)]
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    print(render(report))


def measure(package: str, cache: Path, repeat: int) -> dict:
    mutations, driver = PACKAGES[package]
    pristine = fetch(package, cache)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch) / "pristine"
        shutil.copytree(pristine.parent, base, ignore=shutil.ignore_patterns("*.dist-info"))
        pkg = base / pristine.name
        files = sorted(str(p.relative_to(base)) for p in pkg.rglob("*.py"))
        alarms = {}
        for depth in ("quick", "standard", "deep"):
            found = run(base, files, depth)[0]["findings"]
            alarms[depth] = {"count": len(found), "non_lint": sorted(
                f"{Path(f['file']).name}:{f['line']} {f['rule']} {f['tool']}:{f['code']}" for f in found
                if f["rule"] not in ("lint", "unused-import"))}
        raw = raw_tool_counts(base, files)
        for kind, file, edits, expected in mutations:
            workspace = Path(scratch) / f"m{len(rows)}"
            shutil.copytree(base, workspace)
            target = workspace / pristine.name / file
            lines = target.read_text().splitlines()
            want = seed(lines, edits, expected)
            if want is None:
                rows.append({"class": kind, "file": file, "seeded": False})
                continue
            target.write_text("\n".join(lines) + "\n")
            rel = str(target.relative_to(workspace))
            row: dict = {"class": kind, "file": file, "lines": sorted(want), "static": kind in STATIC}
            for depth in ("quick", "standard", "deep"):
                _, cold = run(workspace, [rel], depth)  # fills this workspace's caches
                with target.open("a") as handle:  # an edit: result cache misses, mypy's cache is warm
                    handle.write(f"# edited for {depth}\n")
                _, edited = run(workspace, [rel], depth)
                times = []
                for _ in range(repeat):
                    out, seconds = run(workspace, [rel], depth)
                    times.append(seconds)
                near = [f for f in out["findings"] if f["file"] == str(target) and f["line"] in want]
                row[depth] = {"hit": bool(near), "by": sorted({f"{f['tool']}:{f['code']}" for f in near}),
                              "first_s": round(cold, 3), "after_edit_s": round(edited, 3),
                              "median_s": round(statistics.median(times), 3)}
            proc = subprocess.run([sys.executable, "-c", driver], cwd=workspace, capture_output=True, text=True,
                                  env={"PYTHONPATH": str(workspace), "PATH": "/usr/bin:/bin"})
            row["raises"] = proc.returncode != 0
            if row["raises"]:
                out, _ = asyncio.run(_timed(workspace, [pristine.name], proc.stderr))
                root = out["root_cause"]
                row["traceback_top1"] = root["file"] == str(target) and root["line"] in want
                row["traceback_root"] = f"{Path(root['file'] or '?').name}:{root['line']} {root['rule']}"
                row["exception"] = proc.stderr.strip().splitlines()[-1][:120]
            rows.append(row)
    return {"package": package, "mutations": rows, "pristine_findings": alarms, "pristine_raw_tools": raw}


if __name__ == "__main__":
    main()
