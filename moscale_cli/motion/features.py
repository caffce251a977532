"""HumanML3D's motion feature vector: extraction from joint positions and recovery of positions.

Layout of a frame (J joints; 263 dims for SMPL-22, 251 for KIT-21), see ``Skeleton.feature_slices``:
root angular velocity (half the yaw change per frame) | root linear velocity (x, z) in the facing
frame | root height | "ric" positions of joints 1..J-1 | 6D local rotations of joints 1..J-1 |
velocities of all joints in the facing frame | 4 foot contacts.

``joints_to_features`` reproduces HumanML3D's ``process_file`` (spec: eval-protocol.md section 2),
including its rotation conventions (chains start from the root rotation, the hip-sign quirk of the
IK facing); ``recover_from_ric`` inverts the position part exactly.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np

from moscale_cli.errors import MoScaleError
from moscale_cli.motion.quaternion import (
    _cat,
    _float,
    _stack,
    is_torch,
    normalize,
    qbetween,
    qinv,
    qmul,
    qrot,
    quat_to_cont6d,
    yaw_quat,
)
from moscale_cli.motion.skeleton import SMPL22, Skeleton, skeleton_for_dim

Array = Any  # numpy.ndarray or torch.Tensor

FORWARD_SMOOTH_SIGMA = 20.0

# ---------------------------------------------------------------- recovery (numpy or torch, batched)


def _shift_cumsum(x: Array) -> Array:
    """a[..., 0] = 0, a[..., t] = sum_{k<t} x[..., k] along the last axis."""
    if is_torch(x):
        torch = __import__("torch")
        z = torch.zeros_like(x[..., :1])
        return torch.cumsum(torch.cat([z, x[..., :-1]], dim=-1), dim=-1)
    z = np.zeros_like(x[..., :1])
    return np.cumsum(np.concatenate([z, x[..., :-1]], axis=-1), axis=-1)


def _cumsum(x: Array, axis: int) -> Array:
    return x.cumsum(dim=axis) if is_torch(x) else np.cumsum(x, axis=axis)


def _prep(feats: Array) -> tuple[Array, Any]:
    """Float input for recovery; numpy runs in float64 and remembers the dtype to return."""
    if is_torch(feats):
        f = _float(feats)
        if f.dtype in (f.new_zeros(()).half().dtype, f.new_zeros(()).bfloat16().dtype):
            return f.float(), f.dtype  # cumulative sums need float32 precision
        return f, None
    feats = np.asarray(feats)
    out_dtype = feats.dtype if np.issubdtype(feats.dtype, np.floating) else np.float32
    return feats.astype(np.float64), out_dtype


def _restore(x: Array, dtype: Any) -> Array:
    if dtype is None:
        return x
    return x.to(dtype) if is_torch(x) else x.astype(dtype)


def facing_angle(f: Array) -> Array:
    """(..., T) facing angle about +Y (radians, 0 at frame 0) integrated from raw features' rotation velocity."""
    return 2.0 * _shift_cumsum(f[..., 0])


def _root_rot_pos(f: Array) -> tuple[Array, Array]:
    r_rot = yaw_quat(facing_angle(f))  # (cos a/2, 0, sin a/2, 0): a rotation of a about +Y
    zero = f[..., 1] * 0.0
    # d[0] = 0, d[t] = (f[t-1, 1], 0, f[t-1, 2])
    vx = _cat([zero[..., :1], f[..., :-1, 1]])
    vz = _cat([zero[..., :1], f[..., :-1, 2]])
    d = qrot(qinv(r_rot), _stack([vx, zero, vz]))
    d = _cumsum(d, axis=-2)
    r_pos = _stack([d[..., 0], f[..., 3], d[..., 2]])
    return r_rot, r_pos


def recover_root_rot_pos(feats: Array) -> tuple[Array, Array]:
    """Root rotation quaternions (..., T, 4) and root positions (..., T, 3) from features (..., T, D).

    The rotation maps world to facing coordinates (its inverse rotates facing-frame vectors back to
    the world); frame 0 is the identity and the root starts at x = z = 0.
    """
    f, dtype = _prep(feats)
    r_rot, r_pos = _root_rot_pos(f)
    return _restore(r_rot, dtype), _restore(r_pos, dtype)


