"""Source-rig building blocks: read_bvh keeps the file, source joints in the clip's own space, solving a
clip's channels onto new joints, writing on the source's own hierarchy; other rigs (CMU/Mixamo names,
centimetres, 120 fps, fingers); bad rigs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from moscale_cli.errors import MotionFileError
from moscale_cli.io.bvh import (
    bvh_to_smpl22,
    import_bvh_smpl22,
    read_bvh,
    resolve_mapping,
    solve_rig_channels,
    source_smpl22,
    write_bvh_like,
    write_rig,
)
from moscale_cli.motion.kinematics import resample
from moscale_cli.motion.rig import rig_smpl22
from moscale_cli.motion.skeleton import SMPL22


def _motion_lines(text: str) -> list[str]:
    lines = text.replace("\r\n", "\n").split("\n")
    start = next(i for i, ln in enumerate(lines) if ln.startswith("Frame Time")) + 1
    return [ln for ln in lines[start:] if ln.strip()]


def test_read_keeps_the_file(bvh_files: list[Path], tmp_path: Path):
    for path in bvh_files:
        clip = read_bvh(path)
        text = path.read_text()
        assert clip.names[:3] == ["joint_Root", "Hips", "Spine"] and clip.parents[:3] == [-1, 0, 1]
        assert all(
            c == ["Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation"]
            for c in clip.channels
        )
        assert sorted(clip.names[k] for k in clip.end_sites) == sorted(
            ["Head", "Hand_L", "Hand_R", "Toes_L", "Toes_R"]
        )
        assert clip.values.shape == (clip.num_frames, 6 * len(clip.names))
        assert clip.motion_lines == _motion_lines(text)
        np.testing.assert_array_equal(clip.values[3], np.array(clip.motion_lines[3].split(), dtype=float))
        assert text.startswith(clip.header) and clip.header.endswith("Frame Time:\t0.0333333\n")
        out = tmp_path / path.name
        write_bvh_like(out, clip, clip.values, np.ones(clip.num_frames, bool))
        assert out.read_bytes() == path.read_bytes()  # byte for byte


def test_crlf_file_round_trips_byte_for_byte(short_bvh: Path, tmp_path: Path, bvh_grammar):
    crlf = tmp_path / "crlf.bvh"
    crlf.write_bytes(short_bvh.read_bytes().replace(b"\n", b"\r\n"))
    clip = read_bvh(crlf)
    assert clip.newline == "\r\n"
    out = tmp_path / "out.bvh"
    write_bvh_like(out, clip, clip.values, np.ones(clip.num_frames, bool))
    assert out.read_bytes() == crlf.read_bytes()
    keep = np.ones(clip.num_frames, bool)
    keep[2:5] = False
    write_bvh_like(out, clip, clip.values + 1.0, keep)
    data = out.read_bytes()
    assert data.count(b"\n") == data.count(b"\r\n")  # every line break stays CRLF
    bvh_grammar(out.read_text())
    np.testing.assert_allclose(read_bvh(out).values[2:5], clip.values[2:5] + 1.0, atol=1e-6)


def test_source_joints_and_the_import_transform(short_bvh: Path):
    clip = read_bvh(short_bvh)
    src = source_smpl22(clip)
    assert src.kind == "bandai-namco" and src.scale == 0.01 and src.fps == pytest.approx(30.0, rel=1e-5)
    np.testing.assert_array_equal(src.joints[:, 0], clip.positions[:, clip.index("Hips")])  # clip space, cm
    imp = import_bvh_smpl22(short_bvh)
    expected = resample(src.joints * 0.01, src.fps, 20.0, SMPL22.parents)
    expected[..., 1] -= imp.floor_offset
    np.testing.assert_allclose(imp.joints, expected, atol=1e-6)
    assert imp.floor_offset == pytest.approx(
        float((resample(src.joints * 0.01, src.fps, 20.0, SMPL22.parents))[..., 1].min())
    )
    np.testing.assert_array_equal(imp.joints, bvh_to_smpl22(short_bvh))
    same = import_bvh_smpl22(short_bvh, target_fps=clip.fps)  # no resampling: exactly the clip, moved
    np.testing.assert_allclose(same.to_source_units(same.joints), src.joints, atol=1e-4)


@pytest.mark.parametrize("twist", ["frame", "nearest"])
def test_solve_on_own_joints_and_write_on_the_source(
    bvh_files: list[Path], tmp_path: Path, bvh_grammar, twist
):
    for path in bvh_files[:3]:
        clip = read_bvh(path)
        src = source_smpl22(clip)
        t = clip.num_frames
        frames = np.arange(t // 4, t // 2)
        values = solve_rig_channels(clip, None, src.joints[frames], frames, twist=twist)
        keep = np.ones(t, bool)
        keep[frames] = False
        np.testing.assert_array_equal(values[keep], clip.values[keep])
        back = rig_smpl22(clip.rig, clip.rig.forward(values)[0], src.mapping)
        assert np.abs(back - src.joints).max() < 0.1  # cm: within 1 mm
        out = tmp_path / path.name
        write_bvh_like(out, clip, values, keep)
        text = out.read_text()
        bvh_grammar(text)
        assert text.startswith(clip.header)  # hierarchy and frame time unchanged
        lines = _motion_lines(text)
        assert [ln for ln, k in zip(lines, keep, strict=True) if k] == [
            ln for ln, k in zip(clip.motion_lines, keep, strict=True) if k
        ]
        again = source_smpl22(read_bvh(out))
        assert np.abs(again.joints - src.joints).max() < 0.1


def test_fewer_or_more_frames(short_bvh: Path, tmp_path: Path, bvh_grammar):
    clip = read_bvh(short_bvh)
    t = clip.num_frames
    longer = np.concatenate([clip.values, clip.values[-3:]])
    keep = np.r_[np.ones(t, bool), np.zeros(3, bool)]
    write_bvh_like(tmp_path / "long.bvh", clip, longer, keep)
    assert bvh_grammar((tmp_path / "long.bvh").read_text())["frames"] == t + 3
    write_bvh_like(tmp_path / "short.bvh", clip, clip.values[:5], np.ones(5, bool))
    assert read_bvh(tmp_path / "short.bvh").motion_lines == clip.motion_lines[:5]
    with pytest.raises(MotionFileError, match="cannot be kept"):
        write_bvh_like(tmp_path / "x.bvh", clip, longer, np.ones(t + 3, bool))
    with pytest.raises(MotionFileError, match="do not fit"):
        write_bvh_like(tmp_path / "x.bvh", clip, clip.values[:, :-1], np.ones(t, bool))
    assert not (tmp_path / "x.bvh").exists()


def test_other_rig_cm_120fps_fingers(rigs, tmp_path: Path, bvh_grammar):
    rig, smpl = rigs.mixamo_rig(prefix="mixamorig:", units=100.0, order="XYZ")
    values = rigs.random_values(rig, 240, seed=0, walk=1.0)  # 2 s at 120 fps
    path = tmp_path / "mixamo.bvh"
    write_rig(path, rig, values, 1.0 / 120.0)
    bvh_grammar(path.read_text())
    clip = read_bvh(path)
    assert clip.fps == pytest.approx(120.0) and clip.names == rig.names
    kind, mp = resolve_mapping(clip)
    assert kind == "detected" and mp["left_hip"] == "mixamorig:LeftUpLeg"
    j = bvh_to_smpl22(path)
    assert j.shape == (int((240 - 1) / 120 * 20) + 1, 22, 3)
    src = source_smpl22(clip)
    assert src.scale == 0.01  # centimetres detected
    np.testing.assert_allclose(np.ptp(j[0], axis=0), np.ptp(src.joints[0], axis=0) * 0.01, atol=1e-6)
    # new motion in region 60..150 (same rig, other values): mapped joints follow, fingers hold
    other = rigs.random_values(rig, 240, seed=5, amp=30.0)
    new = rig_smpl22(rig, rig.forward(other)[0], mp)
    frames = np.arange(60, 150)
    out_vals = solve_rig_channels(clip, None, new[frames], frames)
    keep = np.ones(240, bool)
    keep[frames] = False
    out = tmp_path / "edited.bvh"
    write_bvh_like(out, clip, out_vals, keep)
    edited = read_bvh(out)
    assert edited.names == clip.names and edited.header == clip.header
    got = rig_smpl22(edited.rig, edited.positions, mp)
    assert np.abs(got[frames] - new[frames]).max() < 1e-3  # cm, file precision
    fingers = [k for k, s in enumerate(smpl) if s is None]
    assert len(fingers) >= 5
    for k in fingers:
        cols = clip.rig.columns[k]
        near = np.where(frames < 105, 59, 150)
        np.testing.assert_allclose(edited.values[frames][:, cols], clip.values[near][:, cols], atol=1e-6)


def _rewrite(src: Path, dst: Path, fn) -> Path:
    dst.write_text(fn(src.read_text()))
    return dst


def test_bad_rigs_one_line(short_bvh: Path, tmp_path: Path):
    zero = _rewrite(
        short_bvh,
        tmp_path / "zero.bvh",
        lambda s: s.replace("OFFSET 40.9854 0.0 -1.26872e-05", "OFFSET 0 0 0"),
    )
    clip = read_bvh(zero)
    values = clip.values.copy()
    values[:, clip.rig.columns[clip.index("Foot_L")][:3]] = 0.0  # the ankle sits on the knee
    write_rig(zero, clip.rig, values, clip.frame_time)
    with pytest.raises(
        MotionFileError, match=r"zero.bvh: the rig has zero-length bones .*left_knee-left_ankle"
    ) as e:
        bvh_to_smpl22(zero)
    assert "\n" not in str(e.value)
    for name, fn, what in (
        ("legless", lambda s: s.replace("UpperLeg_", "Thing_"), "no left hip, right hip joint found"),
        ("headless", lambda s: s.replace("Hips", "Body"), r"no pelvis \(Hips\) joint found"),
    ):
        bad = _rewrite(short_bvh, tmp_path / f"{name}.bvh", fn)
        with pytest.raises(
            MotionFileError, match=f"{name}.bvh: cannot map the skeleton to SMPL-22: {what}"
        ) as e:
            bvh_to_smpl22(bad)
        assert "\n" not in str(e.value) and "JSON mapping" in str(e.value)
