"""The IK/FK kit: swing, Kabsch, FK/IK on any hierarchy, bone-length-keeping resampling, SMPL-22 export rig."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from moscale_cli.errors import MoScaleError
from moscale_cli.motion.kinematics import (
    bone_lengths,
    children_of,
    forward_kinematics,
    inverse_kinematics,
    kabsch,
    local_from_global,
    resample,
    swing,
)
from moscale_cli.motion.quaternion import normalize, rotation_angle
from moscale_cli.motion.rig import SMPL22_FILE_ORDER, smpl22_rest_offsets, smpl22_rig
from moscale_cli.motion.skeleton import SMPL22

from .helpers import random_hierarchy_motion


@pytest.fixture
def rng():
    return np.random.default_rng(1)


def _random_tree(rng, n: int) -> list[int]:
    return [-1] + [int(rng.integers(0, k)) for k in range(1, n)]


def _random_rotations(rng, shape) -> np.ndarray:
    return Rotation.random(int(np.prod(shape)), random_state=rng).as_matrix().reshape(*shape, 3, 3)


def test_swing_is_minimal_and_handles_opposites(rng):
    a, b = rng.normal(size=(100, 3)), rng.normal(size=(100, 3))
    r = swing(a, b)
    np.testing.assert_allclose(np.einsum("nij,nj->ni", r, normalize(a)), normalize(b), atol=1e-12)
    # minimal: the rotation angle is the angle between the directions, the axis is perpendicular to both
    ang = np.arccos(np.clip(np.sum(normalize(a) * normalize(b), -1), -1, 1))
    np.testing.assert_allclose(rotation_angle(r), ang, atol=1e-7)
    opp = swing(a, -2.5 * a)
    np.testing.assert_allclose(np.einsum("nij,nj->ni", opp, normalize(a)), -normalize(a), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(opp), 1.0, atol=1e-12)


def test_kabsch_recovers_rotations_and_flat_sets(rng):
    rot = _random_rotations(rng, (30,))
    src = rng.normal(size=(30, 5, 3))
    dst = np.einsum("tij,tnj->tni", rot, src)
    np.testing.assert_allclose(kabsch(src, dst), rot, atol=1e-10)
    np.testing.assert_allclose(kabsch(src[0], dst[:1] * 1.0), rot[:1], atol=1e-10)  # shared source
    # one vector: the minimal rotation onto it (a proper rotation, not a reflection)
    one = kabsch(src[:, :1], dst[:, :1] * 3.0)
    np.testing.assert_allclose(
        np.einsum("tij,tj->ti", one, normalize(src[:, 0])), normalize(dst[:, 0]), atol=1e-9
    )
    np.testing.assert_allclose(np.linalg.det(one), 1.0, atol=1e-9)


def test_fk_ik_round_trip_on_random_hierarchies(rng):
    for n in (2, 7, 25):
        parents = _random_tree(rng, n)
        t = 12
        off = rng.normal(size=(n, 3))
        local = _random_rotations(rng, (t, n))
        root = rng.normal(size=(t, 3))
        trans = np.broadcast_to(off, (t, n, 3)).copy()
        trans[:, 0] = root
        pos, glob = forward_kinematics(parents, local, trans)
        np.testing.assert_allclose(glob[:, 0], local[:, 0])
        for k in range(1, n):
            p = parents[k]
            np.testing.assert_allclose(
                pos[:, k], pos[:, p] + np.einsum("tij,j->ti", glob[:, p], off[k]), atol=1e-12
            )
        g2, l2 = inverse_kinematics(parents, trans, pos)
        back, _ = forward_kinematics(parents, l2, trans)
        np.testing.assert_allclose(back, pos, atol=1e-9)
        np.testing.assert_allclose(local_from_global(parents, g2), l2, atol=1e-12)
        # with the true local rotations as the base, IK gives them back exactly (twists and leaves included)
        _, l3 = inverse_kinematics(parents, trans, pos, base_local=local, follow_twist=False)
        children = children_of(parents)
        has_parent_with_children = [k for k in range(n) if children[k] or k == 0]
        np.testing.assert_allclose(
            l3[:, has_parent_with_children], local[:, has_parent_with_children], atol=1e-8
        )
        np.testing.assert_allclose(l3, local, atol=1e-8)


def test_ik_per_frame_offsets_and_bad_hierarchy(rng):
    parents = [-1, 0, 1, 1]
    t = 5
    trans = rng.normal(size=(t, 4, 3))  # bone lengths change per frame (6-channel rigs)
    local = _random_rotations(rng, (t, 4))
    pos, _ = forward_kinematics(parents, local, trans)
    _, l2 = inverse_kinematics(parents, trans, pos)
    np.testing.assert_allclose(forward_kinematics(parents, l2, trans)[0], pos, atol=1e-9)
    with pytest.raises(MoScaleError, match="parent"):
        inverse_kinematics([-1, 2, 0], trans[:, :3], pos[:, :3])


def test_resample_linear_and_keeping_bone_lengths():
    x = np.linspace(0, 1, 31)[:, None, None] * np.ones((1, 22, 3))  # 1 s at 30 fps, linear
    y = resample(x, 30.0, 20.0)
    assert y.shape[0] == 21
    np.testing.assert_allclose(y[:, 0, 0], np.linspace(0, 1, 21), atol=1e-12)
    assert resample(x, 20.0, 20.0) is x
    # a bone spinning 30 degrees per frame: linear blending shortens it, the bone-wise blend does not
    t = np.arange(10)
    ang = np.radians(30.0) * t
    j = np.zeros((10, 2, 3))
    j[:, 1] = np.stack([np.cos(ang), np.zeros(10), np.sin(ang)], -1)
    lin = resample(j, 30.0, 20.0)
    keep = resample(j, 30.0, 20.0, parents=[-1, 0])
    assert np.linalg.norm(lin[1, 1]) < 0.99
    np.testing.assert_allclose(np.linalg.norm(keep[:, 1], axis=-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(keep[::2], j[::3], atol=1e-12)  # samples on source frames are the source


def test_smpl22_rig_keeps_the_motions_bone_lengths(hml_fixture_dir):
    j = np.load(hml_fixture_dir / "new_joints" / "012314.npy").astype(np.float64)
    for joints in (j, j * 1.3, random_hierarchy_motion(40, seed=3)):
        rig, values, local = smpl22_rig(joints)
        pos, _ = rig.forward(values)
        back = pos[:, np.argsort(SMPL22_FILE_ORDER)]
        np.testing.assert_allclose(back, joints, atol=1e-5)  # the fixture is float32
        lengths = np.median(bone_lengths(SMPL22.parents, joints), 0)
        for i, s in enumerate(SMPL22_FILE_ORDER):
            if s:
                assert abs(np.linalg.norm(rig.offsets[i]) - lengths[s]) < 1e-9
        assert rig.names[0] == "Hips" and rig.channels[0][:3] == ["Xposition", "Yposition", "Zposition"]
        assert all(c == ["Zrotation", "Xrotation", "Yrotation"] for c in rig.channels[1:])
        # Euler curves are continuous (no 360 degree jumps)
        rot = np.concatenate([values[:, 3:6], values[:, 6:]], axis=1)
        assert np.abs(np.diff(rot, axis=0)).max() < 180.0


def test_bone_length_variation_is_all_that_is_lost():
    j = random_hierarchy_motion(30, seed=5)
    noisy = j.copy()
    noisy[:, 20] += 0.004 * normalize(j[:, 20] - j[:, 18]) * np.sin(np.arange(30))[:, None]  # wrist bone
    rig, values, _ = smpl22_rig(noisy)
    back = rig.forward(values)[0][:, np.argsort(SMPL22_FILE_ORDER)]
    err = np.linalg.norm(back - noisy, axis=-1)
    lengths = np.linalg.norm(noisy[:, 20] - noisy[:, 18], axis=-1)
    np.testing.assert_allclose(err[:, 20], np.abs(lengths - np.median(lengths)), atol=1e-9)
    assert 0.002 < err[:, 20].max() < 0.0081 and np.delete(err, 20, axis=1).max() < 1e-9


def test_raw_offsets_rest_pose_cannot_fit_branches(hml_fixture_dir):
    """Why the branch bones take the clip's directions: with the raw right-angled offsets, the hips
    triangle of real data cannot be matched by any rotation (documents smpl22_rest_offsets)."""
    j = np.load(hml_fixture_dir / "new_joints" / "012314.npy").astype(np.float64)
    raw = SMPL22.offsets.astype(np.float64)
    _, local = inverse_kinematics(SMPL22.parents, raw, j)
    trans = np.broadcast_to(raw, j.shape).copy()
    trans[:, 0] = j[:, 0]
    err_raw = np.linalg.norm(forward_kinematics(SMPL22.parents, local, trans)[0] - j, axis=-1).max()
    off = smpl22_rest_offsets(j)
    _, local = inverse_kinematics(SMPL22.parents, off, j)
    trans = np.broadcast_to(off, j.shape).copy()
    trans[:, 0] = j[:, 0]
    err_fit = np.linalg.norm(forward_kinematics(SMPL22.parents, local, trans)[0] - j, axis=-1).max()
    assert err_raw > 0.02 and err_fit < 1e-5


@pytest.mark.parametrize("seed", [0, 1])
def test_twist_is_smooth(hml_fixture_dir, seed):
    """A joint's rotation never changes much more per frame than its bone direction and its parent do."""
    joints = [np.load(hml_fixture_dir / "new_joints" / "012314.npy").astype(np.float64)]
    joints.append(random_hierarchy_motion(60, seed=seed, amp=0.3))
    children = children_of(SMPL22.parents)
    for j in joints:
        off = smpl22_rest_offsets(j)
        glob, local = inverse_kinematics(SMPL22.parents, off, j)
        for k in range(1, 22):
            if len(children[k]) != 1:
                continue
            d = normalize(j[:, children[k][0]] - j[:, k])
            bone = np.degrees(np.arccos(np.clip(np.sum(d[1:] * d[:-1], -1), -1, 1)))
            gp = glob[:, SMPL22.parents[k]]
            par = np.degrees(rotation_angle(np.swapaxes(gp[:-1], -1, -2) @ gp[1:]))
            own = np.degrees(rotation_angle(np.swapaxes(glob[:-1, k], -1, -2) @ glob[1:, k]))
            assert (own - bone - par).max() < 30.0, SMPL22.joint_names[k]
        for k in (10, 11, 15, 20, 21):  # end effectors keep identity local rotations
            np.testing.assert_allclose(local[:, k], np.broadcast_to(np.eye(3), local[:, k].shape), atol=1e-9)