def recover_from_ric(feats: Array, joints_num: int = 22) -> Array:
    """Global joint positions (..., T, J, 3) from features (..., T, D); numpy -> numpy, torch -> torch.

    The torch path is differentiable. Exact inverse of the position part of ``joints_to_features``.
    """
    f, dtype = _prep(feats)
    if f.shape[-1] < 4 + (joints_num - 1) * 3:
        raise MoScaleError(f"features of width {f.shape[-1]} are too narrow for {joints_num} joints")
    r_rot, r_pos = _root_rot_pos(f)
    ric = f[..., 4 : 4 + (joints_num - 1) * 3]
    ric = ric.reshape(*ric.shape[:-1], joints_num - 1, 3)
    pos = qrot(qinv(r_rot)[..., None, :], ric)
    offset = _stack([r_pos[..., 0], r_pos[..., 0] * 0.0, r_pos[..., 2]])[..., None, :]
    joints = _cat([r_pos[..., None, :], pos + offset], axis=-2)
    return _restore(joints, dtype)


def features_to_joints(feats: Array, joints_num: int | None = None) -> Array:
    """``recover_from_ric`` with the joint count taken from the feature width (263 -> 22, 251 -> 21)."""
    if joints_num is None:
        joints_num = skeleton_for_dim(int(feats.shape[-1])).num_joints
    return recover_from_ric(feats, joints_num)


# ---------------------------------------------------------------- kinematics (HumanML3D chain convention)


def _yaw_to_forward(forward: np.ndarray) -> np.ndarray:
    """Yaw quaternions (w >= 0) turning horizontal forward vectors onto +Z (world -> facing)."""
    return yaw_quat(-np.arctan2(forward[..., 0], forward[..., 2]))


def _across(joints: np.ndarray, a: tuple[int, int], b: tuple[int, int]) -> np.ndarray:
    return (joints[..., a[0], :] - joints[..., a[1], :]) + (joints[..., b[0], :] - joints[..., b[1], :])


def _forward_from_across(across: np.ndarray) -> np.ndarray:
    """cross(+Y, normalise(across)) = (across_z, 0, -across_x) / |across|."""
    across = normalize(across)
    return np.stack([across[..., 2], np.zeros_like(across[..., 0]), -across[..., 0]], axis=-1)


def body_forward(joints: np.ndarray, skeleton: Skeleton = SMPL22) -> np.ndarray:
    """Unit forward direction (..., 3) = cross(+Y, (Rhip - Lhip) + (Rsho - Lsho)), horizontal."""
    r_hip, l_hip, r_sho, l_sho = skeleton.face_joints
    fwd = _forward_from_across(_across(np.asarray(joints, dtype=np.float64), (r_hip, l_hip), (r_sho, l_sho)))
    return normalize(fwd)


