"""The post-process of generated motion: rigid bones (exactly), the BVH writer's skeleton (NPY and BVH agree),
foot contacts pinned with leg IK and root lowering, no new penetration, pins kept exactly, kept frames bitwise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from moscale_cli.errors import MoScaleError
from moscale_cli.evaluation.physics import foot_skate
from moscale_cli.motion.kinematics import bone_lengths, two_bone_ik
from moscale_cli.motion.postprocess import (
    PostprocessConfig,
    contact_segments,
    fade_frames,
    postprocess,
    reach,
    rigidify,
    split_slides,
)
from moscale_cli.motion.skeleton import SMPL22

from .helpers import random_smooth_motion


def stretchy(n: int = 80, seed: int = 0, noise: float = 0.01) -> np.ndarray:
    """A smooth motion whose joints carry independent noise: every bone's length varies over the clip, as
    generated joints do."""
    rng = np.random.default_rng(seed)
    j = random_smooth_motion(n, seed)
    return j + rng.normal(scale=noise, size=j.shape)


def sway(n: int = 60, amp: float = 0.1, hz: float = 1.0) -> np.ndarray:
    """The rest pose standing on the floor (feet flat, toes and ankles at y = 0), the whole body swaying
    sideways by ``amp`` metres at ``hz``: both feet slide on the floor (up to 0.63 m/s for 0.1 m at 1 Hz)."""
    rest = SMPL22.rest_pose().astype(np.float64)
    rest[:, 1] -= rest[:, 1].min()
    x = amp * np.sin(2 * np.pi * hz * np.arange(n) / 20.0)
    j = np.repeat(rest[None], n, axis=0)
    j[..., 0] += x[:, None]
    return j


def bone_at0(j: np.ndarray, k: int) -> float:
    """Length of the bone parent(k) -> k at frame 0."""
    return float(np.linalg.norm(j[0, k] - j[0, SMPL22.parents[k]]))


def spread(j: np.ndarray) -> np.ndarray:
    """(J,) max - min over the clip of every bone's length."""
    lengths = bone_lengths(SMPL22.parents, j)
    return lengths.max(0) - lengths.min(0)


def test_bones_are_rigid_and_the_bvh_writers_skeleton():
    from moscale_cli.motion.rig import smpl22_rest_offsets

    raw = stretchy()
    assert spread(raw)[1:].min() > 0.01  # every bone stretches in the input
    res = postprocess(raw)
    assert spread(res.joints).max() < 1e-9  # constant to float precision
    np.testing.assert_allclose(bone_lengths(SMPL22.parents, res.joints)[0, 1:],
                               np.median(bone_lengths(SMPL22.parents, raw), axis=0)[1:], atol=1e-12)
    # the BVH writer solves the same skeleton from the cleaned joints: the same bones, and the pelvis and
    # chest triangles in the same shape
    again = smpl22_rest_offsets(res.joints)
    np.testing.assert_allclose(np.linalg.norm(again, axis=-1), np.linalg.norm(res.offsets, axis=-1), atol=1e-9)
    for tri in ((1, 2, 3), (13, 14, 12)):
        for a, b in ((0, 1), (0, 2), (1, 2)):
            d0 = np.linalg.norm(res.offsets[tri[a]] - res.offsets[tri[b]])
            assert abs(np.linalg.norm(again[tri[a]] - again[tri[b]]) - d0) < 1e-9


def test_npy_and_bvh_of_the_cleaned_joints_agree_within_1mm(tmp_path: Path):
    from moscale_cli.io.bvh import bvh_to_smpl22, write_bvh

    raw = stretchy(seed=3)
    clean = postprocess(raw).joints.astype(np.float32)
    for joints, name in ((raw, "raw.bvh"), (clean, "clean.bvh")):
        write_bvh(tmp_path / name, joints)
    raw_gap = np.linalg.norm(bvh_to_smpl22(tmp_path / "raw.bvh") - raw, axis=-1).max()
    clean_gap = np.linalg.norm(bvh_to_smpl22(tmp_path / "clean.bvh") - clean, axis=-1).max()
    assert raw_gap > 0.01 and clean_gap < 1e-4, (raw_gap, clean_gap)


