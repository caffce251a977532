"""BVH import: parser + FK against bvhio's own FK, Bandai mapping, units, resampling, floor, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from moscale_cli.errors import MotionFileError
from moscale_cli.io.bvh import BANDAI_MAPPING, bvh_to_smpl22, read_bvh
from moscale_cli.motion.skeleton import SMPL22


def test_fk_matches_bvhio(short_bvh: Path):
    import bvhio

    clip = read_bvh(short_bvh)
    root = bvhio.readAsHierarchy(str(short_bvh))
    by_name = {j.Name: j for j, _, _ in root.layout()}
    assert set(by_name) == set(clip.names)
    for frame in (0, clip.num_frames // 2, clip.num_frames - 1):
        root.loadPose(frame)
        for k, name in enumerate(clip.names):
            p = by_name[name].PositionWorld
            np.testing.assert_allclose(
                clip.positions[frame, k], [p.x, p.y, p.z], atol=1e-3
            )  # cm units, float32 glm


def test_bandai_fixtures_map_to_smpl22(bvh_files: list[Path]):
    for path in bvh_files:
        clip = read_bvh(path)
        assert clip.names[0] == "joint_Root" and abs(clip.fps - 30.0) < 1e-3
        j = bvh_to_smpl22(path)
        expected_t = int(np.floor((clip.num_frames - 1) / clip.fps * 20 + 1e-6)) + 1
        assert j.shape == (expected_t, 22, 3) and j.dtype == np.float32
        assert abs(float(j[..., 1].min())) < 1e-6  # floor
        height = float(j[0, 15, 1] - j[0, [10, 11], 1].min())
        assert 1.0 < height < 2.0, height  # centimetres detected -> metres
        # left/right: turn the body to face +Z; the SMPL "left" joints must be on +X and the toes in front
        across = (j[0, 2] - j[0, 1]) + (j[0, 17] - j[0, 16])
        fwd = np.cross([0.0, 1.0, 0.0], across)
        yaw = np.arctan2(fwd[0], fwd[2])
        rot = Rotation.from_euler("y", -yaw).as_matrix()
        body = (j[0] - j[0, 0]) @ rot.T
        for left, right in ((1, 2), (13, 14), (16, 17), (18, 19), (20, 21), (7, 8)):
            assert body[left, 0] > body[right, 0], (path.name, SMPL22.joint_names[left])
        # the facing implied by left/right must be the real one
        acr = (j[:, 2] - j[:, 1]) + (j[:, 17] - j[:, 16])
        f = np.cross([0.0, 1.0, 0.0], acr)
        f /= np.linalg.norm(f, axis=-1, keepdims=True)
        toe_ahead = np.sum((j[:, [10, 11]] - j[:, [7, 8]]) * f[:, None], axis=-1)
        disp = (j[-1, 0] - j[0, 0]) * [1.0, 0.0, 1.0]
        if np.linalg.norm(disp) > 1.0:  # walking/running clips move the way the body faces
            assert disp @ f[0] > 0.5 * np.linalg.norm(disp), path.name
        else:
            assert toe_ahead.mean() > 0.05, (path.name, toe_ahead.mean())


def test_spine3_is_between_chest_and_neck(short_bvh: Path):
    clip = read_bvh(short_bvh)
    j = bvh_to_smpl22(short_bvh, target_fps=clip.fps, floor=False, scale=1.0)
    mid = (clip.positions[:, clip.index("Chest")] + clip.positions[:, clip.index("Neck")]) / 2
    np.testing.assert_allclose(j[:, 9], mid, atol=1e-3)
    np.testing.assert_allclose(j[:, 0], clip.positions[:, clip.index("Hips")], atol=1e-3)


def test_user_mapping_file_and_missing_joints(short_bvh: Path, tmp_path: Path):
    mp = tmp_path / "map.json"
    mp.write_text(json.dumps(BANDAI_MAPPING))
    np.testing.assert_array_equal(bvh_to_smpl22(short_bvh, mapping=mp), bvh_to_smpl22(short_bvh))
    partial = {k: v for k, v in BANDAI_MAPPING.items() if k not in ("head", "left_wrist")}
    with pytest.raises(MotionFileError, match="head, left_wrist"):
        bvh_to_smpl22(short_bvh, mapping=partial)
    with pytest.raises(MotionFileError, match="no joints named Nope"):
        bvh_to_smpl22(short_bvh, mapping={**BANDAI_MAPPING, "head": "Nope"})


def test_unknown_skeleton_needs_mapping(tmp_path: Path):
    p = tmp_path / "other.bvh"
    p.write_text(
        "HIERARCHY\nROOT Pelvis\n{\n OFFSET 0 0 0\n CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n"
        " JOINT Thigh\n {\n  OFFSET 0 -40 0\n  CHANNELS 3 Zrotation Xrotation Yrotation\n  End Site\n  {\n   OFFSET 0 -40 0\n  }\n }\n}\n"
        "MOTION\nFrames: 2\nFrame Time: 0.05\n0 90 0 0 0 0 0 0 0\n1 90 0 0 0 0 0 0 90\n"
    )
    clip = read_bvh(p)
    assert clip.names == ["Pelvis", "Thigh"] and clip.num_frames == 2
    np.testing.assert_allclose(clip.positions[1, 1], [1, 50, 0])
    with pytest.raises(MotionFileError, match="other.bvh: cannot map the skeleton to SMPL-22: no left hip"):
        bvh_to_smpl22(p)


def test_resampled_bones_keep_their_lengths(bvh_files: list[Path]):
    """30 -> 20 fps: bones keep the source's lengths (a linear blend of positions would shorten fast
    bones by up to 10 mm on the run clip)."""
    for path in bvh_files:
        clip = read_bvh(path)
        src = bvh_to_smpl22(path, target_fps=clip.fps, floor=False).astype(np.float64)
        j = bvh_to_smpl22(path, floor=False).astype(np.float64)
        for k, p in enumerate(SMPL22.parents):
            if p >= 0:
                ref = np.linalg.norm(src[:, k] - src[:, p], axis=-1)
                got = np.linalg.norm(j[:, k] - j[:, p], axis=-1)
                assert np.abs(got - np.median(ref)).max() < 2e-5, (path.name, SMPL22.joint_names[k])


def _set_value(text: str, frame: int, col: int, value: str) -> str:
    lines = text.splitlines()
    first = next(i for i, ln in enumerate(lines) if ln.startswith("Frame Time")) + 1
    vals = lines[first + frame].split()
    vals[col] = value
    lines[first + frame] = " ".join(vals)
    return "\n".join(lines) + "\n"


def _corrupt(src: Path, dst: Path, fn) -> Path:
    dst.write_text(fn(src.read_text()))
    return dst


@pytest.mark.parametrize(
    "name,fn,msg",
    [
        ("truncated", lambda s: s[: len(s) // 2], "truncated"),
        ("truncated_header", lambda s: s[: s.index("MOTION") - 40], "truncated|MOTION"),
        ("channels", lambda s: s.replace("CHANNELS 6", "CHANNELS 5", 2), "declares 5 channels but lists 6"),
        ("short_line", lambda s: s.rstrip().rsplit(" ", 1)[0] + "\n", "has 503 values|359 values|values but"),
        ("nan", lambda s: _set_value(s, frame=2, col=7, value="nan"), "NaN"),
        ("inf", lambda s: _set_value(s, frame=0, col=0, value="inf"), "NaN or infinite"),
        ("word", lambda s: s.replace("OFFSET 0.0 0.0 0.0", "OFFSET 0.0 abc 0.0", 1), "expected a number"),
        ("not_bvh", lambda s: "hello\n" + s, "not a BVH"),
    ],
)
def test_bad_bvh_one_line_errors(short_bvh: Path, tmp_path: Path, name, fn, msg):
    bad = _corrupt(short_bvh, tmp_path / f"{name}.bvh", fn)
    with pytest.raises(MotionFileError, match=msg) as ei:
        bvh_to_smpl22(bad)
    assert "\n" not in str(ei.value)
