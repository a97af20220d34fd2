"""safe_write: no-clobber is one atomic step, and a folder swapped for a symlink is never followed."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from parallel_execution.agents.coder import safe_write
from parallel_execution.agents.coder.safe_write import UnsafePath, install_folder, read_file, write_file


def race(count: int, work: Callable[[int], object]) -> tuple[list[int], list[BaseException]]:
    """Run ``work(i)`` in ``count`` threads released at once; which succeeded, which raised."""
    barrier = threading.Barrier(count)
    won: list[int] = []
    errors: list[BaseException] = []

    def one(i: int) -> None:
        barrier.wait()
        try:
            work(i)
            won.append(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return won, errors


@pytest.mark.parametrize("round_", range(5))
def test_two_writers_without_overwrite_never_both_succeed(tmp_path: Path, round_: int) -> None:
    target = tmp_path / "out" / "node.py"
    won, errors = race(8, lambda i: write_file(tmp_path, target, f"writer {i}\n".encode(), overwrite=False))
    assert len(won) == 1 and len(errors) == 7 and all(isinstance(e, FileExistsError) for e in errors)
    assert target.read_text() == f"writer {won[0]}\n"
    assert os.listdir(target.parent) == ["node.py"]  # no temp file left behind


@pytest.mark.parametrize("renameat2", [True, False], ids=["renameat2", "plain-rename"])
def test_two_folder_installs_without_overwrite_never_both_succeed(tmp_path: Path, renameat2: bool,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    if not renameat2:
        monkeypatch.setattr(safe_write, "_RENAMEAT2", None)
    folder = tmp_path / "nodes" / "node_a_effect"
    won, errors = race(6, lambda i: install_folder(tmp_path, folder, {"node.py": f"{i}".encode(),
                                                                       "models/m.py": b"m"}, overwrite=False))
    assert len(won) == 1 and all(isinstance(e, FileExistsError) for e in errors), errors
    assert (folder / "node.py").read_text() == str(won[0])
    assert sorted(os.listdir(folder.parent)) == ["node_a_effect"]  # no staging folder left


def test_overwrite_replaces_a_folder_whole(tmp_path: Path) -> None:
    folder = tmp_path / "node_a_effect"
    install_folder(tmp_path, folder, {"old.py": b"old", "node.py": b"1"}, overwrite=False)
    install_folder(tmp_path, folder, {"node.py": b"2"}, overwrite=True)
    assert os.listdir(folder) == ["node.py"] and (folder / "node.py").read_bytes() == b"2"
    assert os.listdir(tmp_path) == ["node_a_effect"]


def test_a_failed_install_leaves_no_half_folder(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        install_folder(tmp_path, tmp_path / "node_a_effect", {"a": b"x", "a/b.py": b"y"}, overwrite=False)
    assert os.listdir(tmp_path) == []


def test_a_folder_swapped_for_a_symlink_is_not_followed(tmp_path: Path) -> None:
    root, outside = tmp_path / "ws", tmp_path / "outside"
    (root / "gen").mkdir(parents=True)
    outside.mkdir()
    target = root / "gen" / "node.py"  # validated while gen/ was a real folder ...
    (root / "gen").rmdir()
    (root / "gen").symlink_to(outside)  # ... then a concurrent task swaps it for a symlink
    with pytest.raises(UnsafePath, match="is a symlink"):
        write_file(root, target, b"x", overwrite=True)
    with pytest.raises(UnsafePath, match="is a symlink"):
        install_folder(root, root / "gen" / "node_a_effect", {"node.py": b"x"}, overwrite=True)
    assert os.listdir(outside) == []
    assert read_file(root, target) is None  # reading does not follow it either


def test_a_symlink_at_the_target_name_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "node.py").symlink_to(victim)
    with pytest.raises(FileExistsError):
        write_file(tmp_path / "ws", tmp_path / "ws" / "node.py", b"x", overwrite=False)
    write_file(tmp_path / "ws", tmp_path / "ws" / "node.py", b"x", overwrite=True)
    assert victim.read_text() == "keep" and not (tmp_path / "ws" / "node.py").is_symlink()


def test_a_target_outside_the_root_is_walked_from_the_filesystem_root(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    target = tmp_path / "elsewhere" / "node.py"  # allowed by config.allow_outside_workspace
    write_file(tmp_path / "ws", target, b"x", overwrite=False)
    assert read_file(tmp_path / "ws", target) == b"x"