def test_a_sliding_foot_is_pinned_with_leg_ik_and_a_lower_root():
    raw = sway()
    assert foot_skate(raw) > 0.3
    res = postprocess(raw)
    j = res.joints
    assert res.contacts.all()  # flat feet on the floor, slower than the contact speed
    for toe, ankle in ((10, 7), (11, 8)):
        for k in (toe, ankle):
            assert np.ptp(j[:, k], axis=0).max() < 1e-6, k  # does not move at all
    assert foot_skate(j) == 0.0
    assert res.drop.max() > 0.002  # straight legs cannot follow a swaying hip: the body is lowered
    assert spread(j).max() < 1e-9
    assert j[:, [7, 8, 10, 11], 1].min() > -1e-9  # no penetration
    # the upper body keeps its sway
    np.testing.assert_allclose(j[:, 15, 0] - j[0, 15, 0], raw[:, 15, 0] - raw[0, 15, 0], atol=0.02)


def test_feet_are_not_pushed_below_the_floor():
    raw = stretchy(seed=5)
    raw[..., 1] -= raw[:, [10, 11], 1].min() - 0.01  # the lowest toe 1 cm above the floor
    res = postprocess(raw)
    low = np.minimum(raw[:, [7, 10, 8, 11], 1], 0.0)
    assert (res.joints[:, [7, 10, 8, 11], 1] >= low - 1e-9).all()


def test_switched_off_parts():
    raw = stretchy(seed=2)
    same = postprocess(raw, config=PostprocessConfig(rigid=False, feet=False, smooth=0.0)).joints
    assert np.array_equal(same, raw)
    rigid_only = postprocess(raw, config=PostprocessConfig(feet=False, smooth=0.0)).joints
    np.testing.assert_allclose(rigid_only, rigidify(raw, keep_hands=True)[0], atol=1e-12)
    # with the hands kept, the wrists stay where they were relative to the shoulders (the arms reach them)
    arm = bone_at0(rigid_only, 18) + bone_at0(rigid_only, 20)
    reachable = np.linalg.norm(raw[:, 20] - raw[:, 16], axis=-1) < 0.99 * arm
    assert reachable.mean() > 0.5
    np.testing.assert_allclose((rigid_only[:, 20] - rigid_only[:, 16])[reachable], (raw[:, 20] - raw[:, 16])[reachable], atol=1e-9)


def test_pinned_joints_end_exactly_on_their_targets():
    raw = stretchy(seed=1)
    rng = np.random.default_rng(0)
    wrist = raw[[10, 30, 31], 20] + rng.normal(scale=0.03, size=(3, 3))
    pelvis = np.array([[raw[5, 0, 0] + 0.1, np.nan, raw[5, 0, 2] - 0.05]])
    head = raw[[50], 15] + [0.02, -0.01, 0.0]
    pins = {20: ([10, 30, 31], wrist), 0: ([5], pelvis), 15: ([50], head), 10: ([60], raw[[60], 10])}
    res = postprocess(raw, pins=pins)
    j = res.joints
    assert np.array_equal(j[[10, 30, 31], 20], wrist)
    assert j[5, 0, 0] == pelvis[0, 0] and j[5, 0, 2] == pelvis[0, 2]
    assert np.array_equal(j[50, 15], head[0]) and np.array_equal(j[60, 10], raw[60, 10])
    assert spread(j).max() < 1e-6  # reachable targets: the bones stay rigid


def test_an_unreachable_target_is_still_met():
    raw = stretchy(seed=4)
    far = raw[[20], 20] + [0.0, 3.0, 0.0]  # 3 m above the wrist: no arm reaches it
    j = postprocess(raw, pins={20: ([20], far)}).joints
    assert np.array_equal(j[20, 20], far[0])