def inverse_kinematics(
    joints: np.ndarray,
    skeleton: Skeleton = SMPL22,
    *,
    face_joints: tuple[int, int, int, int] | None = None,
    smooth_forward: bool = True,
) -> np.ndarray:
    """Local bone quaternions (T, J, 4) from positions (T, J, 3), HumanML3D's convention.

    Joint 0 holds the root rotation (world -> facing, a yaw; identity at frame 0). Along every
    kinematic chain, starting from the root rotation (the arm chains too), joint k holds the local
    rotation taking its raw offset direction to the observed bone direction parent(k) -> k.
    ``face_joints`` = (r_hip, l_hip, r_shoulder, l_shoulder); like HumanML3D, the IK reads the hip
    pair in swapped order, so its facing uses (Lhip - Rhip) + (Rsho - Lsho).
    """
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3:
        raise MoScaleError(f"inverse_kinematics expects joints (T, J, 3), got shape {joints.shape}")
    r_hip, l_hip, r_sho, l_sho = face_joints if face_joints is not None else skeleton.face_joints
    forward = _forward_from_across(_across(joints, (l_hip, r_hip), (r_sho, l_sho)))  # hip-sign quirk
    if smooth_forward:
        from scipy.ndimage import gaussian_filter1d  # lazy: keeps `import moscale_cli.motion` light

        forward = gaussian_filter1d(forward, FORWARD_SMOOTH_SIGMA, axis=0, mode="nearest")
    root = _yaw_to_forward(normalize(forward))
    root[0] = (1.0, 0.0, 0.0, 0.0)
    n_frames, n_joints = joints.shape[:2]
    quats = np.zeros((n_frames, n_joints, 4))
    quats[..., 0] = 1.0
    quats[:, 0] = root
    raw = np.asarray(skeleton.raw_offsets, dtype=np.float64)
    for chain in skeleton.kinematic_chains:
        glob = root
        for parent, child in pairwise(chain):
            bone = joints[:, child] - joints[:, parent]
            rot = qbetween(np.broadcast_to(raw[child], bone.shape), bone)
            quats[:, child] = qmul(qinv(glob), rot)
            glob = rot
    return quats


def forward_kinematics(
    quats: Array, root_pos: Array, skeleton: Skeleton = SMPL22, offsets: Array | None = None
) -> Array:
    """Joint positions (..., J, 3) from local quaternions (..., J, 4) and root positions (..., 3).

    Inverse of ``inverse_kinematics`` for the skeleton's offsets (``offsets`` (J, 3) overrides them):
    each chain starts from the root rotation quats[..., 0]. numpy or torch.
    """
    quats = _float(quats)
    offs = skeleton.offsets if offsets is None else offsets
    if is_torch(quats):
        offs = __import__("torch").as_tensor(np.asarray(offs), dtype=quats.dtype, device=quats.device)
        root_pos = __import__("torch").as_tensor(root_pos, dtype=quats.dtype, device=quats.device)
    else:
        offs = np.asarray(offs, dtype=quats.dtype)
        root_pos = np.asarray(root_pos, dtype=quats.dtype)
    out: list = [None] * skeleton.num_joints
    out[0] = root_pos
    for chain in skeleton.kinematic_chains:
        glob = quats[..., 0, :]
        for parent, child in pairwise(chain):
            glob = qmul(glob, quats[..., child, :])
            out[child] = out[parent] + qrot(glob, offs[child])
    return _stack(out, axis=-2)


# ---------------------------------------------------------------- extraction


def _check_joints(joints: Any, skeleton: Skeleton) -> np.ndarray:
    if is_torch(joints):
        joints = joints.detach().cpu().numpy()
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (skeleton.num_joints, 3):
        raise MoScaleError(
            f"expected joint positions of shape (T, {skeleton.num_joints}, 3) for {skeleton.name}, got {joints.shape}"
        )
    if joints.shape[0] < 2:
        raise MoScaleError("need at least 2 frames of joint positions to compute features")
    if not np.isfinite(joints).all():
        raise MoScaleError("joint positions contain NaN or infinite values")
    return joints


def retarget_joints(joints: np.ndarray, skeleton: Skeleton = SMPL22) -> np.ndarray:
    """Put a clip (T, J, 3) on the skeleton's bone lengths, as HumanML3D's ``uniform_skeleton``.

    The root path is scaled by (target leg length / source leg length at frame 0), where the leg
    length is the sum of the bone lengths of ``skeleton.leg_scale_joints``; every bone keeps its
    observed direction and takes the target length. This equals IK on the source followed by FK with
    the target offsets (the root rotation cancels along each chain).
    """
    joints = np.asarray(joints, dtype=np.float64)
    parents = skeleton.parents
    a, b = skeleton.leg_scale_joints
    src_leg = sum(float(np.linalg.norm(joints[0, k] - joints[0, parents[k]])) for k in (a, b))
    tgt_leg = float(skeleton.bone_lengths[a] + skeleton.bone_lengths[b])
    if src_leg < 1e-8:
        raise MoScaleError("cannot retarget: the legs have zero length in the first frame")
    scale = tgt_leg / src_leg
    lengths = np.asarray(skeleton.bone_lengths, dtype=np.float64)
    out = np.empty_like(joints)
    out[:, 0] = joints[:, 0] * scale
    for chain in skeleton.kinematic_chains:
        for parent, child in pairwise(chain):
            out[:, child] = out[:, parent] + normalize(joints[:, child] - joints[:, parent]) * lengths[child]
    return out


