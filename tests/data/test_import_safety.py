"""Dataset commands never destroy their input (issue 22, item 1), --overwrite replaces only their own earlier
output, parent folders are created (issue 25, item 1), and import-bvh reads archives in place (issue 25, item 2)."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from moscale_cli.data import layout
from moscale_cli.data.bvh_import import ImportConfig, import_bvh_folder
from moscale_cli.errors import DatasetError, MoScaleError

CLIPS = ["dataset-2_run_normal_001", "dataset-2_walk-turn-left_normal_001"]


@pytest.fixture
def run_main(capsys):
    """The console entry point in-process -> (exit code, stderr)."""
    from moscale_cli.cli.app import main

    def run(*args: object) -> tuple[int, str]:
        capsys.readouterr()
        try:
            main(["--quiet", *(str(a) for a in args)])
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        return code, capsys.readouterr().err

    return run


def _src(bvh_fixture_dir: Path, dst: Path) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for name in CLIPS:
        for ext in (".bvh", ".json"):
            (dst / f"{name}{ext}").write_bytes((bvh_fixture_dir / f"{name}{ext}").read_bytes())
    return dst


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------ the data-loss case
@pytest.mark.parametrize("layout_", ["same", "output-contains-source", "output-inside-source"])
def test_import_never_deletes_its_source(run_main, bvh_fixture_dir, tmp_path, layout_):
    src = _src(bvh_fixture_dir, tmp_path / "p" / "src")
    before = _files(tmp_path / "p")
    out = {"same": src, "output-contains-source": tmp_path / "p", "output-inside-source": src / "ds"}[layout_]
    code, err = run_main("data", "import-bvh", src, out, "--overwrite", "--workers", "1")
    assert code == 2, err
    assert "would destroy its own input" in err and len(err.strip().splitlines()) == 1
    assert _files(tmp_path / "p") == before  # every BVH and JSON still there, unchanged
    assert not list(tmp_path.rglob(".*partial"))


def test_merge_never_deletes_a_source(run_main, bvh_fixture_dir, tmp_path):
    ds = tmp_path / "p" / "a"
    import_bvh_folder(_src(bvh_fixture_dir, tmp_path / "src"), ds, ImportConfig(workers=1))
    before = _files(tmp_path / "p")
    for out in (tmp_path / "p", ds / "inner"):
        code, err = run_main("data", "merge", out, ds, "--overwrite")
        assert code == 2 and "would destroy its own input" in err, err
    assert _files(tmp_path / "p") == before


@pytest.mark.parametrize("command", ["import-bvh", "merge", "synth"])
def test_overwrite_replaces_only_the_commands_own_output(run_main, bvh_fixture_dir, tmp_path, command):
    src = _src(bvh_fixture_dir, tmp_path / "src")
    ds = tmp_path / "ds"
    import_bvh_folder(src, ds, ImportConfig(workers=1))
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "thesis.txt").write_text("years of work")
    args = {"import-bvh": ["import-bvh", src], "merge": ["merge"], "synth": ["synth"]}[command]
    tail = {"import-bvh": ["--workers", "1"], "merge": [ds], "synth": ["--clips", "4", "--workers", "1"]}[command]
    code, err = run_main("data", *args, foreign, *tail, "--overwrite")
    assert code != 0 and "--overwrite only replaces" in err, err
    assert (foreign / "thesis.txt").read_text() == "years of work"
    # the command's own earlier output is replaced
    own = tmp_path / "own"
    assert run_main("data", *args, own, *tail)[0] == 0
    (own / "stale.txt").write_text("x")
    code, err = run_main("data", *args, own, *tail, "--overwrite")
    assert code == 0, err
    assert not (own / "stale.txt").exists() and (own / "Mean.npy").is_file()
    if command != "import-bvh":  # another command's dataset is not this command's output
        other = tmp_path / "ds2"
        import_bvh_folder(src, other, ImportConfig(workers=1))
        code, err = run_main("data", *args, other, *tail, "--overwrite")
        assert code != 0 and "'bvh-import' dataset" in err, err
        assert layout.read_meta(other)["kind"] == "bvh-import"


def test_dataset_commands_create_parent_folders(run_main, bvh_fixture_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    src = _src(bvh_fixture_dir, tmp_path / "src")
    assert run_main("data", "synth", "datasets/synth", "--clips", "4", "--workers", "1")[0] == 0
    assert run_main("data", "import-bvh", src, "datasets/deep/bandai", "--workers", "1")[0] == 0
    assert run_main("data", "merge", "more/merged", "datasets/synth", "datasets/deep/bandai", "--prefix-names")[0] == 0
    for d in ("datasets/synth", "datasets/deep/bandai", "more/merged"):
        assert (Path(d) / "Mean.npy").is_file(), d
    assert (Path("datasets/deep/bandai").stat().st_mode & 0o777) != 0o700  # not the staging folder's 0700


def test_a_killed_imports_staging_folder_is_removed_by_the_next_run(bvh_fixture_dir, tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    from moscale_cli.utils.atomic import _HOST

    stale = tmp_path / f".ds.{pid}-{_HOST}.abcd1234.partial"
    (stale / "new_joint_vecs").mkdir(parents=True)
    (stale / "new_joint_vecs" / "x.npy").write_bytes(b"0" * 1000)
    import_bvh_folder(_src(bvh_fixture_dir, tmp_path / "src"), tmp_path / "ds", ImportConfig(workers=1))
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "src"]


# ------------------------------------------------------------------ archives
def _archive(src: Path, path: Path, extra: dict[str, bytes] | None = None) -> Path:
    """An archive of ``src`` (under a top folder, as datasets ship) plus ``extra`` members (name -> bytes)."""
    files = {f"pack/data/{p.name}": p.read_bytes() for p in sorted(src.iterdir())}
    files["pack/LICENSE.txt"] = b"licence text\n"
    files.update(extra or {})
    name = path.name
    if name.endswith(".zip"):
        with zipfile.ZipFile(path, "w") as zf:
            for k, v in files.items():
                zf.writestr(k, v)
        return path
    mode = "w:gz" if name.endswith((".tar.gz", ".tgz")) else "w"
    with tarfile.open(path, mode) as tf:
        for k, v in files.items():
            info = tarfile.TarInfo(k)
            info.size = len(v)
            tf.addfile(info, io.BytesIO(v))
    return path


@pytest.mark.parametrize("suffix", [".tar.gz", ".tgz", ".tar", ".zip"])
def test_archive_import_equals_the_folder_import(bvh_fixture_dir, tmp_path, suffix):
    src = _src(bvh_fixture_dir, tmp_path / "src")
    (src / "LICENSE.txt").write_bytes(b"licence text\n")
    ref = import_bvh_folder(src, tmp_path / "ref", ImportConfig(workers=1))
    arch = _archive(src, tmp_path / f"bvh{suffix}")
    res = import_bvh_folder(arch, tmp_path / "out", ImportConfig(workers=2 if suffix == ".zip" else 1))
    assert (res.files, res.imported, res.clips, res.splits) == (ref.files, ref.imported, ref.clips, ref.splits)
    a, b = _files(tmp_path / "ref"), _files(tmp_path / "out")
    assert a.keys() == b.keys() and "LICENSE-source" in a
    assert all(a[k] == b[k] for k in a if k != "meta.json")  # features, joints, captions, splits, stats
    meta = layout.read_meta(tmp_path / "out")
    assert meta["source"] == str(arch.resolve()) and "Bandai" in meta["license"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["src", "ref", "out", arch.name])  # nothing left


def test_archive_member_names_cannot_escape(bvh_fixture_dir, tmp_path):
    src = _src(bvh_fixture_dir, tmp_path / "src")
    walk = (src / f"{CLIPS[0]}.bvh").read_bytes()
    evil = {"../evil.bvh": walk, "/abs/evil2.bvh": walk, "pack/../../evil3.txt": b"x", "../x.json": b"{}"}
    arch = _archive(src, tmp_path / "bad.tar.gz", evil)
    with tarfile.open(tmp_path / "link.tar", "w") as tf:  # an archive whose only BVH is a symlink
        info = tarfile.TarInfo("pack/data/sneaky.bvh")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tf.addfile(info)
    out = tmp_path / "work" / "out"
    res = import_bvh_folder(arch, out, ImportConfig(workers=1))
    assert res.imported == 2
    reasons = dict(res.skipped)
    assert "unsafe member name" in reasons["../evil.bvh"] and "unsafe member name" in reasons["/abs/evil2.bvh"]
    assert not list(tmp_path.rglob("evil*")) and not Path("/abs").exists()
    assert not (tmp_path / "work" / "evil3.txt").exists() and not (tmp_path / "x.json").exists()
    with pytest.raises(DatasetError, match="no .bvh files"):  # the symlink is not followed, nor anything else
        import_bvh_folder(tmp_path / "link.tar", tmp_path / "o2", ImportConfig(workers=1))


def test_damaged_archive_leaves_no_output(bvh_fixture_dir, tmp_path, run_main):
    src = _src(bvh_fixture_dir, tmp_path / "src")
    arch = _archive(src, tmp_path / "a.tar.gz")
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(arch.read_bytes()[: int(arch.stat().st_size * 0.6)])
    code, err = run_main("data", "import-bvh", cut, tmp_path / "out", "--workers", "1")
    assert code == 1 and "damaged" in err and len(err.strip().splitlines()) == 1, err
    (tmp_path / "junk.zip").write_bytes(b"not a zip at all")
    code, err = run_main("data", "import-bvh", tmp_path / "junk.zip", tmp_path / "out", "--workers", "1")
    assert code == 1 and "damaged or not a zip archive" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar.gz", "cut.tar.gz", "junk.zip", "src"]
    with pytest.raises(MoScaleError, match="is the input|contains the input"):
        import_bvh_folder(arch, tmp_path, ImportConfig(workers=1, overwrite=True))  # the folder holding the archive
    assert arch.is_file()


def test_archive_frame_time_in_milliseconds_is_a_failed_file(bvh_fixture_dir, tmp_path):
    src = _src(bvh_fixture_dir, tmp_path / "src")
    p = src / f"{CLIPS[1]}.bvh"
    text = p.read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("Frame Time"))
    p.write_text(text.replace(line, "Frame Time: 33.3333"))
    res = import_bvh_folder(_archive(src, tmp_path / "a.zip"), tmp_path / "out", ImportConfig(workers=1))
    assert res.imported == 1 and "looks like milliseconds" in dict(res.failed)[CLIPS[1]]
    assert json.loads((tmp_path / "out" / "meta.json").read_text())["failed"][0]["file"] == CLIPS[1]
    assert np.load(layout.feature_path(tmp_path / "out", CLIPS[0])).shape[1] == 263
