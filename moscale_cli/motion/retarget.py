"""SMPL-22 motion fitted to another body's proportions: the targets a rig is solved for.

A rig (``motion.rig.Rig`` with a mapping) has an SMPL-22 *body*: its mapped joints in the rest pose, with
its own bone lengths, up axis, facing and floor (:func:`rig_body`). :func:`fit_motion` brings a motion
(SMPL-22 joints in metres, Y up, as the model makes them) onto that body:

1. the motion goes into the rig's frame: its up axis and its rest facing (the motion's frame-0 facing,
   +Z, becomes the rig's forward), the frame-0 root over the rig's rest root, the floor at the rig's floor
   (the lowest mapped joint of the rest pose);
2. everything is scaled by the ratio of the leg lengths (hip to knee to ankle, the rig's over the
   motion's): the root path, and the heights above the floor;
3. the bones take the rig's lengths and rest shape (``kinematics.impose_bones``, from the scaled root);
4. the feet go back where the scaled motion puts them: each ankle by two-bone IK on the hip (the knee
   bends where it bent), each toe at its scaled height above the floor along the motion's foot heading,
   at the rig's foot length; the wrists likewise by IK on the shoulders. So a foot planted in the motion
   stays planted, and hands and feet keep their heights above the floor (up to what the rig's limbs
   reach).

The result is a valid pose of the body (every bone at the rig's length), so a rig solved for it
(``motion.rig.solve_channels``) reproduces it; :func:`mpjpe` measures what it did.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moscale_cli.errors import MotionFileError
from moscale_cli.motion.kinematics import impose_bones, two_bone_ik
from moscale_cli.motion.quaternion import normalize
from moscale_cli.motion.skeleton import L_HIP, L_SHOULDER, R_HIP, R_SHOULDER, SMPL22, SMPL22_ARMS, SMPL22_LEGS

LEGS = SMPL22_LEGS  # (hip, knee, ankle, toe), left then right
ARMS = SMPL22_ARMS  # (shoulder, elbow, wrist)


def snap_axes(up: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """(3, 3) rotation whose columns are the world directions of the canonical axes (X = the body's
    left, Y = up, Z = forward), each snapped to the nearest world axis (so the floor stays a coordinate
    plane)."""
    u = np.zeros(3)
    a = int(np.argmax(np.abs(up)))
    u[a] = np.sign(up[a])
    f = np.asarray(forward, dtype=np.float64).copy()
    f[a] = 0.0
    if np.abs(f).max() < 1e-9:
        raise MotionFileError("the rig's rest pose faces along its own up axis")
    b = int(np.argmax(np.abs(f)))
    fw = np.zeros(3)
    fw[b] = np.sign(f[b])
    return np.stack([np.cross(u, fw), u, fw], axis=-1)


@dataclass
class RigBody:
    """A rig's SMPL-22 body in its canonical frame (X left, Y up, Z forward), in the rig's units."""

    offsets: np.ndarray  # (22, 3) rest offsets (SMPL-22 parents), canonical frame
    basis: np.ndarray  # (3, 3) columns: rig-world directions of canonical X, Y, Z
    floor: float  # canonical height of the rig's floor (its lowest mapped joint at rest)
    origin: np.ndarray  # (2,) canonical (x, z) of the rest root

    @property
    def leg(self) -> float:
        """Hip to knee to ankle, the mean of both legs."""
        return float(np.mean([np.linalg.norm(self.offsets[k]) + np.linalg.norm(self.offsets[a]) for _, k, a, _ in LEGS]))

    def to_world(self, canonical: np.ndarray) -> np.ndarray:
        return np.asarray(canonical, dtype=np.float64) @ self.basis.T

    def to_canonical(self, world: np.ndarray) -> np.ndarray:
        return np.asarray(world, dtype=np.float64) @ self.basis


def rig_body(rest22: np.ndarray, up: np.ndarray, forward: np.ndarray) -> RigBody:
    """The body of a rig from its rest pose's SMPL-22 joints (22, 3) (rig world and units) and its body
    axes (``motion.rig.body_axes``)."""
    basis = snap_axes(up, forward)
    c = np.asarray(rest22, dtype=np.float64) @ basis
    off = np.zeros((22, 3))
    for k, p in enumerate(SMPL22.parents):
        if p >= 0:
            off[k] = c[k] - c[p]
    body = RigBody(off, basis, float(c[:, 1].min()), c[0, [0, 2]].copy())
    if not body.leg > 0:
        raise MotionFileError("the rig's legs have no length")
    return body


def motion_leg(joints: np.ndarray) -> float:
    """Hip to knee to ankle of SMPL-22 joints (T, 22, 3): the median over the clip, mean of both legs."""
    j = np.asarray(joints, dtype=np.float64)
    legs = [
        np.median(np.linalg.norm(j[:, k] - j[:, h], axis=-1) + np.linalg.norm(j[:, a] - j[:, k], axis=-1))
        for h, k, a, _ in LEGS
    ]
    return float(np.mean(legs))


def scale_motion(joints: np.ndarray, body: RigBody) -> tuple[np.ndarray, float]:
    """(joints (T, 22, 3), scale): SMPL-22 joints (T, 22, 3, metres, Y up) in ``body``'s canonical frame,
    scaled by the leg ratio (steps 1 and 2 of the module doc); ``scale`` = rig units per motion metre."""
    j = np.asarray(joints, dtype=np.float64)
    if j.ndim != 3 or j.shape[1:] != (22, 3) or j.shape[0] < 1:
        raise MotionFileError(f"fitting a motion to a rig needs SMPL-22 joints (T, 22, 3), got {j.shape}")
    leg = motion_leg(j)
    if not leg > 1e-9:
        raise MotionFileError("the motion's legs have no length")
    s = body.leg / leg
    c = np.empty_like(j)
    c[..., 0] = (j[..., 0] - j[0, 0, 0]) * s + body.origin[0]
    c[..., 2] = (j[..., 2] - j[0, 0, 2]) * s + body.origin[1]
    c[..., 1] = (j[..., 1] - j[..., 1].min()) * s + body.floor
    return c, float(s)


def place_limbs(pose: np.ndarray, scaled: np.ndarray, body: RigBody) -> np.ndarray:
    """``pose`` (T, 22, 3, canonical, the body's bone lengths) with its ankles, toes and wrists put where
    ``scaled`` (the scaled motion) has them, as far as the limbs reach (step 4 of the module doc)."""
    fit = np.array(pose, dtype=np.float64, copy=True)
    fwd = _forward(fit)
    length = np.linalg.norm(body.offsets, axis=-1)
    for hip, knee, ankle, toe in LEGS:
        fit[:, knee], fit[:, ankle] = two_bone_ik(
            fit[:, hip], fit[:, knee], scaled[:, ankle], length[knee], length[ankle], fwd
        )
        fit[:, toe] = _toe(fit[:, ankle], scaled[:, ankle], scaled[:, toe], length[toe], fwd)
    for shoulder, elbow, wrist in ARMS:
        fit[:, elbow], fit[:, wrist] = two_bone_ik(
            fit[:, shoulder], fit[:, elbow], scaled[:, wrist], length[elbow], length[wrist], -fwd
        )
    return fit


def fit_motion(joints: np.ndarray, body: RigBody) -> tuple[np.ndarray, float]:
    """(joints (T, 22, 3) in the rig's world and units, scale): SMPL-22 joints (T, 22, 3, metres, Y up)
    fitted to ``body`` (see the module doc); ``scale`` = rig units per motion metre (the leg ratio)."""
    c, s = scale_motion(joints, body)
    fit = place_limbs(impose_bones(SMPL22.parents, c, body.offsets), c, body)
    return body.to_world(fit), s


def _forward(j: np.ndarray) -> np.ndarray:
    """Horizontal facing (T, 3) of canonical joints (from the hips and shoulders)."""
    across = (j[:, L_HIP] - j[:, R_HIP]) + (j[:, L_SHOULDER] - j[:, R_SHOULDER])  # towards the body's left (+X at rest)
    f = np.cross(across, [0.0, 1.0, 0.0])
    f[:, 1] = 0.0
    bad = np.linalg.norm(f, axis=-1) < 1e-9
    f[bad] = [0.0, 0.0, 1.0]
    return normalize(f)


def _toe(ankle: np.ndarray, ankle_ref: np.ndarray, toe_ref: np.ndarray, length: float, fwd: np.ndarray) -> np.ndarray:
    """Toes (T, 3) at ``length`` from ``ankle``, heading (in the ground plane) as the reference foot
    ``ankle_ref -> toe_ref`` and at the reference toe's height where the foot reaches it (the height
    difference is kept within 0.98 of the foot's length, so the foot never turns straight up or down)."""
    d = toe_ref - ankle_ref
    h = d.copy()
    h[:, 1] = 0.0
    flat = np.linalg.norm(h, axis=-1) < 1e-6 * max(length, 1e-9)
    h[flat] = fwd[flat]
    h = normalize(h)
    dy = np.clip(toe_ref[:, 1] - ankle[:, 1], -0.98 * length, 0.98 * length)
    out = ankle + h * np.sqrt(length**2 - dy**2)[:, None]
    out[:, 1] += dy
    return out


def mpjpe(a: np.ndarray, b: np.ndarray) -> float:
    """Mean per-joint position error between joints (T, J, 3) (in their units)."""
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64), axis=-1).mean())


__all__ = [
    "ARMS", "LEGS", "RigBody", "fit_motion", "motion_leg", "mpjpe", "place_limbs", "rig_body", "scale_motion",
    "snap_axes",
]  # fmt: skip
