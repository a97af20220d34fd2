"""Secrets never reach traces or results: secret-named fields and known secret values are redacted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest
from conftest import RUNNER, runner_env

from parallel_execution.agents.base import Agent, TaskContext
from parallel_execution.agents.echo import EchoInput
from parallel_execution.agents.registry import register_agent
from parallel_execution.dispatcher import dispatch
from parallel_execution.errors import TaskFailure
from parallel_execution.traces import secrets
from parallel_execution.traces.redact import REDACTED, Redactor, looks_secret


def test_secret_names_and_values_are_redacted_everywhere():
    redactor = Redactor.for_dispatch([{"env": {"GITHUB_TOKEN": "ghp_abcdef123", "DB_PASS": "hunter2hunter"}}],
                                     {"ANTHROPIC_API_KEY": "sk-ant-xyz-987654", "HOME": "/root"})
    document = {"env": {"GITHUB_TOKEN": "ghp_abcdef123", "DB_PASS": "hunter2hunter", "PATH": "/bin"},
                "stdout_tail": "token=ghp_abcdef123 key=sk-ant-xyz-987654", "api_key": "anything",
                "usage": {"input_tokens": 12}, "primary_key": "id"}
    assert redactor.scrub(document) == {
        "env": {"GITHUB_TOKEN": REDACTED, "DB_PASS": REDACTED, "PATH": "/bin"},
        "stdout_tail": f"token={REDACTED} key={REDACTED}", "api_key": REDACTED,
        "usage": {"input_tokens": 12}, "primary_key": "id"}


def test_documents_without_secrets_are_returned_unchanged():
    document = {"message": [1, {"text": "hello"}]}
    assert Redactor(["a-long-secret"]).scrub(document) is document


def test_json_escaped_secret_values_are_found_in_bytes():
    redactor = Redactor(['pa"ss\\word'])
    assert redactor.scrub_bytes(json.dumps({"x": 'use pa"ss\\word'}).encode()) == b'{"x": "use [REDACTED]"}'


def test_names():
    assert looks_secret("api_key") and looks_secret("Authorization") and looks_secret("client_secret")
    assert looks_secret("auth_key") and looks_secret("accessKey") and looks_secret("signing-key")
    assert not looks_secret("max_tokens") and not looks_secret("primary_key")
    assert looks_secret("OPENAI_KEY", env=True) and looks_secret("DB_PASS", env=True)


def test_a_command_printing_its_secrets_leaks_nothing(tmp_path):
    secret, api_key = "ghp_supersecretvalue42", "sk-ant-api03-shouldnotleak"
    doc = {"tasks": [{"task_id": "leaky", "agent": "command", "input_data": {
        "argv": [sys.executable, "-c", "import os; print(os.environ['GITHUB_TOKEN'], os.environ['ANTHROPIC_API_KEY'])"],
        "env": {"GITHUB_TOKEN": secret}}}], "config": {"trace_dir": str(tmp_path / "traces")}}
    env = {**runner_env(), "ANTHROPIC_API_KEY": api_key}
    proc = subprocess.run([*RUNNER, "--allow-commands", "--quiet"], input=json.dumps(doc).encode(),
                          capture_output=True, env=env, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    result = json.loads(proc.stdout)
    assert result["results"][0]["output"]["stdout_tail"] == f"{REDACTED} {REDACTED}"
    for blob in [proc.stdout, proc.stderr, *(p.read_bytes() for p in (tmp_path / "traces").rglob("*") if p.is_file())]:
        assert secret.encode() not in blob and api_key.encode() not in blob
    assert os.path.exists(result["results"][0]["output"]["stdout_file"])


# -- issue 13, item 9: credentials by value, in keys, in argv, in events and stderr, in big logs ----------

GH = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def test_credentials_are_recognised_by_their_shape():
    scrub = Redactor().scrub
    assert scrub("postgres://app:hunter2pw@db:5432/x") == f"postgres://app:{REDACTED}@db:5432/x"
    assert scrub(f"token is {GH}.") == f"token is {REDACTED}."
    for token in ("sk-ant-api03-" + "x" * 30, "sk-proj-" + "y" * 30, "xoxb-123456789012-abcdef", "AKIAIOSFODNN7EXAMPLE",
                  "glpat-" + "z" * 20, "github_pat_" + "Q" * 30):
        assert token not in str(scrub({"text": f"use {token} now"})), token
    assert scrub("mysql --password=hunter2pw -u me") == f"mysql --password={REDACTED} -u me"
    assert scrub("cli --token abcdef --max-tokens 5") == f"cli --token {REDACTED} --max-tokens 5"
    assert scrub({"argv": ["mysql", "--password", "hunter2pw", "-u", "me"]}) == {
        "argv": ["mysql", "--password", REDACTED, "-u", "me"]}
    assert scrub("Authorization: Bearer abcdefghijklmnopqrstuvwxyz") == f"Authorization: Bearer {REDACTED}"
    # ordinary text is left alone
    for text in ("http://example.com/a:b@c", "--max-tokens 5", "sk-short", "mailto:someone@example.com"):
        assert scrub(text) == text


def test_env_names_like_github_pat_are_secret():
    assert looks_secret("GITHUB_PAT", env=True) and looks_secret("GH_PAT_TOKEN", env=True)
    assert not looks_secret("PATH", env=True) and not looks_secret("PATTERN", env=True)
    redactor = Redactor.for_dispatch([], {"GITHUB_PAT": "plain-value-no-prefix-123"})
    assert redactor.scrub({"log": "x plain-value-no-prefix-123 y"}) == {"log": f"x {REDACTED} y"}


def test_a_secret_used_as_an_object_key_is_replaced_in_the_key():
    redactor = Redactor(["known-secret-value"])
    assert redactor.scrub({"known-secret-value": 1, GH: 2, "ok": 3}, keys=False) == {
        REDACTED: 1, f"{REDACTED} #2": 2, "ok": 3}
    assert redactor.scrub({"nested": [{GH: "x"}]}) == {"nested": [{REDACTED: "x"}]}


def test_a_log_of_any_size_is_scrubbed_streaming(tmp_path):
    log = tmp_path / "err.log"
    with log.open("wb") as handle:
        for _ in range(2000):
            handle.write(b"noise " * 100 + b"\n")
        handle.write(b"leak: known-secret-value and " + GH.encode() + b"\n" + b"y" * 300_000 + b"\n")
    Redactor(["known-secret-value"]).scrub_file(log, chunk_bytes=4096)
    data = log.read_bytes()
    assert b"known-secret-value" not in data and GH.encode() not in data and data.count(b"[REDACTED]") == 2
    assert data.startswith(b"noise ") and data.endswith(b"y" * 1000 + b"\n")
    assert [p.name for p in tmp_path.iterdir()] == ["err.log"]


def test_errors_events_stderr_stdout_and_input_json_hold_no_credentials(tmp_path):
    password = "hunter2-very-private"
    url = f"postgres://app:{password}@db/x"
    doc = {"tasks": [
        {"task_id": "fails", "agent": "command", "input_data": {
            "argv": [sys.executable, "-c", f"import sys; print('cannot reach {url}', file=sys.stderr); sys.exit(3)"],
            "env": {"DATABASE_URL": url}}},
        {"task_id": "keys", "agent": "echo", "input_data": {"message": {GH: "a token as a key"}}},
    ], "config": {"trace_dir": str(tmp_path / "traces")}}
    events = tmp_path / "events.jsonl"
    proc = subprocess.run([*RUNNER, "--allow-commands", "--events", str(events)], input=json.dumps(doc).encode(),
                          capture_output=True, env=runner_env(), cwd=tmp_path, timeout=60)
    assert proc.returncode == 1, proc.stderr.decode()
    result = json.loads(proc.stdout)
    assert REDACTED in json.dumps(result["results"][1]["output"])
    blobs = {"stdout": proc.stdout, "stderr": proc.stderr, "events": events.read_bytes(),
             **{str(p): p.read_bytes() for p in (tmp_path / "traces").rglob("*") if p.is_file()}}
    assert any(b"cannot reach" in blob for blob in blobs.values())
    for name, blob in blobs.items():
        assert password.encode() not in blob, name
        assert GH.encode() not in blob, name


@pytest.mark.parametrize("text", ["x" * 40_000, "a-" * 20_000, "ab://" * 8_000, "a://b:" * 6_000,
                                  "--x-" * 10_000, "-----BEGIN RSA PRIVATE KEY-----" * 1_300])
def test_scanning_for_secrets_by_value_is_linear(text):
    # Each of these once cost minutes (a quadratic backtrack per message); linear, they take ms.
    started = time.perf_counter()
    secrets.sub_bytes(text.encode())
    secrets.has_secret_bytes(text.encode())
    assert time.perf_counter() - started < 2.0


class _Leaky(Agent[EchoInput]):
    """Puts a credential in one place of its trace, named by its message: an event, its error, a traceback."""

    name = "test-leaky"
    Input = EchoInput

    async def run(self, data: EchoInput, ctx: TaskContext) -> dict[str, Any]:
        if data.message == "event":
            ctx.event("connect", url=f"https://app:{GH}@example.test/x")
        elif data.message == "error":
            raise TaskFailure(f"still failing: --password={GH}")
        elif data.message == "traceback":  # only the chained cause names it
            raise RuntimeError("login failed") from RuntimeError(f"Bearer {GH}")
        return {"message": "done"}


def test_a_credential_anywhere_an_outsider_writes_in_a_trace_is_redacted(tmp_path):
    # The scan covers only what came from outside the runner (traces.writer._supplied). Each task
    # carries a credential in one such place (one found anywhere would clean the whole document).
    register_agent(_Leaky)
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"
    result = dispatch([
        {"task_id": "described", "agent": "echo", "description": f"uses {GH}"},
        {"task_id": "key", "agent": "echo", "input_data": {"message": pem}},
        {"task_id": "reads", "agent": "echo", "dependencies": ["key"], "input_data": {"message": {"$from": "key"}}},
        *({"task_id": mode, "agent": "test-leaky", "input_data": {"message": mode}}
          for mode in ("event", "error", "traceback")),
        # A BEGIN in one field and an END in another is no key: the document must stay valid JSON.
        {"task_id": "span", "agent": "echo", "description": "-----BEGIN RSA PRIVATE KEY----- x",
         "input_data": {"message": "y -----END RSA PRIVATE KEY-----"}},
    ], {"trace_dir": str(tmp_path / "traces"), "workspace": str(tmp_path)})
    assert [r.status for r in result.results] == ["success"] * 4 + ["error"] * 2 + ["success"]
    # private/ keeps the real output a dependent read, for resume (owner-only): not a trace.
    files = [p for p in (tmp_path / "traces").rglob("*") if p.is_file() and p.parent.name != "private"]
    assert len(files) >= 10
    for path in files:
        text = path.read_text()
        assert GH not in text and "MIIEow" not in text, path
        if path.suffix == ".json":
            json.loads(text)
    span = json.loads(next(p for p in files if p.name == "span.json").read_text())
    assert span["description"] == "-----BEGIN RSA PRIVATE KEY----- x"
    traced = json.loads(next(p for p in files if p.name == "traceback.json").read_text())
    assert "Bearer [REDACTED]" in traced["attempts"][0]["traceback"]


class _Wide(Agent[EchoInput]):
    name = "test-wide-int"
    Input = EchoInput

    async def run(self, data: EchoInput, ctx: TaskContext) -> dict[str, Any]:
        return {"n": 2**70}  # JSON numbers here are 64-bit: no trace, journal or result could hold it


def test_an_output_that_cannot_be_stored_as_json_is_a_task_error_not_a_crash(tmp_path):
    register_agent(_Wide)
    result = dispatch([{"task_id": "wide", "agent": "test-wide-int"},
                       *({"task_id": f"e{i}", "agent": "echo"} for i in range(4))],
                      {"trace_dir": str(tmp_path / "traces"), "workspace": str(tmp_path)})
    wide = result.results[0]
    assert wide.status == "error" and "cannot be stored as JSON" in (wide.error or "") and wide.output is None
    assert [r.status for r in result.results[1:]] == ["success"] * 4
    assert all(r.trace_file for r in result.results) and not result.trace_errors
