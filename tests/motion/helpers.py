"""Random smooth motions on a skeleton, built by forward kinematics (shared by the motion tests)."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from moscale_cli.motion.features import forward_kinematics
from moscale_cli.motion.quaternion import qnormalize, yaw_quat
from moscale_cli.motion.skeleton import SMPL22, Skeleton


def _axis_angle_quat(aa: np.ndarray) -> np.ndarray:
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    axis = aa / np.maximum(angle, 1e-12)
    return np.concatenate([np.cos(angle / 2), axis * np.sin(angle / 2)], axis=-1)


def random_smooth_motion(
    n_frames: int, seed: int, skeleton: Skeleton = SMPL22, turn: float = 1.0, amp: float = 0.5
) -> np.ndarray:
    """(n_frames, J, 3) joints: smooth random local rotations, a winding root path and heading."""
    rng = np.random.default_rng(seed)
    j = skeleton.num_joints
    aa = gaussian_filter1d(rng.normal(size=(n_frames, j, 3)), 6.0, axis=0, mode="nearest")
    aa *= amp / max(aa.std(), 1e-9)
    quats = _axis_angle_quat(aa)
    heading = np.cumsum(gaussian_filter1d(rng.normal(size=n_frames), 5.0) * 0.1 * turn) + rng.uniform(-3, 3)
    quats[:, 0] = yaw_quat(heading)
    step = gaussian_filter1d(rng.normal(size=(n_frames, 3)), 5.0, axis=0) * 0.05
    root = np.cumsum(step, axis=0) + np.array([rng.uniform(-2, 2), 1.0, rng.uniform(-2, 2)])
    return forward_kinematics(qnormalize(quats), root, skeleton)


def random_hierarchy_motion(
    n_frames: int, seed: int, parents=SMPL22.parents, offsets=None, amp: float = 0.4
) -> np.ndarray:
    """(n_frames, J, 3) joints by proper hierarchical FK (every joint turns its subtree) of smooth random
    local rotations, on ``offsets`` (default the SMPL-22 skeleton's), root walking around at 1 m height."""
    from scipy.spatial.transform import Rotation

    from moscale_cli.motion.kinematics import forward_kinematics

    rng = np.random.default_rng(seed)
    j = len(parents)
    off = np.asarray(SMPL22.offsets if offsets is None else offsets, dtype=np.float64)
    aa = gaussian_filter1d(rng.normal(size=(n_frames, j, 3)), 6.0, axis=0, mode="nearest")
    aa *= amp / max(aa.std(), 1e-9)
    aa[:, 0] = [0.0, 1.0, 0.0] * np.cumsum(gaussian_filter1d(rng.normal(size=n_frames), 5.0) * 0.1)[:, None]
    local = Rotation.from_rotvec(aa.reshape(-1, 3)).as_matrix().reshape(n_frames, j, 3, 3)
    trans = np.broadcast_to(off, (n_frames, j, 3)).copy()
    trans[:, 0] = np.cumsum(gaussian_filter1d(rng.normal(size=(n_frames, 3)), 5.0, axis=0) * 0.05, axis=0)
    trans[:, 0, 1] = 1.0
    return forward_kinematics(parents, local, trans)[0]
