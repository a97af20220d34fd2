"""Files a session changed: created, modified, deleted; .git skipped; bounded walk."""

from __future__ import annotations

import os
from pathlib import Path

from parallel_execution.claude_code.changes import diff, snapshot


def test_created_modified_deleted(tmp_path: Path):
    (tmp_path / "keep.py").write_text("a")
    (tmp_path / "edit.py").write_text("a")
    (tmp_path / "gone.py").write_text("a")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "same_size.py").write_text("a")
    before = snapshot(tmp_path)
    (tmp_path / "edit.py").write_text("longer")
    os.utime(tmp_path / "pkg" / "same_size.py", ns=(1, 1))  # same size, new mtime
    (tmp_path / "gone.py").unlink()
    (tmp_path / "pkg" / "new.py").write_text("b")
    assert diff(before, snapshot(tmp_path)) == {
        "created": ["pkg/new.py"],
        "modified": ["edit.py", "pkg/same_size.py"],
        "deleted": ["gone.py"],
    }


def test_git_folder_is_skipped_and_symlinks_not_followed(tmp_path: Path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "index").write_text("x")
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "secret").write_text("x")
    (tmp_path / "link").symlink_to(outside, target_is_directory=True)
    assert sorted(snapshot(tmp_path).files) == ["link"]


def test_walk_is_bounded(tmp_path: Path):
    for i in range(5):
        (tmp_path / f"f{i}").write_text("x")
    shot = snapshot(tmp_path, limit=3)
    assert len(shot.files) == 3 and shot.truncated
    assert diff(shot, shot)["truncated"] is True
    assert "truncated" not in diff(snapshot(tmp_path), snapshot(tmp_path))