def canonicalize_joints(joints: np.ndarray, skeleton: Skeleton = SMPL22) -> np.ndarray:
    """Floor at y = 0 (min over the clip), frame-0 root at x = z = 0, frame-0 body facing +Z."""
    pos = np.array(joints, dtype=np.float64)
    pos[..., 1] -= pos[..., 1].min()
    pos -= pos[0, 0] * np.array([1.0, 0.0, 1.0])
    q0 = _yaw_to_forward(body_forward(pos[0], skeleton))
    return qrot(q0, pos)


def foot_contacts(
    joints: np.ndarray, skeleton: Skeleton = SMPL22, threshold: float | None = None
) -> np.ndarray:
    """(T-1, 4) contacts [L ankle, L foot, R ankle, R foot]: squared displacement per frame < threshold."""
    thr = skeleton.contact_threshold if threshold is None else threshold
    feet = list(skeleton.foot_left) + list(skeleton.foot_right)
    disp = joints[1:, feet] - joints[:-1, feet]
    return ((disp**2).sum(-1) < thr).astype(np.float64)


def joints_to_features(
    joints: Any,
    skeleton: Skeleton = SMPL22,
    retarget: bool = True,
    contact_threshold: float | None = None,
    canonical: bool = True,
) -> np.ndarray:
    """Features (T, D) from joint positions (T+1, J, 3), as HumanML3D's ``process_file`` (float32).

    ``retarget=False`` skips the bone-length retargeting for clips already on the skeleton.
    ``canonical=False`` skips the placement (floor at the lowest joint, frame-0 root over the origin facing
    +Z) for joints already in the model's space: ``recover_from_ric`` then gives back the joints as they are
    (their height above y = 0 and frame-0 facing kept; the root must start over the origin).
    One deliberate difference: the root angular velocity is computed from the shortest-arc frame-to-
    frame rotation, so it stays correct when the facing passes 180 degrees from the initial one
    (HumanML3D's code flips its sign there, and its own recovery then turns the wrong way).
    """
    pos = _check_joints(joints, skeleton)
    if retarget:
        pos = retarget_joints(pos, skeleton)
    if canonical:
        pos = canonicalize_joints(pos, skeleton)
    n = pos.shape[0]

    contacts = foot_contacts(pos, skeleton, contact_threshold)
    quats = inverse_kinematics(pos, skeleton, smooth_forward=True)
    r_rot = quats[:, 0]

    root_lin = qrot(r_rot[1:], pos[1:, 0] - pos[:-1, 0])[:, [0, 2]]
    dq = qmul(r_rot[1:], qinv(r_rot[:-1]))
    dq = np.where(dq[:, :1] < 0, -dq, dq)
    root_ang = np.arcsin(np.clip(dq[:, 2:3], -1.0, 1.0))

    rel = pos.copy()
    rel[..., 0] -= pos[:, 0:1, 0]
    rel[..., 2] -= pos[:, 0:1, 2]
    ric = qrot(r_rot[:, None], rel)
    root_y = ric[:-1, 0, 1:2]
    ric = ric[:-1, 1:].reshape(n - 1, -1)
    rot6d = quat_to_cont6d(quats[:-1, 1:]).reshape(n - 1, -1)
    local_vel = qrot(r_rot[:-1, None], pos[1:] - pos[:-1]).reshape(n - 1, -1)

    feats = np.concatenate([root_ang, root_lin, root_y, ric, rot6d, local_vel, contacts], axis=-1)
    return feats.astype(np.float32)
