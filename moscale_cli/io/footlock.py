"""Foot-sliding cleanup for SMPL-22 joints: lock feet that are in ground contact, fix knees by 2-bone IK.

Contact: the toe joint moves slower than ``speed`` (m/s) and is within ``height`` metres of the clip's
lowest toe height, for at least 2 frames in a row. During a contact the ankle and toe are pinned to
their mean position over the contact (the foot is translated rigidly); the correction fades in and out
over ``blend`` frames on both sides. Knees are re-solved so that thigh and shin keep their lengths and
the knee stays in its original bending plane. Bone lengths hip-knee, knee-ankle, ankle-toe are kept.
"""

from __future__ import annotations

import numpy as np

LEGS = ((1, 4, 7, 10), (2, 5, 8, 11))  # (hip, knee, ankle, toe) left, right


def contact_segments(
    toe_T3: np.ndarray, fps: float, speed: float = 0.3, height: float = 0.05
) -> list[tuple[int, int]]:
    """Half-open frame ranges [a, b) where the toe is planted."""
    t = toe_T3.shape[0]
    if t < 2:
        return []
    v = np.linalg.norm(np.diff(toe_T3[:, [0, 2]], axis=0), axis=-1) * fps
    v = np.concatenate([v[:1], v])
    low = toe_T3[:, 1] <= toe_T3[:, 1].min() + height
    mask = (v < speed) & low
    segs, start = [], None
    for f in range(t + 1):
        on = f < t and mask[f]
        if on and start is None:
            start = f
        elif not on and start is not None:
            if f - start >= 2:
                segs.append((start, f))
            start = None
    return segs


def _two_bone(hip: np.ndarray, knee: np.ndarray, ankle_target: np.ndarray, l1: np.ndarray, l2: np.ndarray):
    """Knee (T,3) and reachable ankle (T,3) for targets, keeping the bending plane of ``knee``."""
    d_vec = ankle_target - hip
    d = np.linalg.norm(d_vec, axis=-1)
    u = d_vec / np.maximum(d, 1e-9)[:, None]
    d = np.clip(d, np.abs(l1 - l2) + 1e-6, l1 + l2 - 1e-6)
    ankle = hip + u * d[:, None]
    k = knee - hip
    pole = k - np.sum(k * u, -1, keepdims=True) * u
    pn = np.linalg.norm(pole, axis=-1, keepdims=True)
    fallback = np.cross(u, np.array([1.0, 0.0, 0.0]))
    pole = np.where(
        pn > 1e-6,
        pole / np.maximum(pn, 1e-9),
        fallback / np.maximum(np.linalg.norm(fallback, axis=-1, keepdims=True), 1e-9),
    )
    a = (l1**2 - l2**2 + d**2) / (2 * d)
    h = np.sqrt(np.maximum(l1**2 - a**2, 0.0))
    return hip + u * a[:, None] + pole * h[:, None], ankle


def lock_feet(
    joints_TJ3: np.ndarray, fps: float = 20.0, blend: int = 3, speed: float = 0.3, height: float = 0.05
) -> np.ndarray:
    """A copy of SMPL-22 joints (T, 22, 3) with planted feet locked (see the module docstring)."""
    j = np.asarray(joints_TJ3, dtype=np.float64).copy()
    t = j.shape[0]
    for hip, knee, ankle, toe in LEGS:
        segs = contact_segments(j[:, toe], fps, speed, height)
        if not segs:
            continue
        delta = np.zeros((t, 3))
        weight = np.zeros(t)
        for a, b in segs:
            target = j[a:b, ankle].mean(0)
            ramp_idx = np.arange(max(0, a - blend), min(t, b + blend))
            dist = np.maximum(np.maximum(a - ramp_idx, ramp_idx - (b - 1)), 0)
            w = 1.0 - dist / (blend + 1)
            d_seg = np.zeros((len(ramp_idx), 3))
            inside = (ramp_idx >= a) & (ramp_idx < b)
            d_seg[inside] = target - j[ramp_idx[inside], ankle]
            d_seg[ramp_idx < a] = target - j[a, ankle]
            d_seg[ramp_idx >= b] = target - j[b - 1, ankle]
            take = w > weight[ramp_idx]
            delta[ramp_idx[take]] = d_seg[take] * w[take, None]
            weight[ramp_idx[take]] = w[take]
        moved = weight > 0
        if not moved.any():
            continue
        l1 = np.linalg.norm(j[:, knee] - j[:, hip], axis=-1)
        l2 = np.linalg.norm(j[:, ankle] - j[:, knee], axis=-1)
        foot_vec = j[:, toe] - j[:, ankle]
        new_knee, new_ankle = _two_bone(j[:, hip], j[:, knee], j[:, ankle] + delta, l1, l2)
        j[moved, knee] = new_knee[moved]
        j[moved, ankle] = new_ankle[moved]
        j[moved, toe] = new_ankle[moved] + foot_vec[moved]
    return j