def test_kept_frames_are_bitwise_and_feet_touching_them_stay():
    """An edit: frames 30..59 regenerated (noisy, sliding feet) between kept frames of a rigid source."""
    raw = sway(80)
    raw[30:60] += np.random.default_rng(1).normal(scale=0.005, size=raw[30:60].shape)
    raw32 = raw.astype(np.float32)
    keep = np.ones(80, bool)
    keep[30:60] = False
    res = postprocess(raw32, keep=keep)
    out = res.joints.astype(np.float32)
    assert np.array_equal(out[keep].view(np.int32), raw32[keep].view(np.int32))
    assert not np.allclose(out[~keep], raw32[~keep], atol=1e-4)
    # the feet stay planted from the last kept frame to the next (they slid in the input): no jump at a seam
    for a, b in ((29, 30), (59, 60)):
        assert np.linalg.norm(raw32[b, [10, 11]] - raw32[a, [10, 11]], axis=-1).max() > 0.02
        assert np.linalg.norm(out[b, [10, 11]] - out[a, [10, 11]], axis=-1).max() < 0.005
    assert foot_skate(out[30:60]) == 0.0 and foot_skate(raw32[30:60]) > 0.3


def test_helpers():
    m = np.array([0, 1, 1, 0, 1, 0, 0, 0, 1, 1, 1, 0], bool)
    assert contact_segments(m, min_len=2, merge_gap=1) == [(1, 5), (8, 11)]
    assert contact_segments(m, min_len=3, merge_gap=0) == [(8, 11)]
    root, mid = np.zeros((1, 3)), np.array([[0.0, -0.4, 0.1]])
    for target in ([0.1, -0.6, 0.2], [0.0, -2.0, 0.0]):  # reachable, too far
        knee, ankle = two_bone_ik(root, mid, np.array([target]), 0.4, 0.42, np.array([[0.0, 0.0, 1.0]]))
        assert abs(np.linalg.norm(knee - root) - 0.4) < 1e-9 and abs(np.linalg.norm(ankle - knee) - 0.42) < 1e-9
    pose = stretchy(1)[0]
    moved = reach(pose, 21, pose[21] + [0.05, 0.05, 0.0])
    assert np.allclose(moved[21], pose[21] + [0.05, 0.05, 0.0])
    untouched = [k for k in range(22) if k not in (19, 21)]
    assert np.array_equal(moved[untouched], pose[untouched])  # two-bone IK of the arm only


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(pins={22: ([0], [[0, 0, 0]])}), "joint index"),
        (dict(pins={3: ([0, 0], [[0, 0, 0], [0, 0, 0]])}), "twice"),
        (dict(pins={3: ([500], [[0, 0, 0]])}), "frames must lie"),
        (dict(pins={3: ([1], [[0, 0, 0], [1, 1, 1]])}), "positions"),
        (dict(keep=np.ones(7, bool)), "keep mask"),
    ],
)
def test_bad_arguments_are_one_line_errors(kwargs, match):
    with pytest.raises(MoScaleError, match=match):
        postprocess(stretchy(20), **kwargs)
    with pytest.raises(MoScaleError, match="SMPL-22"):
        postprocess(np.zeros((5, 21, 3)))
    with pytest.raises(MoScaleError, match="reach"):
        PostprocessConfig(reach=2.0)


def test_a_contact_cut_by_its_slide_leaves_a_gap_before_the_next_hold():
    """A low foot that slides 0.6 m inside one contact run: the hold before the cut and the one after it must not
    touch (side by side, the foot jumped from one hold to the other in one frame: 0.46 m in a generated walk)."""
    t = 30
    pos = np.zeros((t, 3))
    pos[:, 2] = np.concatenate([np.zeros(10), np.linspace(0.0, 0.6, 10), np.full(10, 0.6)])
    slow = np.ones(t, dtype=bool)
    slow[10:20] = False
    pieces = split_slides(pos, [(0, t)], slow, max_slide=0.3, min_len=2)
    assert len(pieces) == 2
    (a0, b0), (a1, b1) = pieces
    assert a0 == 0 and b1 == t and a1 - b0 >= 2 and slow[a1]
    assert np.linalg.norm(pos[a1, [0, 2]] - pos[b0 - 1, [0, 2]]) > 0.3  # the holds are far apart: a gap is needed


def test_big_corrections_fade_over_more_frames():
    assert fade_frames(0.01, 2, 0.05) == 2  # small: the minimum
    n = fade_frames(0.4, 2, 0.05)
    assert 1.5 * 0.4 / (n + 1) <= 0.05 + 1e-12  # the smoothstep's steepest step stays within max_step
    assert fade_frames(0.4, 2, 0.0) == 2  # no limit
