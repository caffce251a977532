"""BVH export: hierarchy, IK round trip within 1 cm on SMPL-22 skeleton joints, smooth twist, foot lock."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from moscale_cli.errors import MotionFileError
from moscale_cli.io.bvh import (
    SMPL22_BVH_NAMES,
    _children,
    bvh_to_smpl22,
    forward_kinematics,
    inverse_kinematics,
    read_bvh,
    rest_offsets_for,
    write_bvh,
)
from moscale_cli.io.footlock import LEGS, contact_segments, lock_feet
from moscale_cli.io.rotations import normalize, rotation_angle
from moscale_cli.motion.skeleton import SMPL22


def _roundtrip_error(joints: np.ndarray, path: Path) -> float:
    write_bvh(path, joints)
    back = bvh_to_smpl22(path)
    assert back.shape == joints.shape
    return float(np.linalg.norm(back - joints, axis=-1).max())


def test_hierarchy_and_header(tmp_path: Path):
    j = SMPL22.rest_pose()[None].repeat(3, 0) + [0.0, 0.9, 0.0]
    p = tmp_path / "rest.bvh"
    write_bvh(p, j)
    clip = read_bvh(p)
    assert clip.names == [SMPL22_BVH_NAMES[k] for k in _dfs_order()]
    assert abs(clip.frame_time - 0.05) < 1e-9 and clip.num_frames == 3
    text = p.read_text()
    assert text.count("CHANNELS 6") == 1 and text.count("CHANNELS 3") == 21
    # parents of the BVH hierarchy are SMPL-22's
    idx = [SMPL22_BVH_NAMES.index(n) for n in clip.names]
    for k, par in enumerate(clip.parents):
        assert (SMPL22.parents[idx[k]] == -1) if par < 0 else (SMPL22.parents[idx[k]] == idx[par])
    # single-child bones keep the skeleton's offsets exactly (rest pose from SMPL22.offsets)
    for k, name in enumerate(clip.names):
        s = SMPL22_BVH_NAMES.index(name)
        if SMPL22.parents[s] not in (0, 9) and s != 0:
            np.testing.assert_allclose(clip.offsets[k], SMPL22.offsets[s], atol=1e-6)
        elif s:
            assert abs(np.linalg.norm(clip.offsets[k]) - SMPL22.bone_lengths[s]) < 1e-5


def _dfs_order() -> list[int]:
    ch = _children(SMPL22.parents)
    out: list[int] = []

    def visit(k: int) -> None:
        out.append(k)
        for c in ch[k]:
            visit(c)

    visit(0)
    return out


def test_humanml3d_joints_roundtrip(hml_fixture_dir: Path, tmp_path: Path):
    j = np.load(hml_fixture_dir / "new_joints" / "012314.npy")
    err = _roundtrip_error(j, tmp_path / "hml.bvh")
    assert err < 0.01, err
    assert err < 1e-4  # in practice: file precision (6 decimals)


def test_fixture_bvh_roundtrip_within_1cm(bvh_files: list[Path], tmp_path: Path, on_skeleton):
    errs = {}
    for path in bvh_files:
        j = on_skeleton(bvh_to_smpl22(path))
        errs[path.name] = _roundtrip_error(j, tmp_path / path.name)
    print("max round-trip error (m):", errs)
    assert max(errs.values()) < 0.01, errs


def test_ik_fk_exact_and_rotations_bvhio_readable(short_bvh: Path, tmp_path: Path, on_skeleton):
    import bvhio

    j = on_skeleton(bvh_to_smpl22(short_bvh)).astype(np.float64)
    off = rest_offsets_for(j)
    _, local = inverse_kinematics(j, off)
    np.testing.assert_allclose(forward_kinematics(local, j[:, 0], off), j, atol=1e-4)
    # an independent reader (bvhio's hierarchy + FK) sees the same joints in our file
    p = tmp_path / "ours.bvh"
    write_bvh(p, j)
    root = bvhio.readAsHierarchy(str(p))
    by_name = {jt.Name: jt for jt, _, _ in root.layout()}
    for frame in (0, len(j) - 1):
        root.loadPose(frame)
        got = np.array([list(by_name[n].PositionWorld) for n in SMPL22_BVH_NAMES])
        np.testing.assert_allclose(got, j[frame], atol=1e-4)


def test_twist_is_smooth(bvh_files: list[Path], on_skeleton):
    """A joint's rotation never changes much more per frame than its bone direction and its parent do."""
    children = _children(SMPL22.parents)
    for path in bvh_files:
        j = on_skeleton(bvh_to_smpl22(path)).astype(np.float64)
        glob, local = inverse_kinematics(j)
        for k in range(1, 22):
            if len(children[k]) != 1:
                continue
            d = normalize(j[:, children[k][0]] - j[:, k])
            bone = np.degrees(np.arccos(np.clip(np.sum(d[1:] * d[:-1], -1), -1, 1)))
            gp = glob[:, SMPL22.parents[k]]
            par = np.degrees(rotation_angle(np.swapaxes(gp[:-1], -1, -2) @ gp[1:]))
            own = np.degrees(rotation_angle(np.swapaxes(glob[:-1, k], -1, -2) @ glob[1:, k]))
            assert (own - bone - par).max() < 30.0, (path.name, SMPL22.joint_names[k])
        # end effectors keep identity local rotations
        for k in (10, 11, 15, 20, 21):
            np.testing.assert_allclose(local[:, k], np.broadcast_to(np.eye(3), local[:, k].shape), atol=1e-9)


