"""Finding the Claude Code program: env var, PATH, the SDK's bundled copy, or a clear error."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from parallel_execution.claude_code import binary
from parallel_execution.claude_code.binary import ClaudeNotInstalled, bundled_binary, find_claude_binary


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_env_var_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PARALLEL_DISPATCH_CLAUDE_BIN", str(executable(tmp_path / "mine")))
    monkeypatch.setenv("PATH", str(executable(tmp_path / "bin" / "claude").parent))
    assert find_claude_binary() == str(tmp_path / "mine")


def test_env_var_must_be_executable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "plain").write_text("")
    monkeypatch.setenv("PARALLEL_DISPATCH_CLAUDE_BIN", str(tmp_path / "plain"))
    with pytest.raises(ClaudeNotInstalled, match=r"^PARALLEL_DISPATCH_CLAUDE_BIN='.*plain' is not an executable file$"):
        find_claude_binary()


def test_path_then_bundled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("PARALLEL_DISPATCH_CLAUDE_BIN", raising=False)
    monkeypatch.setenv("PATH", str(executable(tmp_path / "bin" / "claude").parent))
    assert find_claude_binary() == str(tmp_path / "bin" / "claude")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    bundled = bundled_binary()
    if bundled is None:
        pytest.skip("claude-agent-sdk is not installed")
    assert find_claude_binary() == str(bundled)
    assert bundled.name == "claude" and bundled.parent.name == "_bundled"


def test_nothing_installed_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("PARALLEL_DISPATCH_CLAUDE_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(binary.importlib.util, "find_spec",
                        lambda name, *a: None if name == "claude_agent_sdk" else real_find_spec(name, *a))
    with pytest.raises(ClaudeNotInstalled, match=r"install it with: pip install claude-agent-sdk \(it bundles the program\), or npm install -g "
                       r"@anthropic-ai/claude-code$") as info:
        find_claude_binary()
    assert info.value.retryable is False


def test_locate_says_where_the_program_was_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("PARALLEL_DISPATCH_CLAUDE_BIN", raising=False)
    on_path = tmp_path / "claude"
    on_path.write_text("#!/bin/sh\necho '9.9.9 (Claude Code)'\n")
    on_path.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert binary.locate_claude() == (str(on_path), "path")
    monkeypatch.setenv("PARALLEL_DISPATCH_CLAUDE_BIN", str(on_path))
    assert binary.locate_claude() == (str(on_path), "env")


def test_claude_subcommand_prints_the_program_and_runs_it(tmp_path: Path):
    import json
    import subprocess

    from conftest import RUNNER, runner_env

    fake = tmp_path / "claude"
    fake.write_text("#!/bin/sh\nif [ \"$1\" = --version ]; then echo '9.9.9 (Claude Code)'; exit 0; fi\n"
                    "echo \"ran: $*\"; exit 3\n")
    fake.chmod(0o755)
    env = {**runner_env(), "PATH": str(tmp_path) + ":/usr/bin:/bin"}
    env.pop("PARALLEL_DISPATCH_CLAUDE_BIN", None)
    done = subprocess.run([*RUNNER, "claude"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"status": "found", "program": str(fake), "source": "path",
                                       "found_as": "claude on PATH", "version": "9.9.9 (Claude Code)",
                                       "login": "dispatch-runner claude -- auth login"}
    done = subprocess.run([*RUNNER, "claude", "--", "auth", "login"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stdout) == (3, "ran: auth login\n")
    assert f"running {fake} (claude on PATH)" in done.stderr
