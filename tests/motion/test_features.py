"""HumanML3D features: recovery, extraction and round trips, against the shipped sample 012314."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from moscale_cli.errors import MoScaleError
from moscale_cli.motion.features import (
    canonicalize_joints,
    features_to_joints,
    forward_kinematics,
    inverse_kinematics,
    joints_to_features,
    recover_from_ric,
    recover_root_rot_pos,
    retarget_joints,
)
from moscale_cli.motion.quaternion import qinv, qmul, qrot, yaw_quat
from moscale_cli.motion.skeleton import KIT21, SMPL22

from .helpers import random_smooth_motion

SLICES = SMPL22.feature_slices()


@pytest.fixture(scope="module")
def sample(hml_fixture_dir):
    feats = np.load(hml_fixture_dir / "new_joint_vecs" / "012314.npy")
    joints = np.load(hml_fixture_dir / "new_joints" / "012314.npy")
    return feats, joints


def _with_last_frame(feats: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """new_joints lacks the clip's last frame (T features come from T+1 frames); rebuild it from the
    last frame's joint velocities (local_vel, rotated by the recovered root rotation)."""
    r_rot, _ = recover_root_rot_pos(feats.astype(np.float64))
    vel = feats[-1, SLICES["local_vel"]].reshape(22, 3).astype(np.float64)
    last = joints[-1].astype(np.float64) + qrot(qinv(r_rot[-1]), vel)
    return np.concatenate([joints, last[None]], axis=0)


def test_recover_matches_fixture_numpy_and_torch(sample):
    feats, joints = sample
    rec = recover_from_ric(feats, 22)
    assert rec.shape == joints.shape and rec.dtype == np.float32
    assert np.abs(rec - joints).max() < 1e-5
    rec_t = recover_from_ric(torch.from_numpy(feats)[None].repeat(2, 1, 1), 22)
    assert isinstance(rec_t, torch.Tensor) and rec_t.shape == (2, *joints.shape)
    assert (rec_t - torch.from_numpy(joints)).abs().max().item() < 1e-5
    assert np.abs(features_to_joints(feats) - rec).max() == 0.0
    half = recover_from_ric(torch.from_numpy(feats).bfloat16(), 22)  # computed in float32, returned bf16
    assert half.dtype == torch.bfloat16 and (half.float() - torch.from_numpy(joints)).abs().max().item() < 0.05


def test_recover_torch_is_differentiable(sample):
    feats = torch.from_numpy(sample[0][:20]).double().requires_grad_(True)
    recover_from_ric(feats, 22).pow(2).sum().backward()
    assert feats.grad is not None and torch.isfinite(feats.grad).all()
    assert feats.grad[:, 0].abs().sum() > 0 and feats.grad[:, 4:67].abs().sum() > 0


def test_root_rotation_is_half_angle_yaw(sample):
    feats = sample[0]
    r_rot, r_pos = recover_root_rot_pos(feats)
    ang = np.concatenate([[0.0], np.cumsum(feats[:-1, 0].astype(np.float64))])
    assert np.abs(r_rot - yaw_quat(2 * ang)).max() < 1e-5
    assert np.abs(r_pos[0, [0, 2]]).max() == 0.0 and np.allclose(r_pos[:, 1], feats[:, 3])


@pytest.mark.parametrize("retarget", [True, False])
def test_features_match_fixture_per_slice(sample, retarget):
    feats, joints = sample
    full = joints_to_features(_with_last_frame(feats, joints), retarget=retarget)
    assert full.shape == feats.shape and full.dtype == np.float32
    for name, sl in SLICES.items():
        err = np.abs(full[:, sl] - feats[:, sl]).max()
        assert err < (1e-5 if name != "foot_contact" else 1e-12), (name, err)


def test_features_without_last_frame_match_away_from_the_end(sample):
    # the missing last frame only changes the Gaussian-smoothed facing within ~80 frames of the end
    feats, joints = sample
    f = joints_to_features(joints)
    assert f.shape == (len(joints) - 1, 263)
    assert np.abs(f[:80] - feats[:80]).max() < 1e-5
    assert np.array_equal(f[:, SLICES["foot_contact"]], feats[:-1, SLICES["foot_contact"]])
    assert np.abs(f[:, SLICES["root_y"]] - feats[:-1, SLICES["root_y"]]).max() < 1e-5


def test_fixture_round_trip(sample):
    feats, joints = sample
    rec = recover_from_ric(joints_to_features(joints))
    assert np.abs(rec - joints[:-1]).max() < 1e-4


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_motion_round_trip(seed):
    joints = random_smooth_motion(90, seed, turn=3.0)
    feats = joints_to_features(joints)
    canon = canonicalize_joints(joints)
    assert np.abs(recover_from_ric(feats) - canon[:-1]).max() < 1e-4
    # features are invariant to where the clip starts and which way it faces
    moved = qrot(yaw_quat(np.array(1.3)), joints) + np.array([3.0, 0.5, -2.0])
    assert np.abs(joints_to_features(moved) - feats).max() < 1e-4


