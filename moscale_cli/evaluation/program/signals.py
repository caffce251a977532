"""Per-frame kinematic signals of a motion (joints (T, 22, 3), metres, Y up, 20 fps, SMPL-22 order).

Everything the detectors read is computed here once per clip, in one frame of reference:

* the floor is the 5th percentile over frames of the lowest foot joint (generated motion need not stand
  on y = 0), so heights are heights above the floor;
* the facing (yaw) of each frame comes from the hips and shoulders (``motion.body_forward``), unwrapped,
  angle 0 = facing +Z, positive = turned toward +X (the character's left at frame 0, i.e. a left turn);
* ``local`` holds the joints in each frame's own body frame: pelvis at x = z = 0, +X = the character's
  left, +Z = where it faces, Y = height above the floor;
* the root (pelvis) velocity is expressed in the body frame of each frame, so integrating it gives the
  path as the body saw it (forward stays forward while walking a circle or after a turn).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moscale_cli.errors import MoScaleError
from moscale_cli.motion.features import body_forward
from moscale_cli.motion.skeleton import (
    L_ANKLE,
    L_FOOT,
    L_SHOULDER,
    L_WRIST,
    NECK,
    PELVIS,
    R_ANKLE,
    R_FOOT,
    R_SHOULDER,
    R_WRIST,
)

FPS = 20.0
STAND_PELVIS = 0.95  # pelvis height of the upright pose (metres above the floor; HumanML3D skeleton)


def smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along axis 0 with edge padding (sigma in frames; 0 = unchanged)."""
    x = np.asarray(x, dtype=np.float64)
    if sigma <= 0 or len(x) < 2:
        return x.copy()
    r = int(np.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    pad = np.concatenate([np.repeat(x[:1], r, 0), x, np.repeat(x[-1:], r, 0)], 0)
    out = np.zeros_like(x)
    for i, w in enumerate(k):
        out += w * pad[i : i + len(x)]
    return out


def yaw_matrix(a: np.ndarray) -> np.ndarray:
    """(T,) angles -> (T, 3, 3) rotations about +Y taking +Z toward +X by ``a`` (world from body)."""
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


@dataclass
class Signals:
    joints: np.ndarray  # (T, 22, 3) world, floor at y = 0
    local: np.ndarray  # (T, 22, 3) body frame of each frame (pelvis at x = z = 0)
    yaw: np.ndarray  # (T,) facing angle, radians, unwrapped, + = left turn
    vel: np.ndarray  # (T, 2) pelvis velocity (left, forward) in m/s in each frame's body frame
    foot_h: np.ndarray  # (T, 2) height of the lower of ankle/foot joint, left and right

    @property
    def T(self) -> int:
        return len(self.joints)

    @property
    def pelvis_h(self) -> np.ndarray:
        return self.joints[:, PELVIS, 1]

    def arm(self, side: int) -> np.ndarray:
        """(T, 3) wrist relative to its shoulder in the body frame, x mirrored for the right arm
        (+x = away from the body's midline)."""
        w, s = (L_WRIST, L_SHOULDER) if side == 0 else (R_WRIST, R_SHOULDER)
        d = self.local[:, w] - self.local[:, s]
        if side == 1:
            d = d * np.array([-1.0, 1.0, 1.0])
        return d

    def wrist_h(self, side: int) -> np.ndarray:
        """(T,) wrist height relative to the pelvis height."""
        return self.local[:, L_WRIST if side == 0 else R_WRIST, 1] - self.local[:, PELVIS, 1]


def compute_signals(joints: np.ndarray) -> Signals:
    """Signals of one motion (T, 22, 3); raises MoScaleError for another shape."""
    j = np.asarray(joints, dtype=np.float64)
    if j.ndim != 3 or j.shape[1:] != (22, 3) or len(j) < 2 or not np.isfinite(j).all():
        raise MoScaleError(f"program detectors need finite joints of shape (T>=2, 22, 3), got {tuple(j.shape)}")
    j = j.copy()
    feet = j[:, [L_ANKLE, R_ANKLE, L_FOOT, R_FOOT], 1]
    j[..., 1] -= np.percentile(feet.min(1), 5)
    fwd = body_forward(j)
    yaw = np.unwrap(np.arctan2(fwd[:, 0], fwd[:, 2]))
    yaw = smooth(yaw, 1.0)
    rot_inv = yaw_matrix(-yaw)  # world -> body
    rel = j - j[:, PELVIS : PELVIS + 1] * np.array([1.0, 0.0, 1.0])
    local = np.einsum("tij,tkj->tki", rot_inv, rel)
    d = np.diff(j[:, PELVIS], axis=0)
    mid = np.concatenate([[yaw[0]], 0.5 * (yaw[1:] + yaw[:-1])])
    d = np.concatenate([d[:1] * 0.0, d], 0)
    c, s = np.cos(mid), np.sin(mid)
    left = c * d[:, 0] - s * d[:, 2]
    forward = s * d[:, 0] + c * d[:, 2]
    vel = np.stack([left, forward], -1) * FPS
    foot_h = np.stack([j[:, [L_ANKLE, L_FOOT], 1].min(1), j[:, [R_ANKLE, R_FOOT], 1].min(1)], -1)
    return Signals(joints=j, local=local, yaw=yaw, vel=vel, foot_h=foot_h)


def torso_angles(sig: Signals) -> tuple[np.ndarray, np.ndarray]:
    """(pitch, roll) of the pelvis -> neck line from vertical, radians: pitch > 0 = leaning forward,
    roll > 0 = leaning to the character's left."""
    v = sig.local[:, NECK] - sig.local[:, PELVIS]
    return np.arctan2(v[:, 2], v[:, 1]), np.arctan2(v[:, 0], v[:, 1])


def intervals(mask: np.ndarray, min_len: int = 1, max_gap: int = 0) -> list[tuple[int, int]]:
    """Runs ``[start, end)`` of True in a boolean array; runs separated by at most ``max_gap`` False
    frames are merged first, runs shorter than ``min_len`` frames are dropped."""
    m = np.concatenate([[0], np.asarray(mask, dtype=np.int8), [0]])
    d = np.diff(m)
    runs = list(zip(np.nonzero(d == 1)[0].tolist(), np.nonzero(d == -1)[0].tolist(), strict=True))
    merged: list[list[int]] = []
    for a, b in runs:
        if merged and a - merged[-1][1] <= max_gap:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged if b - a >= min_len]


def hysteresis(x: np.ndarray, on: float, off: float) -> np.ndarray:
    """Boolean state that turns on when ``x`` rises above ``on`` and off when it falls below ``off``
    (``off`` < ``on``): noise around one threshold does not split one event into several."""
    out = np.zeros(len(x), dtype=bool)
    state = False
    for t, v in enumerate(np.asarray(x, dtype=np.float64)):
        if state and v < off:
            state = False
        elif not state and v > on:
            state = True
        out[t] = state
    return out