def test_raw_offsets_rest_pose_cannot_fit_branches(hml_fixture_dir: Path):
    """Why the branch bones take the clip's directions: with the raw right-angled offsets, the hips
    triangle of real data cannot be matched by any rotation (documents rest_offsets_for)."""
    j = np.load(hml_fixture_dir / "new_joints" / "012314.npy").astype(np.float64)
    raw = SMPL22.offsets.astype(np.float64)
    _, local = inverse_kinematics(j, raw)
    err_raw = np.linalg.norm(forward_kinematics(local, j[:, 0], raw) - j, axis=-1).max()
    off = rest_offsets_for(j)
    _, local = inverse_kinematics(j, off)
    err_fit = np.linalg.norm(forward_kinematics(local, j[:, 0], off) - j, axis=-1).max()
    assert err_raw > 0.02 and err_fit < 1e-5


def test_write_rejects_bad_joints(tmp_path: Path):
    p = tmp_path / "x.bvh"
    with pytest.raises(MotionFileError, match=r"\(T, 22, 3\)"):
        write_bvh(p, np.zeros((5, 21, 3)))
    bad = np.zeros((5, 22, 3))
    bad[3, 4, 1] = np.nan
    with pytest.raises(MotionFileError, match="frame 3"):
        write_bvh(p, bad)
    assert list(tmp_path.iterdir()) == []


def test_foot_lock(bvh_files: list[Path], tmp_path: Path, on_skeleton):
    walk = next(p for p in bvh_files if "_walk_" in p.name)
    j = on_skeleton(bvh_to_smpl22(walk)).astype(np.float64)
    k = lock_feet(j)
    untouched = [i for i in range(22) if i not in (4, 5, 7, 8, 10, 11)]
    np.testing.assert_array_equal(k[:, untouched], j[:, untouched])
    total_before = total_after = 0.0
    for hip, knee, ankle, toe in LEGS:
        for a, b in ((hip, knee), (knee, ankle), (ankle, toe)):
            np.testing.assert_allclose(
                np.linalg.norm(k[:, a] - k[:, b], axis=-1),
                np.linalg.norm(j[:, a] - j[:, b], axis=-1),
                atol=1e-6,
            )
        segs = contact_segments(j[:, toe], 20.0)
        assert segs, "a walk has foot contacts"
        for s, e in segs:
            total_before += np.ptp(j[s:e, ankle][:, [0, 2]], axis=0).sum()
            total_after += np.ptp(k[s:e, ankle][:, [0, 2]], axis=0).sum()
    assert total_after < 0.5 * total_before, (total_before, total_after)
    # the cleaned BVH still round-trips to the cleaned joints
    p = tmp_path / "clean.bvh"
    write_bvh(p, j, foot_cleanup=True)
    assert np.linalg.norm(bvh_to_smpl22(p) - k, axis=-1).max() < 0.01
