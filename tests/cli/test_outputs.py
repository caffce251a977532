"""Outputs and inputs of the file-writing commands (issue 22, items 1, 6, 7; issue 25, item 1): an output never
replaces its own input (unless --backup, which keeps NAME.bak), keeps the replaced file's mode, writes through a
symlink, refuses a read-only file unless --force and says "overwrote X"; parent folders are created; prompt
files come from a pipe or '-' and may hold '#' comment lines; edit and inbetween take --mapping."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--refine-steps", "1,1,1,1", "--device", "cpu"]
RUN = "dataset-2_run_normal_001.bvh"


@pytest.fixture
def clip(bvh_fixture_dir: Path, tmp_path: Path) -> Path:
    """A writable copy of a fixture clip."""
    p = tmp_path / "clip.bvh"
    p.write_bytes((bvh_fixture_dir / RUN).read_bytes())
    return p


@pytest.fixture(scope="module")
def joints_src(cli_model_dir, tmp_path_factory) -> Path:
    from moscale_cli.io.files import save_motion
    from moscale_cli.pipeline import MoScalePipeline
    from moscale_cli.sampling.config import SamplingConfig

    m = MoScalePipeline.from_pretrained(cli_model_dir, device="cpu").generate(
        "a person walks", frames=80, seed=1, sampling=SamplingConfig(refine_steps=(1, 1, 1, 1))
    )[0]
    path = tmp_path_factory.mktemp("outputs") / "hm.npy"
    save_motion(path, m.joints)
    return path


# ------------------------------------------------------------------ an output that is an input
def test_convert_refuses_its_own_input_and_backup_keeps_it(run_cli, clip, tmp_path):
    before = clip.read_bytes()
    code, _, err = run_cli("convert", clip, "-o", clip)
    assert code == 2 and "is the input" in err and "--backup" in err and len(err.strip().splitlines()) == 1
    assert clip.read_bytes() == before
    link = tmp_path / "link.bvh"
    link.symlink_to(clip)
    code, _, err = run_cli("convert", link, "-o", clip)  # the same file under another name
    assert code == 2 and "is the input" in err and clip.read_bytes() == before
    hard = tmp_path / "hard.bvh"
    os.link(clip, hard)
    code, _, err = run_cli("convert", clip, "-o", hard)  # a hard link is the same file too
    assert code == 2 and "is the input" in err and clip.read_bytes() == before
    hard.unlink()
    code, _, err = run_cli("convert", clip, "-o", clip, "--backup")
    assert code == 0, err
    assert (tmp_path / "clip.bvh.bak").read_bytes() == before
    assert clip.read_bytes() != before and "ROOT Hips" in clip.read_text()  # now the 22-joint skeleton


def test_edit_and_inbetween_refuse_their_inputs(run_cli, cli_model_dir, joints_src, tmp_path):
    src = tmp_path / "hm.npy"
    src.write_bytes(joints_src.read_bytes())
    before = src.read_bytes()
    mask = tmp_path / "mask.npy"
    np.save(mask, np.r_[np.zeros(40, bool), np.ones(20, bool), np.zeros(20, bool)])
    cases = [
        ["edit", src, "a person jumps", "--region", "20:40", "-o", src],
        ["edit", src, "a person jumps", "--mask", mask, "-o", mask],
        ["inbetween", "a person turns", "--source", src, "--keep-start", "20", "--keep-end", "20", "-o", src],
        ["inbetween", "a person turns", "--start", src, "--end", src, "--frames", "8", "-o", src],
    ]
    for args in cases:
        code, _, err = run_cli(*args, "-m", cli_model_dir, *FAST)
        assert code == 2 and "is the input" in err, (args, err)
    assert src.read_bytes() == before and np.load(mask).sum() == 20
    code, _, err = run_cli("edit", src, "a person jumps", "--region", "20:40", "-o", src, "--backup",
                           "-m", cli_model_dir, *FAST)
    assert code == 0, err
    assert (tmp_path / "hm.npy.bak").read_bytes() == before and src.read_bytes() != before


# ------------------------------------------------------------------ mode, symlinks, read-only, "overwrote"
def test_output_keeps_mode_writes_through_symlinks_and_says_overwrote(run_loud, clip, tmp_path):
    out = tmp_path / "w.npy"
    code, _, err = run_loud("convert", clip, "-o", out)
    assert code == 0 and "overwrote" not in err
    out.chmod(0o640)
    code, _, err = run_loud("convert", clip, "-o", out)
    assert code == 0 and f"overwrote {out}" in err
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    target = tmp_path / "data" / "real.npy"
    target.parent.mkdir()
    target.write_bytes(b"old")
    link = tmp_path / "link.npy"
    link.symlink_to(target)
    code, _, err = run_loud("convert", clip, "-o", link)
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert np.load(target).shape[1:] == (22, 3)
    assert not [p for p in tmp_path.rglob(".*") if p.name.startswith((".w.npy", ".link", ".real"))]


def test_read_only_output_needs_force(run_loud, clip, tmp_path):
    out = tmp_path / "ro.npy"
    out.write_bytes(b"precious")
    out.chmod(0o444)
    code, _, err = run_loud("convert", clip, "-o", out)
    assert code != 0 and "read-only" in err and "--force" in err
    assert out.read_bytes() == b"precious"
    code, _, err = run_loud("convert", clip, "-o", out, "--force")
    assert code == 0 and f"overwrote {out}" in err
    assert np.load(out).shape[1:] == (22, 3) and stat.S_IMODE(out.stat().st_mode) == 0o444


# ------------------------------------------------------------------ parent folders
def test_generate_creates_parent_folders(cli_model_dir, run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("prompts.txt").write_text("a person walks#40\n")
    code, out, err = run_cli("generate", "--prompts", "prompts.txt", "-o", "out/deeper/motion.bvh",
                             "--model", cli_model_dir, *FAST)
    assert code == 0, err
    assert Path("out/deeper/motion.bvh").is_file() and out.split() == ["out/deeper/motion.bvh"]
    code, _, err = run_cli("convert", Path("out/deeper/motion.bvh"), "-o", "more/x.npy")
    assert code == 0 and Path("more/x.npy").is_file()


# ------------------------------------------------------------------ prompt files
@pytest.mark.slow  # four CLI runs (5 s)
def test_prompt_file_comments_and_stdin(cli_model_dir, tmp_path):
    from moscale_cli.cli.generate_cmd import parse_prompt_file

    pf = tmp_path / "prompts.txt"
    pf.write_text("# a batch of prompts\na person walks#40\n   # an indented comment\n\na person jumps#NA\n"
                  "a person does move #3#44\n")
    assert parse_prompt_file(pf) == [("a person walks", 40), ("a person jumps", None), ("a person does move #3", 44)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    for spec in ("-", "/dev/stdin"):
        out = tmp_path / f"s{len(spec)}.npy"
        r = subprocess.run(
            [sys.executable, "-m", "moscale_cli", "-q", "generate", "--prompts", spec, "-o", str(out),
             "--model", str(cli_model_dir), *FAST],
            input="# piped\na person walks#40\n", capture_output=True, text=True, env=env, timeout=300,
        )
        assert r.returncode == 0, r.stderr
        assert np.load(out).shape == (40, 22, 3)


# ------------------------------------------------------------------ --mapping on edit and inbetween
def _renamed_rig(src: Path, dst: Path) -> Path:
    """The clip with its joints renamed so that no built-in or detected mapping applies."""
    text = src.read_text()
    for name in ("Hips", "Spine", "Chest", "Neck", "Head", "Shoulder_L", "UpperArm_L", "LowerArm_L", "Hand_L",
                 "Shoulder_R", "UpperArm_R", "LowerArm_R", "Hand_R", "UpperLeg_L", "LowerLeg_L", "Foot_L", "Toes_L",
                 "UpperLeg_R", "LowerLeg_R", "Foot_R", "Toes_R"):
        text = text.replace(f" {name}\n", f" q{name.replace('_', '')}\n")
    dst.write_text(text)
    return dst


def test_edit_and_inbetween_take_mapping(run_cli, cli_model_dir, clip, tmp_path):
    import json

    from moscale_cli.io.bvh import BUILTIN_MAPPINGS

    odd = _renamed_rig(clip, tmp_path / "odd.bvh")
    code, _, err = run_cli("edit", odd, "a person jumps", "--region", "10:20", "-o", tmp_path / "e.npy",
                           "-m", cli_model_dir, *FAST)
    assert code != 0 and "--mapping" in err
    mp = {k: ([f"q{x.replace('_', '')}" for x in v] if isinstance(v, list) else f"q{v.replace('_', '')}")
          for k, v in BUILTIN_MAPPINGS["bandai-namco"].items()}
    mfile = tmp_path / "map.json"
    mfile.write_text(json.dumps(mp))
    code, _, err = run_cli("edit", odd, "a person jumps", "--region", "10:20", "-o", tmp_path / "e.npy",
                           "--mapping", mfile, "-m", cli_model_dir, *FAST)
    assert code == 0, err
    code, _, err = run_cli("inbetween", "a person turns", "--start", odd, "--end", odd, "--frames", "8",
                           "-o", tmp_path / "i.npy", "--mapping", mfile, "-m", cli_model_dir, *FAST)
    assert code == 0, err
    code, _, err = run_cli("edit", odd, "a person jumps", "--region", "10:20", "-o", mfile,
                           "--mapping", mfile, "-m", cli_model_dir, *FAST)
    assert code != 0 and json.loads(mfile.read_text()) == mp  # the mapping file is an input too


# ------------------------------------------------------------------ seam warning
def test_seam_above_one_and_a_half_p95_warns(monkeypatch, capsys):
    from moscale_cli.cli import edit_cmd
    from moscale_cli.cli.outputs import Outputs
    from moscale_cli.pipeline.results import EditedMotion, SeamReport

    def motion(jump: float) -> EditedMotion:
        j = np.zeros((10, 22, 3), np.float32)
        m = EditedMotion("x", j, np.zeros((10, 263), np.float32), 10, 20.0, regions=[(4, 5)], boundaries=[4, 5])
        m.seams = SeamReport([4, 5], [jump, 0.0], 0.2)
        return m

    writes: list[Path] = []
    monkeypatch.setattr("moscale_cli.io.files.save_motion", lambda path, *a, **k: writes.append(path))
    for jump, warned in ((0.34, True), (0.29, False)):
        capsys.readouterr()
        edit_cmd._write(motion(jump), Outputs([Path("unused.npy")]), False, False, None, 0.1)
        err = capsys.readouterr().err
        assert ("warning: a seam jumps" in err) == warned, err
        if warned:
            assert "1.70x the clip's p95 step" in err
