"""utils.atomic and utils.paths (issue 22, items 1, 4, 6): the leftovers of killed writers are recognised and
removed (never a live writer's), a write keeps the mode, goes through a symlink and creates parent folders;
an output that is, contains or lies inside an input is detected."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from moscale_cli.errors import MoScaleError, UsageError
from moscale_cli.utils.atomic import (
    _HOST,
    LEGACY_MAX_AGE_S,
    remove_stale,
    temp_dir,
    write_bytes_atomic,
    write_text_atomic,
)
from moscale_cli.utils.paths import backup_path, check_not_input, overlap


def _dead_pid() -> int:
    r = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(r.stdout)


def test_only_dead_writers_leftovers_are_removed(tmp_path: Path) -> None:
    dead = _dead_pid()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        names = {
            f".x.mp4.{dead}-{_HOST}.ab12cd34.tmp.mp4": True,  # killed writer, this host
            f".ds.{dead}-{_HOST}.k2j3h4l5.partial": True,  # killed import's staging folder
            f".x.mp4.{live.pid}-{_HOST}.ab12cd34.tmp.mp4": False,  # a writer still at work
            f".x.mp4.{os.getpid()}-{_HOST}.zz12cd34.tmp.mp4": False,  # this process
            f".x.mp4.{dead}-000000.ab12cd34.tmp.mp4": _HOST == "000000",  # another host: not ours to judge
            ".x.mp4.ab12cd34.tmp.mp4": False,  # an older version's temp name, fresh
            ".notes.txt": False,
            "x.mp4": False,
        }
        for n in names:
            p = tmp_path / n
            if n.endswith(".partial"):
                p.mkdir()
                (p / "inner.npy").write_bytes(b"x")
            else:
                p.write_bytes(b"x")
        old = tmp_path / ".y.bvh.qwertyui.tmp.bvh"  # an older version's leftover, two hours old
        old.write_bytes(b"x")
        t = time.time() - 2 * LEGACY_MAX_AGE_S
        os.utime(old, (t, t))
        removed = {p.name for p in remove_stale(tmp_path)}
        assert removed == {n for n, gone in names.items() if gone} | {old.name}
        assert all((tmp_path / n).exists() != gone for n, gone in names.items())
    finally:
        live.kill()
        live.wait()


def test_a_write_sweeps_its_folder_once(tmp_path: Path) -> None:
    stale = tmp_path / f".out.npy.{_dead_pid()}-{_HOST}.ab12cd34.tmp.npy"
    stale.write_bytes(b"half a file")
    write_text_atomic(tmp_path / "other.txt", "hello")
    assert not stale.exists() and (tmp_path / "other.txt").read_text() == "hello"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.txt"]


def test_write_keeps_mode_follows_symlinks_creates_parents(tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_text("old")
    f.chmod(0o600)
    write_text_atomic(f, "new")
    assert f.read_text() == "new" and stat.S_IMODE(f.stat().st_mode) == 0o600
    target = tmp_path / "real" / "t.txt"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    write_text_atomic(link, "through")
    assert link.is_symlink() and target.read_text() == "through"
    write_bytes_atomic(tmp_path / "a" / "b" / "c.bin", b"deep")
    assert (tmp_path / "a" / "b" / "c.bin").read_bytes() == b"deep"
    (tmp_path / "plain").write_text("x")
    with pytest.raises(MoScaleError, match="plain is a file, not a folder"):
        write_text_atomic(tmp_path / "plain" / "d.txt", "y")
    stage = temp_dir(tmp_path / "ds")
    assert stage.name.startswith(f".ds.{os.getpid()}-{_HOST}.") and stage.name.endswith(".partial")
    assert stat.S_IMODE(stage.stat().st_mode) == 0o777 & ~_umask()


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def test_overlap_of_outputs_and_inputs(tmp_path: Path) -> None:
    src = tmp_path / "p" / "src"
    src.mkdir(parents=True)
    (src / "a.bvh").write_text("x")
    assert overlap(src, src) == "is"
    assert overlap(tmp_path / "p", src) == "contains"
    assert overlap(src / "out", src) == "lies inside"
    assert overlap(tmp_path / "p" / "other", src) is None
    assert overlap(tmp_path / "p" / "src2", src) is None  # a name that starts the same is not inside
    link = tmp_path / "ln"
    link.symlink_to(src)
    assert overlap(link, src) == "is" and overlap(link / "x", src) == "lies inside"
    os.link(src / "a.bvh", tmp_path / "hard.bvh")
    assert overlap(tmp_path / "hard.bvh", src / "a.bvh") == "is"
    with pytest.raises(UsageError, match="contains the input"):
        check_not_input(tmp_path / "p", [None, src])
    assert backup_path(src / "a.bvh").name == "a.bvh.bak"
    (src / "a.bvh.bak").write_text("earlier backup")
    assert backup_path(src / "a.bvh").name == "a.bvh.bak1"
