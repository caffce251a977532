"""`moscale convert` / `moscale render` end to end, and one-line errors for bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

from moscale_cli.cli.app import main
from moscale_cli.io.bvh import bvh_to_smpl22
from moscale_cli.io.files import load_motion


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    """Exit code and stderr of ``moscale ARGS`` run in-process (a success returns, a failure exits)."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return code, capsys.readouterr().err


def test_convert_every_fixture(bvh_files: list[Path], tmp_path: Path, capsys):
    for src in bvh_files:
        stem = tmp_path / src.stem
        code, err = run_cli(["-q", "convert", src, "-o", f"{stem}.npy"], capsys)
        assert code == 0, err
        joints = np.load(f"{stem}.npy")
        np.testing.assert_allclose(joints, bvh_to_smpl22(src), atol=1e-6)
        code, err = run_cli(["-q", "convert", src, "-o", f"{stem}_f.npy", "--features"], capsys)
        assert code == 0, err
        assert np.load(f"{stem}_f.npy").shape == (len(joints) - 1, 263)
        code, err = run_cli(["-q", "convert", f"{stem}_f.npy", "-o", f"{stem}.bvh"], capsys)
        assert code == 0, err
        # features -> joints on the SMPL-22 skeleton -> BVH -> the same joints (1 cm)
        on_skel = load_motion(f"{stem}_f.npy").joints
        assert np.linalg.norm(load_motion(f"{stem}.bvh").joints - on_skel, axis=-1).max() < 0.01
        code, err = run_cli(["-q", "convert", src, "-o", f"{stem}_direct.bvh"], capsys)
        assert code == 0, err
        # bvh -> npy -> bvh -> npy: the motion's own bone lengths are written, so within 5 mm
        for a, b in ((f"{stem}.npy", f"{stem}_rt.bvh"), (f"{stem}_rt.bvh", f"{stem}_rt.npy")):
            code, err = run_cli(["-q", "convert", a, "-o", b], capsys)
            assert code == 0, err
        assert np.linalg.norm(np.load(f"{stem}_rt.npy") - joints, axis=-1).max() < 0.005
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_render_and_convert_to_video(short_bvh: Path, tmp_path: Path, capsys):
    out = tmp_path / "clip.mp4"
    code, err = run_cli(
        ["render", short_bvh, "-o", out, "--title", "raise both hands", "--fps", "25"], capsys
    )
    assert code == 0, err
    assert "wrote" in err
    n = len(bvh_to_smpl22(short_bvh))
    frames, secs = imageio_ffmpeg.count_frames_and_secs(str(out))
    assert frames == n and abs(secs - n / 25) < 0.1
    np.save(tmp_path / "few.npy", bvh_to_smpl22(short_bvh)[:5])
    code, err = run_cli(["-q", "convert", tmp_path / "few.npy", "-o", tmp_path / "few.gif"], capsys)
    assert code == 0, err
    from PIL import Image

    with Image.open(tmp_path / "few.gif") as im:
        assert im.n_frames == 5


def test_every_fixture_renders(bvh_files: list[Path], tmp_path: Path):
    from moscale_cli.io.files import save_motion

    for src in bvh_files:
        out = tmp_path / f"{src.stem}.mp4"
        save_motion(out, load_motion(src).joints[:6], caption=src.stem)
        assert imageio_ffmpeg.count_frames_and_secs(str(out)) == (6, 0.3)


def _truncated(src: Path, dst: Path) -> Path:
    text = src.read_text()
    dst.write_text(text[: int(len(text) * 0.7)])
    return dst


def _bad_channels(src: Path, dst: Path) -> Path:
    dst.write_text(src.read_text().replace("CHANNELS 6", "CHANNELS 7", 1))
    return dst


def _nan_bvh(src: Path, dst: Path) -> Path:
    lines = src.read_text().splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith("Frame Time")) + 3
    vals = lines[i].split()
    vals[8] = "nan"
    lines[i] = " ".join(vals)
    dst.write_text("\n".join(lines) + "\n")
    return dst


def _nan_npy(src: Path, dst: Path) -> Path:
    a = np.zeros((8, 22, 3), dtype=np.float32)
    a[2, 3, 1] = np.nan
    np.save(dst, a)
    return dst


def _wrong_shape_npy(src: Path, dst: Path) -> Path:
    np.save(dst, np.zeros((8, 24, 3), dtype=np.float32))
    return dst


@pytest.mark.parametrize(
    "make,suffix,out_name,expect",
    [
        (_truncated, ".bvh", "out.npy", "truncated"),
        (_bad_channels, ".bvh", "out.bvh", "declares 7 channels"),
        (_nan_bvh, ".bvh", "out.mp4", "NaN"),
        ("legless_bvh", ".bvh", "out.npy", "cannot map the skeleton to SMPL-22: no left hip, right hip joint"),
        ("zero_bone_bvh", ".bvh", "out.bvh", "zero-length bones between mapped joints (left_knee-left_ankle)"),
        (_nan_npy, ".npy", "out.bvh", "NaN"),
        (_wrong_shape_npy, ".npy", "out.mp4", "not a motion"),
        (None, ".bvh", "out.fbx", "supported extensions"),
        (None, ".bvh", "afile/out.bvh", "afile is a file, not a folder"),
        (None, ".bvh", "afile/deeper/out.npy", "afile is a file, not a folder"),
    ],
)
def test_bad_input_one_line(short_bvh: Path, tmp_path: Path, capsys, rigs, make, suffix, out_name, expect):
    make = getattr(rigs, make) if isinstance(make, str) else make  # broken-file makers of tests/motion/rigs.py
    src = make(short_bvh, tmp_path / f"in{suffix}") if make else short_bvh
    (tmp_path / "afile").write_text("x")
    before = set(tmp_path.iterdir())
    code, err = run_cli(["convert", src, "-o", tmp_path / out_name], capsys)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and expect in lines[0], err
    assert "Traceback" not in err
    assert set(tmp_path.iterdir()) == before  # no output, no temp file


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_readonly_folder(short_bvh: Path, tmp_path: Path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        code, err = run_cli(["convert", short_bvh, "-o", ro / "x.npy"], capsys)
    finally:
        ro.chmod(0o700)
    assert code != 0 and "not writable" in err and not list(ro.iterdir())


def test_subprocess_no_traceback(short_bvh: Path, tmp_path: Path):
    bad = _truncated(short_bvh, tmp_path / "t.bvh")
    r = subprocess.run(
        [sys.executable, "-m", "moscale_cli", "convert", str(bad), "-o", str(tmp_path / "o.npy")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1 and "truncated" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o.npy").exists()


def test_render_rejects_non_video(short_bvh: Path, tmp_path: Path, capsys):
    code, err = run_cli(["render", short_bvh, "-o", tmp_path / "x.npy"], capsys)
    assert code == 2 and ".mp4, .gif or .html" in err and not (tmp_path / "x.npy").exists()
