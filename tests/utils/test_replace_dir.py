"""utils.atomic.replace_dir: a finished staging folder replaces the final one, and no trash is left."""

from __future__ import annotations

from pathlib import Path

from moscale_cli.utils.atomic import replace_dir


def _folder(path: Path, text: str) -> Path:
    path.mkdir()
    (path / "a.txt").write_text(text)
    return path


def test_replace_dir_moves_into_an_absent_final(tmp_path: Path) -> None:
    stage = _folder(tmp_path / ".tmp", "new")
    replace_dir(stage, tmp_path / "out")
    assert (tmp_path / "out" / "a.txt").read_text() == "new" and not stage.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_replace_dir_replaces_an_existing_final_and_a_stale_trash(tmp_path: Path) -> None:
    final = _folder(tmp_path / "out", "old")
    (final / "only-old.txt").write_text("x")
    _folder(tmp_path / ".old-out", "stale")
    replace_dir(_folder(tmp_path / ".tmp", "new"), final, tmp_path / ".old-out")
    assert sorted(p.name for p in final.iterdir()) == ["a.txt"] and (final / "a.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    replace_dir(_folder(tmp_path / ".tmp", "newer"), final)  # default trash name
    assert (final / "a.txt").read_text() == "newer" and sorted(p.name for p in tmp_path.iterdir()) == ["out"]
