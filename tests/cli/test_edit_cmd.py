"""`moscale edit / inbetween / compose` end to end on a tiny random-weight model, and their one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from moscale_cli.cli.edit_cmd import parse_region, parse_segment, parse_time
from moscale_cli.errors import UsageError
from moscale_cli.sampling.config import SamplingConfig

FAST = ["--refine-steps", "1,1,1,1", "--device", "cpu"]


@pytest.fixture(scope="module")
def src(cli_model_dir, tmp_path_factory) -> Path:
    from moscale_cli.io.files import save_motion
    from moscale_cli.pipeline import MoScalePipeline

    m = MoScalePipeline.from_pretrained(cli_model_dir, device="cpu").generate(
        "a person walks", frames=100, seed=3, sampling=SamplingConfig(refine_steps=(1, 1, 1, 1))
    )[0]
    path = tmp_path_factory.mktemp("edit-cli") / "src.npy"
    save_motion(path, m.joints, features=m.features, write_features=True)
    return path


def test_parsers():
    assert parse_time("60") == 60 and parse_time("2.5s") == 50 and parse_time(" 3 s ") == 60
    assert parse_region("40:120", 196) == (40, 120) and parse_region("2.5s:4s", 196) == (50, 80)
    assert parse_region("40:", 100) == (40, 100) and parse_region(":1s", 100) == (0, 20)
    assert parse_segment("walk forward: 3s") == ("walk forward", 60)
    assert parse_segment("a: b:60") == ("a: b", 60)
    for bad in ["2.5", "abc", "-3", "1e3"]:
        with pytest.raises(UsageError):
            parse_time(bad)
    with pytest.raises(UsageError, match="START:END"):
        parse_region("40-120", 196)
    with pytest.raises(UsageError, match="TEXT:DURATION"):
        parse_segment("walk forward")


def test_edit_writes_exact_features_and_a_report(run_cli, cli_model_dir, src, tmp_path):
    out, rep = tmp_path / "e.npy", tmp_path / "e.json"
    code, o, e = run_cli("edit", src, "a person jumps", "-o", out, "-o", tmp_path / "e.bvh", "--features",
                         "--region", "20:40", "--region", "3s:3.5s", "-m", cli_model_dir, *FAST, "--report", rep)
    assert code == 0, e
    assert o.split() == [str(out), str(tmp_path / "e.bvh")]
    a, b = np.load(src), np.load(out)
    keep = np.ones(100, bool)
    keep[20:40] = keep[60:70] = False
    assert b.shape == a.shape and np.array_equal(a[keep], b[keep]) and not np.allclose(a[~keep], b[~keep])
    r = json.loads(rep.read_text())
    assert r["regions"] == [[20, 40], [60, 70]] and r["seams"]["boundaries"] == [20, 40, 60, 70]
    assert r["seams"]["p95_step_m"] > 0 and "ratio" in r["seams"]


def test_edit_verbose_prints_seams_and_mask_and_extension(run_cli, cli_model_dir, src, tmp_path):
    mask = np.zeros(100, bool)
    mask[50:60] = True
    np.save(tmp_path / "m.npy", mask)
    out = tmp_path / "x.npy"
    code, o, e = run_cli("edit", src, "--unconditional", "-o", out, "--features", "--mask", tmp_path / "m.npy",
                         "--frames", "140", "--extend", "start", "-m", cli_model_dir, *FAST, "--verbose")
    assert code == 0, e
    assert "seams: max jump" in e and "generated 0:40, 90:100" in e
    a, b = np.load(src), np.load(out)
    assert b.shape == (140, 263) and np.array_equal(b[40:90], a[:50]) and np.array_equal(b[100:], a[60:])


def test_edit_prints_the_seam_measure_only_with_verbose(cli_model_dir, src, tmp_path, capsys):
    from moscale_cli.cli.app import main

    def run(*extra: str) -> str:
        capsys.readouterr()
        main(["edit", str(src), "a person jumps", "-o", str(tmp_path / "v.npy"), "--region", "20:40",
              "-m", str(cli_model_dir), *FAST, *extra])  # not --quiet: the info line shows
        return capsys.readouterr().err

    plain, verbose = run(), run("-v")
    assert "100 frames (5.0 s), generated 20:40" in plain and "seams" not in plain
    assert "generated 20:40" in verbose and "seams: max jump" in verbose and "at frames 20, 40" in verbose


def test_inbetween_and_compose(run_cli, cli_model_dir, src, tmp_path):
    a = np.load(src)
    np.save(tmp_path / "a.npy", a[:40])
    np.save(tmp_path / "b.npy", a[60:])
    out = tmp_path / "ib.npy"
    code, _, e = run_cli("inbetween", "a person turns", "--start", tmp_path / "a.npy", "--end", tmp_path / "b.npy",
                         "--frames", "2s", "-o", out, "--features", "-m", cli_model_dir, *FAST)
    assert code == 0, e
    b = np.load(out)
    assert b.shape == (120, 263) and np.array_equal(b[:40], a[:40]) and np.array_equal(b[80:], a[60:])
    code, _, e = run_cli("inbetween", "a person turns", "--source", src, "--keep-start", "1s", "--keep-end", "20",
                         "-o", out, "--features", "-m", cli_model_dir, *FAST)
    assert code == 0, e
    b = np.load(out)
    assert b.shape == (100, 263) and np.array_equal(b[:20], a[:20]) and np.array_equal(b[80:], a[80:])
    rep = tmp_path / "c.json"
    code, o, e = run_cli("compose", "walk forward:3s", "turn around:2s", "sit down:60", "--overlap", "1s",
                         "-o", tmp_path / "c.npy", "-m", cli_model_dir, *FAST, "--report", rep)
    assert code == 0, e
    assert np.load(tmp_path / "c.npy").shape == (160, 22, 3)
    assert json.loads(rep.read_text())["seams"]["boundaries"] == [60, 100]


@pytest.mark.parametrize("args,match", [
    (["edit", "{src}", "x", "--region", "90:130"], "outside the source"),
    (["edit", "{src}", "x", "--region", "60:40"], "reversed"),
    (["edit", "{src}", "x", "--region", "40:40"], "empty"),
    (["edit", "{src}", "x", "--region", "10:50", "--region", "40:60"], "overlap"),
    (["edit", "{src}", "x", "--mask", "{mask}"], "length 100"),
    (["edit", "{src}", "x"], "nothing to regenerate"),
    (["edit", "{src}", "--region", "0:10"], "TEXT"),
    (["edit", "{long}", "x", "--region", "0:10"], "model window"),
    (["edit", "{src}", "x", "--region", "0:10", "--frames", "80"], "shorter than the source"),
    (["edit", "{src}", "x", "--region", "1.5:2"], "seconds"),
    (["inbetween", "x", "--source", "{src}", "--keep-start", "60", "--keep-end", "40", "--frames", "90"], "kept parts"),
    (["inbetween", "x", "--start", "{src}", "--end", "{src}", "--frames", "20"], "compose"),
    (["compose", "walk forward"], "TEXT:DURATION"),
    (["compose", "walk:3s", "--overlap", "0"], "overlap"),
])
def test_bad_input_gives_one_line_and_no_file(run_cli, cli_model_dir, src, tmp_path, args, match):
    np.save(tmp_path / "mask.npy", np.zeros(90, bool))
    np.save(tmp_path / "long.npy", np.zeros((250, 263), np.float32))
    subs = {"src": str(src), "mask": str(tmp_path / "mask.npy"), "long": str(tmp_path / "long.npy")}
    out = tmp_path / "o.npy"
    code, o, e = run_cli(*[a.format(**subs) for a in args], "-o", out, "-m", cli_model_dir, *FAST)
    assert code != 0 and "Traceback" not in e
    lines = [ln for ln in e.splitlines() if ln.strip()]
    assert len(lines) == 1 and "error" in lines[0] and match in lines[0], e
    assert not out.exists()


# ---------------------------------------------------------------------------------- BVH sources, source rig
WALK_TURN = "dataset-2_walk-turn-left_normal_001.bvh"  # 102 frames at 30 fps = 68 at 20 fps


def _grammar():
    """The BVH grammar checker of tests/io/conftest.py, loaded by path."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "io" / "conftest.py"
    spec = importlib.util.spec_from_file_location("moscale_tests_io_conftest", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.check_bvh_grammar


@pytest.fixture(scope="module")
def walk_turn(bvh_fixture_dir: Path) -> Path:
    return bvh_fixture_dir / WALK_TURN


def _split(path: Path) -> tuple[str, list[str]]:
    text = path.read_text()
    lines = text.split("\n")
    at = next(i for i, ln in enumerate(lines) if ln.startswith("Frame Time")) + 1
    return "\n".join(lines[:at]), [ln for ln in lines[at:] if ln.strip()]


def test_bvh_edit_written_on_the_source_rig(run_cli, cli_model_dir, walk_turn, tmp_path):
    from moscale_cli.io.bvh import read_bvh
    from moscale_cli.io.files import load_motion

    out, npy, rep = tmp_path / "e.bvh", tmp_path / "e.npy", tmp_path / "e.json"
    code, o, e = run_cli("edit", walk_turn, "a person jumps", "--region", "1s:2s", "-o", out, "-o", npy,
                         "-m", cli_model_dir, *FAST, "--report", rep)
    assert code == 0, e
    src = read_bvh(walk_turn)
    summary = _grammar()(out.read_text())
    assert summary["joints"] == src.names and summary["channels"] == src.rig.num_channels
    assert summary["frames"] == src.num_frames and summary["frame_time"] == pytest.approx(src.frame_time)
    head_src, lines_src = _split(walk_turn)
    head_out, lines_out = _split(out)
    assert head_out == head_src  # hierarchy, frame count and frame time as in the source, to the character
    t = np.arange(src.num_frames) * src.frame_time
    inside = (t >= 1.0 - 1e-4) & (t < 2.0 - 1e-4)
    assert inside.sum() == 30
    assert all(a == b for a, b, k in zip(lines_src, lines_out, inside, strict=True) if not k)  # text-identical
    assert all(a != b for a, b, k in zip(lines_src, lines_out, inside, strict=True) if k)
    joints = np.load(npy)
    src_joints = load_motion(walk_turn).joints
    keep = np.ones(68, bool)
    keep[20:40] = False
    assert joints.shape == (68, 22, 3) and np.array_equal(joints[keep], src_joints[keep])
    r = json.loads(rep.read_text())
    assert r["space"] == "source" and r["rig"] == {"frames": 102, "kept": 72} and r["regions"] == [[20, 40]]


def test_bvh_extension_and_inbetween_on_the_source_rig(run_cli, cli_model_dir, walk_turn, tmp_path):
    _, lines_src = _split(walk_turn)
    check = _grammar()
    out = tmp_path / "x.bvh"
    code, _, e = run_cli("edit", walk_turn, "a person sits down", "--frames", "100", "-o", out, "-m", cli_model_dir, *FAST)
    assert code == 0, e
    s = check(out.read_text())
    _, lines = _split(out)
    assert s["frames"] == len(lines) == 102 + 47  # 99 / 20 s = 4.95 s at 30 fps: 149 frames
    assert lines[:102] == lines_src
    code, _, e = run_cli("edit", walk_turn, "a person sits down", "--frames", "100", "--extend", "start", "-o", out,
                         "-m", cli_model_dir, *FAST)
    assert code == 0, e
    s = check(out.read_text())
    _, lines = _split(out)
    assert s["frames"] == 48 + 102 and lines[48:] == lines_src  # 32 frames at 20 fps before: 1.6 s = 48 frames
    code, _, e = run_cli("inbetween", "a person turns", "--source", walk_turn, "--keep-start", "1s", "--keep-end", "1s",
                         "-o", out, "-m", cli_model_dir, *FAST)
    assert code == 0, e
    s = check(out.read_text())
    _, lines = _split(out)
    assert s["frames"] == 102 and lines[:30] == lines_src[:30] and lines[72:] == lines_src[72:]
    assert all(a != b for a, b in zip(lines[30:72], lines_src[30:72], strict=True))
    code, _, e = run_cli("inbetween", "a person turns", "--source", walk_turn, "--keep-start", "1s", "--keep-end", "1s",
                         "--frames", "88", "-o", out, "-m", cli_model_dir, *FAST)
    assert code == 0, e
    s = check(out.read_text())
    _, lines = _split(out)
    assert s["frames"] == 30 + 72 + 30 and lines[:30] == lines_src[:30] and lines[-30:] == lines_src[-30:]


def test_rig_template_gives_the_22_joint_skeleton(run_cli, cli_model_dir, walk_turn, tmp_path):
    out = tmp_path / "t.bvh"
    code, _, e = run_cli("edit", walk_turn, "a person jumps", "--region", "20:40", "--rig", "template", "-o", out,
                         "-m", cli_model_dir, *FAST)
    assert code == 0, e
    s = _grammar()(out.read_text())
    assert len(s["joints"]) == 22 and s["frames"] == 68 and s["frame_time"] == pytest.approx(0.05)


def _rewrite(src: Path, dst: Path, old: str, new: str) -> Path:
    dst.write_text(src.read_text().replace(old, new))
    return dst


@pytest.mark.parametrize("make,args,match", [
    (None, ["edit", "{bvh}", "x", "--region", "60:80"], "region 60:80 lies outside the source (frames 0:68)"),
    (None, ["edit", "{bvh}", "x", "--region", "3s:5s"], "outside the source"),
    (None, ["edit", "{bvh}", "x", "--mask", "{mask}"], "length 68"),
    ("legless", ["edit", "{bad}", "x", "--region", "0:10"], "cannot map the skeleton to SMPL-22: no left hip, right hip"),
    ("headless", ["edit", "{bad}", "x", "--region", "0:10"], "no pelvis (Hips) joint found"),
    ("zero", ["edit", "{bad}", "x", "--region", "0:10"], "zero-length bones between mapped joints (left_knee-left_ankle)"),
    ("legless", ["inbetween", "x", "--source", "{bad}", "--keep-start", "10"], "cannot map the skeleton"),
    (None, ["edit", "{npy}", "x", "--region", "0:10", "--rig", "source"], "--rig source needs a .bvh source"),
    (None, ["edit", "{bvh}", "x", "--region", "0:10", "--rig", "bones"], "--rig must be 'source', 'template' or a .bvh rig file"),
    (None, ["inbetween", "x", "--start", "{bvh}", "--frames", "10", "--rig", "source"], "--rig source works with --source"),
])
def test_bad_bvh_input_one_line_and_no_output(run_cli, cli_model_dir, src, walk_turn, tmp_path, rigs, make, args, match):
    work = tmp_path / "work"
    work.mkdir()
    np.save(work / "mask.npy", np.zeros(90, bool))
    bad = work / "bad.bvh"
    if make == "legless":
        rigs.legless_bvh(walk_turn, bad)
    elif make == "headless":
        _rewrite(walk_turn, bad, "Hips", "Body")
    elif make == "zero":
        rigs.zero_bone_bvh(walk_turn, bad)
    subs = {"bvh": str(walk_turn), "mask": str(work / "mask.npy"), "bad": str(bad), "npy": str(src)}
    before = set(work.iterdir())
    code, o, e = run_cli(*[a.format(**subs) for a in args], "-o", work / "o.bvh", "-o", work / "o.npy",
                         "-m", cli_model_dir, *FAST)
    assert code != 0 and "Traceback" not in e
    lines = [ln for ln in e.splitlines() if ln.strip()]
    assert len(lines) == 1 and "error" in lines[0] and match in lines[0], e
    assert set(work.iterdir()) == before  # no output, no temporary file
