"""One session as a process group: argv, stream parsing, transcript, stall, and no orphans ever."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest
from fake_claude.harness import FAKE, alive, calls, pids, use_fake, wait_for_pids, wait_gone

from parallel_execution.claude_code.session import SessionSpec, build_argv, run_session
from parallel_execution.errors import TaskFailure


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (SessionSpec("p", Path(".")), []),
        (SessionSpec("p", Path("."), session_id="abc"), ["--session-id", "abc"]),
        (SessionSpec("p", Path("."), session_id="abc", resume="old"), ["--resume", "old"]),
        (SessionSpec("p", Path("."), system_prompt="be brief"), ["--system-prompt", "be brief"]),
        (SessionSpec("p", Path("."), append_system_prompt="also"), ["--append-system-prompt", "also"]),
        (SessionSpec("p", Path("."), model="opus"), ["--model", "opus"]),
        (SessionSpec("p", Path("."), allowed_tools=["Read", "Bash(git *)"]), ["--allowedTools", "Read,Bash(git *)"]),
        (SessionSpec("p", Path("."), permission_mode="acceptEdits"), ["--permission-mode", "acceptEdits"]),
        (SessionSpec("p", Path("."), max_turns=7), ["--max-turns", "7"]),
        (SessionSpec("p", Path("."), max_budget_usd=0.25), ["--max-budget-usd", "0.25"]),
        (SessionSpec("p", Path("."), max_budget_usd=1e-7), ["--max-budget-usd", "0"]),
        (SessionSpec("p", Path("."), json_schema={"type": "object"}), ["--json-schema", '{"type":"object"}']),
    ],
)
def test_argv(spec: SessionSpec, expected: list[str]):
    argv = build_argv("claude", spec)
    assert argv[:5] == ["claude", "-p", "--output-format", "stream-json", "--verbose"]
    assert argv[5:] == expected
    assert "p" not in argv  # the prompt goes on stdin, never into argv


def test_oversized_system_prompt_is_refused():
    with pytest.raises(TaskFailure, match=r"^--system-prompt text is over 100000 bytes$"):
        build_argv("claude", SessionSpec("p", Path("."), system_prompt="x" * 100_001))


def run(spec: SessionSpec, **kwargs):
    return asyncio.run(run_session(str(FAKE), spec, **kwargs))


def test_success_is_parsed_and_transcribed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    state = use_fake(monkeypatch, tmp_path / "state", "success", turns="2")
    monkeypatch.setenv("CLAUDECODE", "1")  # as inside Claude Code: must not reach the child
    seen: list[str] = []
    with open(tmp_path / "t.jsonl", "ab") as transcript:
        result = run(SessionSpec("Review the code\nplease", tmp_path, session_id="11111111-1111-4111-8111-111111111111"),
                     transcript=transcript, on_message=lambda m: seen.append(m["type"]))
    assert result.result is not None and result.result["total_cost_usd"] == 0.0123
    assert result.session_id == "11111111-1111-4111-8111-111111111111"
    assert result.exit_code == 0 and not result.stalled
    assert result.model_messages == 2  # a Read tool call, then the answer
    assert seen[0] == "system" and seen[-1] == "result"
    lines = (tmp_path / "t.jsonl").read_text().splitlines()
    assert len(lines) == result.lines == len(seen)
    assert json.loads(lines[-1])["type"] == "result"
    [call] = calls(state)
    assert call["prompt"] == "Review the code\nplease"
    assert call["claudecode_env"] is None
    assert call["cwd"] == str(tmp_path)
    assert call["pgid"] == call["pid"]  # its own process group


def test_api_retry_and_error_fields_are_collected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    use_fake(monkeypatch, tmp_path / "state", "rate_limit_then_success", retry_delay_ms="1234")
    result = run(SessionSpec("x", tmp_path))
    assert result.result is not None and result.result["api_error_status"] == 429
    assert result.last_error == "rate_limit"
    assert result.retry_delay_seconds == 1.234
    assert result.model_messages == 0  # only the synthetic API-error message
    assert result.exit_code == 1


def test_unknown_resume_keeps_result_and_stderr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    use_fake(monkeypatch, tmp_path / "state")
    result = run(SessionSpec("x", tmp_path, resume="22222222-2222-4222-8222-222222222222"))
    assert result.result is not None and result.result["subtype"] == "error_during_execution"
    assert result.result["errors"] == ["No conversation found with session ID: 22222222-2222-4222-8222-222222222222"]
    assert result.exit_code == 1
    assert result.stderr_tail == "No conversation found with session ID: 22222222-2222-4222-8222-222222222222\n"


def test_missing_program_is_a_clear_failure(tmp_path: Path):
    with pytest.raises(TaskFailure, match=r"^cannot start the Claude Code program '/nonexistent/claude': "):
        asyncio.run(run_session("/nonexistent/claude", SessionSpec("x", tmp_path)))


def test_stall_stops_the_session_and_its_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    state = use_fake(monkeypatch, tmp_path / "state", "stall")
    started = time.monotonic()
    # Windows of seconds, not tenths: the stand-in is a Python program whose start-up alone can take a
    # second on a loaded machine, and it must get far enough to record its pid.
    result = run(SessionSpec("x", tmp_path), stall_timeout=2.0)
    assert result.stalled
    assert result.result is None
    assert 2.0 <= time.monotonic() - started < 8
    assert wait_gone(pids(state)["cli"])


def test_stall_window_grows_by_the_cli_retry_delay(tmp_path: Path):
    # A CLI that announces a 3 s retry delay and then is silent for 3 s is not stalled at 2 s.
    script = tmp_path / "slow"
    script.write_text(
        "#!/usr/bin/env python3\nimport json, sys, time\n"
        "print(json.dumps({'type': 'system', 'subtype': 'api_retry', 'retry_delay_ms': 3000}), flush=True)\n"
        "time.sleep(3.0)\n"
        "print(json.dumps({'type': 'result', 'subtype': 'success', 'is_error': False, 'result': 'ok'}), flush=True)\n"
    )
    script.chmod(0o755)
    result = asyncio.run(run_session(str(script), SessionSpec("x", tmp_path), stall_timeout=2.0))
    assert not result.stalled
    assert result.result is not None and result.result["result"] == "ok"


@pytest.mark.parametrize("ignore_term", ["0", "1"])
def test_grandchild_left_behind_after_success_is_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ignore_term: str):
    # The CLI exits after its result but a background process it started keeps stdout open.
    state = use_fake(monkeypatch, tmp_path / "state", "grandchild", after="exit", ignore_term=ignore_term)
    started = time.monotonic()
    result = run(SessionSpec("x", tmp_path), stall_timeout=30, kill_grace=0.3)
    assert result.result is not None and not result.result["is_error"]
    assert time.monotonic() - started < 5  # did not wait for the grandchild's stdout to close
    assert wait_gone(pids(state)["grandchild"])


@pytest.mark.parametrize("ignore_term", ["0", "1"])
def test_timeout_kills_the_whole_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ignore_term: str):
    state = use_fake(monkeypatch, tmp_path / "state", "grandchild", ignore_term=ignore_term)

    async def main() -> None:
        task = asyncio.create_task(run_session(str(FAKE), SessionSpec("x", tmp_path), kill_grace=0.3))
        await asyncio.to_thread(wait_for_pids, state, "cli", "grandchild")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(task, 0.3)

    asyncio.run(main())
    found = pids(state)
    assert set(found) == {"cli", "grandchild", f"grandchild-{found['cli']}"}
    assert wait_gone(found["cli"]) and wait_gone(found["grandchild"])


def test_hang_before_first_line_is_a_stall(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    state = use_fake(monkeypatch, tmp_path / "state", "hang", ignore_term="1")
    result = run(SessionSpec("x", tmp_path), stall_timeout=2.0, kill_grace=0.2)
    assert result.stalled and result.lines == 0
    assert wait_gone(pids(state)["cli"])


def test_cancellation_kills_the_group_and_propagates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    state = use_fake(monkeypatch, tmp_path / "state", "grandchild")

    async def main() -> None:
        task = asyncio.create_task(run_session(str(FAKE), SessionSpec("x", tmp_path)))
        await asyncio.to_thread(wait_for_pids, state, "cli", "grandchild")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    found = pids(state)
    assert wait_gone(found["cli"]) and wait_gone(found["grandchild"])


def test_no_process_of_the_group_survives_a_normal_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    state = use_fake(monkeypatch, tmp_path / "state", "success")
    run(SessionSpec("x", tmp_path))
    [call] = calls(state)
    with pytest.raises(ProcessLookupError):
        os.killpg(call["pgid"], 0)
    assert not alive(call["pid"])


def test_exit_without_result_while_a_grandchild_holds_stdout(tmp_path: Path):
    # No stall timeout at all: the CLI's own exit must end the session, not the grandchild's.
    script = tmp_path / "crash"
    script.write_text(
        "#!/usr/bin/env python3\nimport json, os, subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(tmp_path / 'gc.pid')!r}, 'w').write(str(child.pid))\n"
        "print(json.dumps({'type': 'system', 'subtype': 'init', 'session_id': 's'}), flush=True)\n"
        "sys.stderr.write('boom\\n')\n"
        "sys.exit(3)\n"
    )
    script.chmod(0o755)
    started = time.monotonic()
    result = asyncio.run(run_session(str(script), SessionSpec("x", tmp_path), drain_seconds=0.3, kill_grace=0.3))
    assert time.monotonic() - started < 3
    assert result.result is None and result.exit_code == 3 and not result.stalled
    assert result.stderr_tail == "boom\n"
    assert wait_gone(int((tmp_path / "gc.pid").read_text()))