def test_round_trip_through_a_half_turn():
    # heading passes 180 degrees from the initial one: the root angular velocity must keep its sign
    n = 120
    joints = random_smooth_motion(n, 5, amp=0.2)
    quats = inverse_kinematics(joints, smooth_forward=False)
    turn = yaw_quat(np.linspace(0, 1.8 * np.pi, n))
    quats[:, 0] = turn
    joints = forward_kinematics(quats, joints[:, 0])
    feats = joints_to_features(joints)
    assert np.abs(recover_from_ric(feats) - canonicalize_joints(joints)[:-1]).max() < 1e-4


def test_ik_fk_round_trip_and_root_identity():
    joints = random_smooth_motion(40, 3)
    quats = inverse_kinematics(joints, SMPL22)
    assert quats.shape == (40, 22, 4)
    assert np.allclose(quats[0, 0], [1, 0, 0, 0])
    assert np.abs(np.linalg.norm(quats, axis=-1) - 1).max() < 1e-9
    assert np.abs(forward_kinematics(quats, joints[:, 0], SMPL22) - joints).max() < 1e-9
    qt = torch.from_numpy(quats)
    fk_t = forward_kinematics(qt, torch.from_numpy(joints[:, 0]), SMPL22)
    assert isinstance(fk_t, torch.Tensor) and np.abs(fk_t.numpy() - joints).max() < 1e-9


def test_ik_arm_chains_start_from_root_rotation():
    joints = random_smooth_motion(30, 4)
    quats = inverse_kinematics(joints, SMPL22)
    raw14 = SMPL22.raw_offsets[14].astype(np.float64)
    bone = joints[:, 14] - joints[:, 9]
    bone /= np.linalg.norm(bone, axis=-1, keepdims=True)
    # the collar rotation (chain 9 -> 14) is relative to the root rotation (HumanML3D issue #119) ...
    assert np.abs(qrot(qmul(quats[:, 0], quats[:, 14]), raw14) - bone).max() < 1e-9
    # ... not to the accumulated spine rotation of joint 9
    spine = quats[:, 0]
    for k in (3, 6, 9):
        spine = qmul(spine, quats[:, k])
    assert np.abs(qrot(qmul(spine, quats[:, 14]), raw14) - bone).max() > 1e-2


def test_retarget_equals_ik_then_fk_with_target_offsets():
    joints = random_smooth_motion(30, 6)
    src = joints * 1.3  # a bigger person: every bone 1.3x
    ret = retarget_joints(src, SMPL22)
    bones = np.linalg.norm(ret[:, 1:] - ret[:, list(SMPL22.parents[1:])], axis=-1)
    assert np.abs(bones - SMPL22.bone_lengths[1:]).max() < 1e-6
    assert np.abs(ret[:, 0] - src[:, 0] / 1.3).max() < 1e-6  # root path scaled by the leg ratio
    fk = forward_kinematics(inverse_kinematics(src, SMPL22, smooth_forward=False), ret[:, 0], SMPL22)
    assert np.abs(ret - fk).max() < 1e-6
    assert np.abs(joints_to_features(src) - joints_to_features(joints)).max() < 1e-4


def test_contacts_follow_foot_speed():
    joints = random_smooth_motion(50, 7)
    joints[:, [7, 10]] = joints[0, [7, 10]]  # left foot planted
    feats = joints_to_features(joints, retarget=False)
    c = feats[:, SLICES["foot_contact"]]
    assert (c[:, :2] == 1).all()
    loose = joints_to_features(joints, retarget=False, contact_threshold=0.0)
    assert (loose[:, SLICES["foot_contact"]] == 0).all()


def test_kit_skeleton_shapes():
    joints = random_smooth_motion(25, 8, skeleton=KIT21) * 1000
    feats = joints_to_features(joints, KIT21)
    assert feats.shape == (24, 251)
    rec = features_to_joints(feats)
    assert rec.shape == (24, 21, 3)
    assert np.abs(rec - canonicalize_joints(retarget_joints(joints, KIT21), KIT21)[:-1]).max() < 1e-3


def test_bad_input_raises_moscale_error():
    with pytest.raises(MoScaleError):
        joints_to_features(np.zeros((10, 21, 3)))
    with pytest.raises(MoScaleError):
        joints_to_features(np.zeros((1, 22, 3)))
    bad = random_smooth_motion(5, 0)
    bad[2, 3, 1] = np.nan
    with pytest.raises(MoScaleError):
        joints_to_features(bad)
