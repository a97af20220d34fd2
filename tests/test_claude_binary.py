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
    with pytest.raises(ClaudeNotInstalled, match=r"install it with: pip install 'parallel-dispatch\[claude\]'$") as info:
        find_claude_binary()
    assert info.value.retryable is False
