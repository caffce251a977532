"""`moscale data import-bvh | merge | stats` through the CLI."""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from moscale_cli.cli.app import app, main
from moscale_cli.data import layout
from moscale_cli.errors import DatasetError

runner = CliRunner()
WALK = "dataset-2_walk_normal_001"


def _main_error(argv, capsys) -> tuple[int, list[str]]:
    """Run the console entry point; return its exit code and the non-empty stderr lines."""
    with pytest.raises(SystemExit) as ex:
        main(argv)
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    return ex.value.code, err


def test_import_merge_stats(bvh_fixture_dir, tmp_path):
    out = tmp_path / "ds"
    r = runner.invoke(
        app, ["--quiet", "data", "import-bvh", str(bvh_fixture_dir), str(out), "--workers", "1"]
    )
    assert r.exit_code == 0, r.output
    assert "4/5 files (" in r.stdout and "-> 4 clips" in r.stdout
    assert "dataset-2_raise-up-both-hands_normal_001: too short" in r.output
    assert sorted(layout.read_split(out, "all")) == sorted(
        p.stem for p in bvh_fixture_dir.glob("*.bvh") if "raise" not in p.stem
    )
    r = runner.invoke(app, ["data", "stats", str(out), "--split", "all"])
    assert r.exit_code == 0, r.output
    assert "all" in r.stdout and "40-79" in r.stdout
    legend = " ".join(r.stdout.split())  # the column legend, however the terminal wraps it
    assert "miss: ids without a readable feature file" in legend and "tagged: captions of a part" in legend
    r = runner.invoke(app, ["data", "merge", str(tmp_path / "m"), str(out), str(out)])
    assert r.exit_code == 1 and isinstance(r.exception, DatasetError)  # every id clashes with itself
    other = tmp_path / "other"
    shutil.copytree(out, other)
    r = runner.invoke(app, ["data", "merge", str(tmp_path / "m"), str(out), str(other), "--prefix-names"])
    assert r.exit_code == 0, r.output
    assert len(layout.read_split(tmp_path / "m", "all")) == 8


@pytest.mark.parametrize("case", ["empty", "missing-split", "malformed-caption", "not-empty-out"])
def test_clear_one_line_errors(case, bvh_fixture_dir, tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    if case == "empty":
        argv, expect = ["data", "import-bvh", str(src), str(tmp_path / "o")], "no .bvh files in"
    elif case == "missing-split":
        ds = tmp_path / "ds"
        (ds / "new_joint_vecs").mkdir(parents=True)
        shutil.copy(bvh_fixture_dir.parent / "humanml3d" / "Mean.npy", ds / "Mean.npy")
        (ds / "train.txt").write_text("a\n")
        argv, expect = ["data", "stats", str(ds), "--split", "test"], "split file test.txt is missing"
    elif case == "malformed-caption":
        shutil.copy(bvh_fixture_dir / f"{WALK}.bvh", src / "clip.bvh")
        (src / "clip.txt").write_text("a person walks\nbroken#line\n")
        argv, expect = ["data", "import-bvh", str(src), str(tmp_path / "o")], "malformed caption line"
    else:
        shutil.copy(bvh_fixture_dir / f"{WALK}.bvh", src / "clip.bvh")
        (tmp_path / "o").mkdir()
        (tmp_path / "o" / "keep.txt").write_text("x")
        argv, expect = ["data", "import-bvh", str(src), str(tmp_path / "o")], "is not empty"
    r = runner.invoke(app, argv)
    assert r.exit_code != 0 and isinstance(r.exception, DatasetError)
    assert expect in str(r.exception) and "\n" not in str(r.exception)
    code, err = _main_error(argv, capsys)
    assert code == 1
    assert len(err) == 1 and err[0].startswith("error:") and expect in err[0], err
    assert not (tmp_path / "o").exists() or (tmp_path / "o" / "keep.txt").exists()
