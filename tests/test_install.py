"""``install-agents``: copies the bundle into a ``.claude/`` folder, idempotently, never over local edits."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import real_claude_cli

from parallel_execution import __version__
from parallel_execution.commands import install
from parallel_execution.commands.install import (
    MANIFEST_NAME,
    PERMISSION_RULES,
    BundleFile,
    InstallError,
    bundle_files,
    configure_parser,
    resolve_target,
)

REPO = Path(__file__).resolve().parent.parent
EXPECTED = ["agents/agent-parallel-dispatcher.md", "agents/coder.md", "agents/debug.md", "commands/dispatch.md"]


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    code = install.main(parser.parse_args(list(argv)))
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """inode and mtime of every file: an atomic rewrite changes the inode even with equal content."""
    return {str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    root.mkdir()
    return root


def test_bundle_is_read_from_the_source_checkout() -> None:
    files = bundle_files()
    assert [f.path for f in files] == EXPECTED
    assert files[1].data == (REPO / "agents" / "coder.md").read_bytes()
    assert files[3].data == (REPO / ".claude" / "commands" / "dispatch.md").read_bytes()


def test_bundle_falls_back_to_the_package_data(tmp_path: Path) -> None:
    package = tmp_path / "_bundle"
    (package / "agents").mkdir(parents=True)
    (package / "commands").mkdir()
    (package / "agents" / "coder.md").write_text("coder")
    (package / "agents" / "notes.txt").write_text("not markdown")
    (package / "commands" / "dispatch.md").write_text("dispatch")
    files = bundle_files(source_root=tmp_path / "site-packages", package_root=package)
    assert files == [BundleFile("agents/coder.md", b"coder"), BundleFile("commands/dispatch.md", b"dispatch")]


def test_missing_bundle_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InstallError, match=r"^bundle files not found \(looked in .*agents, .*commands\); reinstall"):
        bundle_files(source_root=tmp_path, package_root=tmp_path / "_bundle")


def test_first_install_creates_every_file_and_the_manifest(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    code, report, err = run_main(capsys, "--project", str(project))
    target = project / ".claude"
    assert code == 0 and report["status"] == "installed" and report["scope"] == "project"
    assert report["target"] == str(target.resolve())
    assert report["written"] == EXPECTED and report["unchanged"] == [] and report["skipped"] == []
    assert {f["action"] for f in report["files"]} == {"created"}
    for bundle_file in bundle_files():
        assert (target / bundle_file.path).read_bytes() == bundle_file.data
    manifest = json.loads((target / MANIFEST_NAME).read_text())
    assert manifest["version"] == __version__ and manifest["schema_version"] == 1
    assert (
        manifest["files"]["agents/coder.md"]["sha256"]
        == hashlib.sha256((target / "agents/coder.md").read_bytes()).hexdigest()
    )
    settings = json.loads((target / "settings.json").read_text())
    assert settings["permissions"] == PERMISSION_RULES.as_settings()["permissions"]
    assert report["settings_file"] == str(target / "settings.json") and report["needs_trust"] is True
    assert report["permission_rules_added"] == report["permission_rules"] == PERMISSION_RULES.as_settings()["permissions"]
    count = len(PERMISSION_RULES.allow) + len(PERMISSION_RULES.ask)
    assert f"Added {count} permission rules to {target / 'settings.json'}" in err and "trust dialog" in err
    assert "created     agents/coder.md" in err


def test_second_install_changes_nothing(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    run_main(capsys, "--project", str(project))
    before = snapshot(project)
    code, report, _ = run_main(capsys, "--project", str(project))
    assert code == 0 and report["written"] == [] and report["unchanged"] == EXPECTED
    assert snapshot(project) == before


def test_local_edits_are_kept_unless_forced(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    run_main(capsys, "--project", str(project))
    edited = project / ".claude" / "agents" / "coder.md"
    edited.write_text("my own coder\n")
    code, report, err = run_main(capsys, "--project", str(project))
    assert code == 1 and report["status"] == "incomplete"
    assert report["skipped"] == [{"path": "agents/coder.md", "reason": "local edits; rerun with --force to overwrite"}]
    assert edited.read_text() == "my own coder\n"
    assert "skipped     agents/coder.md  (local edits; rerun with --force to overwrite)" in err
    code, report, _ = run_main(capsys, "--project", str(project), "--force")
    assert code == 0 and report["written"] == ["agents/coder.md"]
    assert [f["action"] for f in report["files"] if f["path"] == "agents/coder.md"] == ["overwritten"]
    assert edited.read_bytes() == (REPO / "agents" / "coder.md").read_bytes()


def test_files_not_installed_by_us_are_not_overwritten(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    theirs = project / ".claude" / "commands" / "dispatch.md"
    theirs.parent.mkdir(parents=True)
    theirs.write_text("a different /dispatch\n")
    code, report, _ = run_main(capsys, "--project", str(project))
    assert code == 1
    assert report["skipped"] == [
        {
            "path": "commands/dispatch.md",
            "reason": "not installed by parallel-dispatch; rerun with --force to overwrite",
        }
    ]
    assert theirs.read_text() == "a different /dispatch\n"


@pytest.mark.parametrize("corrupt", [b"{not json", b"[]", b'{"files": {"agents/coder.md": 3}}'])
def test_unreadable_manifest_claims_nothing(project: Path, corrupt: bytes) -> None:
    target = project / ".claude"
    (target / "agents").mkdir(parents=True)
    (target / "agents" / "coder.md").write_text("edited")
    (target / MANIFEST_NAME).write_bytes(corrupt)
    report = install.install([BundleFile("agents/coder.md", b"new")], target)
    assert [(a.path, a.action) for a in report.actions] == [("agents/coder.md", "skipped")]
    assert json.loads((target / MANIFEST_NAME).read_text())["files"] == {}


def test_upgrade_updates_untouched_files_only(project: Path) -> None:
    target = project / ".claude"
    old = [BundleFile("agents/coder.md", b"coder v1"), BundleFile("agents/debug.md", b"debug v1")]
    install.install(old, target)
    (target / "agents" / "debug.md").write_bytes(b"debug v1 plus my notes")
    new = [BundleFile("agents/coder.md", b"coder v2"), BundleFile("agents/debug.md", b"debug v2")]
    report = install.install(new, target)
    assert [(a.path, a.action) for a in report.actions] == [
        ("agents/coder.md", "updated"),
        ("agents/debug.md", "skipped"),
    ]
    assert (target / "agents" / "coder.md").read_bytes() == b"coder v2"
    assert (target / "agents" / "debug.md").read_bytes() == b"debug v1 plus my notes"
    recorded = json.loads((target / MANIFEST_NAME).read_text())["files"]
    assert recorded["agents/debug.md"]["sha256"] == hashlib.sha256(b"debug v1").hexdigest()


def test_files_dropped_from_the_bundle_are_removed_if_untouched(project: Path) -> None:
    target = project / ".claude"
    install.install(
        [
            BundleFile("agents/old.md", b"old"),
            BundleFile("agents/kept.md", b"kept"),
            BundleFile("agents/coder.md", b"coder"),
        ],
        target,
    )
    (target / "agents" / "kept.md").write_bytes(b"kept, edited")
    report = install.install([BundleFile("agents/coder.md", b"coder")], target)
    assert [(a.path, a.action) for a in report.actions] == [
        ("agents/coder.md", "unchanged"),
        ("agents/kept.md", "skipped"),
        ("agents/old.md", "removed"),
    ]
    assert not (target / "agents" / "old.md").exists() and (target / "agents" / "kept.md").exists()
    assert set(json.loads((target / MANIFEST_NAME).read_text())["files"]) == {"agents/coder.md", "agents/kept.md"}


def test_a_directory_in_the_way_is_skipped_even_with_force(project: Path) -> None:
    target = project / ".claude"
    (target / "agents" / "coder.md").mkdir(parents=True)
    report = install.install([BundleFile("agents/coder.md", b"coder")], target, force=True)
    assert [(a.action, a.reason) for a in report.actions] == [("skipped", "a directory is in the way")]


def test_symlinked_identical_file_is_left_alone(project: Path) -> None:
    target = project / ".claude"
    (target / "agents").mkdir(parents=True)
    (project / "coder.md").write_bytes(b"coder")
    (target / "agents" / "coder.md").symlink_to("../../coder.md")
    report = install.install([BundleFile("agents/coder.md", b"coder")], target)
    assert [a.action for a in report.actions] == ["unchanged"]
    assert (target / "agents" / "coder.md").is_symlink()


def test_rules_merge_into_the_users_settings_keeping_theirs(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    (project / ".claude").mkdir()
    mine = {"model": "opus", "permissions": {"allow": ["Bash(make *)", "Edit(.dispatch/**)"],
                                             "deny": ["Bash(dispatch-runner claude *)"], "defaultMode": "default"}}
    (project / ".claude" / "settings.json").write_text(json.dumps(mine))
    code, report, _ = run_main(capsys, "--project", str(project))
    settings = json.loads((project / ".claude" / "settings.json").read_text())
    assert code == 0 and settings["model"] == "opus" and settings["permissions"]["defaultMode"] == "default"
    assert settings["permissions"]["allow"][:2] == ["Bash(make *)", "Edit(.dispatch/**)"]
    assert settings["permissions"]["deny"] == ["Bash(dispatch-runner claude *)"]
    assert "Bash(dispatch-runner claude *)" not in settings["permissions"]["ask"]  # the user's deny is respected
    assert "Edit(.dispatch/**)" not in report["permission_rules_added"]["allow"]
    before = (project / ".claude" / "settings.json").stat().st_mtime_ns
    code, report, err = run_main(capsys, "--project", str(project))
    assert report["permission_rules_added"] == {"allow": [], "ask": []} and "already in" in err
    assert (project / ".claude" / "settings.json").stat().st_mtime_ns == before


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"permissions": {"allow": "Bash(x)"}}'])
def test_unusable_settings_file_is_an_error_and_is_left_alone(
    capsys: pytest.CaptureFixture[str], project: Path, text: str
) -> None:
    (project / ".claude").mkdir()
    (project / ".claude" / "settings.json").write_text(text)
    code, report, _ = run_main(capsys, "--project", str(project))
    assert code == 2 and report["status"] == "error" and "nothing was written" in report["error"]
    assert (project / ".claude" / "settings.json").read_text() == text


def test_rules_only_writes_user_settings_for_the_plugin_route(
    capsys: pytest.CaptureFixture[str], project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    code, report, _ = run_main(capsys, "--project", str(project), "--rules-only", "--settings", "user")
    user = tmp_path / "home" / ".claude" / "settings.json"
    assert code == 0 and report["files"] == [] and report["settings_file"] == str(user)
    assert report["needs_trust"] is False and not (project / ".claude").exists()
    assert json.loads(user.read_text())["permissions"]["allow"][0] == "Edit(.dispatch/**)"


@pytest.mark.parametrize(("choice", "name"), [("local", "settings.local.json"), ("none", None)])
def test_settings_choice_local_or_none(capsys: pytest.CaptureFixture[str], project: Path, choice: str,
                                       name: str | None) -> None:
    code, report, err = run_main(capsys, "--project", str(project), "--settings", choice)
    assert code == 0
    if name is None:
        assert report["settings_file"] is None and not (project / ".claude" / "settings.json").exists()
        assert '"Edit(.dispatch/**)"' in err
    else:
        assert report["settings_file"] == str(project.resolve() / ".claude" / name)
        assert not (project / ".claude" / "settings.json").exists()


def test_settings_local_needs_a_project(capsys: pytest.CaptureFixture[str]) -> None:
    code, report, _ = run_main(capsys, "--user", "--settings", "local")
    assert code == 2 and report["error"] == "--settings local is a project's file; use it with --project DIR"


def test_user_install_goes_to_home_or_claude_config_dir(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    code, report, _ = run_main(capsys, "--user")
    assert code == 0 and report["scope"] == "user" and report["target"] == str(tmp_path / "home" / ".claude")
    assert (tmp_path / "home" / ".claude" / "agents" / "agent-parallel-dispatcher.md").is_file()
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "config"))
    assert resolve_target(None, True) == ("user", tmp_path / "config")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing", r"^project directory '.*missing' does not exist or is not a directory$"),
        (lambda p: (p / "file.txt").write_text("x") and p / "file.txt", r"^project directory '.*file\.txt' does not"),
    ],
    ids=["missing", "a-file"],
)
def test_bad_project_directory_is_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, make: Any, message: str
) -> None:
    path = make(tmp_path)
    with pytest.raises(InstallError, match=message):
        resolve_target(path, False)
    code, report, err = run_main(capsys, "--project", str(path))
    assert code == 2 and report["status"] == "error" and re.match(message, report["error"])
    assert err.startswith("install-agents: project directory")
    assert not (tmp_path / "missing").exists()


def test_claude_folder_that_is_a_file_is_an_error(project: Path) -> None:
    (project / ".claude").write_text("oops")
    with pytest.raises(InstallError, match=r"^'.*\.claude' exists and is not a directory$"):
        install.install(bundle_files(), project / ".claude")


@pytest.mark.parametrize("argv", [[], ["--project", "x", "--user"]], ids=["no-target", "both-targets"])
def test_exactly_one_target_is_required(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(argv)




def test_installed_files_load_in_claude_code_through_the_real_cli(tmp_path: Path, project: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "parallel_execution", "install-agents", "--project", str(project)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["written"] == EXPECTED
    target = project / ".claude"
    for path in sorted((target / "agents").glob("*.md")):
        meta = yaml.safe_load(path.read_text().split("---\n")[1])
        assert meta["name"] == path.stem and meta["description"] and meta["tools"]
    cli = real_claude_cli()
    if cli is None:
        pytest.skip("Claude Code CLI not installed (pip install claude-agent-sdk bundles it)")
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "CLAUDE_CONFIG_DIR": str(tmp_path / ".claude-config"),
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    for folder in ("agents", "commands"):
        check = subprocess.run(
            [cli, "plugin", "validate", "--strict", "--json", str(target / folder)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        report = json.loads(check.stdout)
        assert check.returncode == 0 and report["success"] is True and report["contents"] == [], report
