"""Secrets never reach traces or results: secret-named fields and known secret values are redacted."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import RUNNER, runner_env

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
