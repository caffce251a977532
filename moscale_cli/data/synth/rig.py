"""Pose parameters -> SMPL-22 joints by forward kinematics (bone lengths exactly those of SMPL22).

A pose is a vector of ``NP`` channels (see the ``C_*`` indices). Legs are given by the position of the
toe ("foot" joint) relative to the hip (height: relative to the pelvis) in the upright body frame plus a foot pitch, and solved by 2-bone
IK (the knee always bends forward); arms by elevation/azimuth/twist/elbow angles (``arm_ik`` turns a wrist
target and an elbow pole into those). Right-side channels are written in mirrored coordinates, so the
same numbers give a mirror-symmetric pose. Blending poses is a linear interpolation of these channels.

Body frame: Y up, +X = character's left, +Z = forward, pelvis at the origin.
"""

from __future__ import annotations

import numpy as np

from moscale_cli.motion.skeleton import (
    HEAD,
    L_ANKLE,
    L_COLLAR,
    L_ELBOW,
    L_FOOT,
    L_HIP,
    L_KNEE,
    L_SHOULDER,
    L_WRIST,
    NECK,
    PELVIS,
    R_ANKLE,
    R_COLLAR,
    R_ELBOW,
    R_FOOT,
    R_HIP,
    R_KNEE,
    R_SHOULDER,
    R_WRIST,
    SMPL22,
    SPINE1,
    SPINE2,
    SPINE3,
)

PARENTS = SMPL22.parents
BL = SMPL22.bone_lengths.astype(np.float64)


def _rest_offsets() -> np.ndarray:
    """Rest-pose bone vectors with SMPL22's lengths and a human layout: hips below the pelvis, collar
    bones going up and out, shoulders level, the head ahead of the neck (SMPL22's raw directions put
    collars at 90 degrees to the neck, which no mocap skeleton has)."""
    dirs = SMPL22.raw_offsets.astype(np.float64).copy()
    custom = {
        L_HIP: (0.55, -0.83, 0.0), SPINE1: (0.0, 1.0, -0.08), SPINE2: (0.0, 1.0, 0.03),
        SPINE3: (0.0, 1.0, 0.03), NECK: (0.0, 1.0, 0.08), L_COLLAR: (0.57, 0.82, -0.05),
        HEAD: (0.0, 0.85, 0.52), L_SHOULDER: (0.97, 0.2, -0.05),
    }  # fmt: skip
    for j, d in custom.items():
        dirs[j] = d
        mirror = {L_HIP: R_HIP, L_COLLAR: R_COLLAR, L_SHOULDER: R_SHOULDER}.get(j)
        if mirror is not None:
            dirs[mirror] = (-d[0], d[1], d[2])
    dirs /= np.maximum(np.linalg.norm(dirs, axis=1, keepdims=True), 1e-12)
    return dirs * BL[:, None]


OFFSETS = _rest_offsets()

# channels --------------------------------------------------------------------------------------------
C_PELVIS_PITCH, C_SPINE_PITCH, C_SPINE_ROLL, C_SPINE_YAW, C_NECK_PITCH, C_NECK_YAW = range(6)
C_LEG = (6, 10)  # left, right: toe_x (outward), toe_y, toe_z, foot_pitch
C_ARM = (14, 18)  # left, right: elev, azim, twist, elbow
C_CONTACT = (22, 23)  # stance weight of the left / right foot (1 = planted)
C_YAW_RATE = 24  # root yaw change per frame (radians, + = turn left)
C_AIR = 25  # extra root height while airborne
C_AIR_VX, C_AIR_VZ = 26, 27  # root velocity (m/frame, body frame) while airborne
C_TWIST = (28, 29)  # hip twist (filled by the composer from the foot yaw tracks)
NP = 30

FOOT_NEUTRAL = 0.5  # rad: toe below the ankle when the foot stands flat (the skeleton has no heel)
# per side (0 left, 1 right): the leg's joints (hip, knee, ankle, foot) and arm's (shoulder, elbow, wrist)
LEG_JOINTS = {0: (L_HIP, L_KNEE, L_ANKLE, L_FOOT), 1: (R_HIP, R_KNEE, R_ANKLE, R_FOOT)}
ARM_JOINTS = {0: (L_SHOULDER, L_ELBOW, L_WRIST), 1: (R_SHOULDER, R_ELBOW, R_WRIST)}
# thigh, shin, foot bone lengths and the hip joint; upper arm and forearm lengths
LEG = {s: (BL[kn], BL[an], BL[ft], hip) for s, (hip, kn, an, ft) in LEG_JOINTS.items()}
ARM = {s: (BL[el], BL[wr]) for s, (_, el, wr) in ARM_JOINTS.items()}
MIRROR = np.diag([-1.0, 1.0, 1.0])


def _stand_height() -> float:
    """Toe depth below the pelvis when standing with ~6 degrees of knee bend (same for both legs)."""
    hs = []
    for side in (0, 1):
        l1, l2, lf, _ = LEG[side]
        d = np.sqrt(l1**2 + l2**2 + 2 * l1 * l2 * np.cos(np.radians(6.0)))
        hs.append(d + lf * np.sin(FOOT_NEUTRAL) - OFFSETS[LEG[side][3], 1])
    return float(min(hs))


STAND_H = _stand_height()
TOE_Z0 = float(LEG[0][2] * np.cos(FOOT_NEUTRAL))  # toe ahead of the hip when the ankle is below it


# rotations -------------------------------------------------------------------------------------------
def rx(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def ry(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def rz(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def axis_angle(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rodrigues: (N,3) unit axes, (N,) angles -> (N,3,3)."""
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    c, s = np.cos(angle), np.sin(angle)
    C = 1 - c
    return np.stack(
        [
            np.stack([c + x * x * C, x * y * C - z * s, x * z * C + y * s], -1),
            np.stack([y * x * C + z * s, c + y * y * C, y * z * C - x * s], -1),
            np.stack([z * x * C - y * s, z * y * C + x * s, c + z * z * C], -1),
        ],
        -2,
    )


def arm_swing(elev: np.ndarray, azim: np.ndarray) -> np.ndarray:
    """Rotation taking the hanging upper arm (0,-1,0) to direction (sin e cos a, -cos e, sin e sin a)."""
    axis = np.stack([-np.sin(azim), np.zeros_like(azim), np.cos(azim)], -1)
    return axis_angle(axis, elev)


# inverse kinematics ----------------------------------------------------------------------------------
def leg_ik(side: int, toe: np.ndarray, pitch: np.ndarray) -> tuple[np.ndarray, ...]:
    """Toe target (N,3) relative to the hip (x outward) and foot pitch -> (abd, flex, knee, ankle) angles."""
    l1, l2, lf, _ = LEG[side]
    theta = FOOT_NEUTRAL + pitch
    abd = np.arctan2(toe[:, 0], -toe[:, 1])
    for _ in range(3):
        foot = np.stack(
            [lf * np.sin(theta) * np.sin(abd), -lf * np.sin(theta) * np.cos(abd), lf * np.cos(theta)], -1
        )
        ank = toe - foot
        abd = np.arctan2(ank[:, 0], -ank[:, 1])
    r = np.sqrt(ank[:, 0] ** 2 + ank[:, 1] ** 2)
    z = ank[:, 2]
    d = np.clip(np.sqrt(r * r + z * z), 0.25, (l1 + l2) * 0.99995)
    knee = np.pi - np.arccos(np.clip((l1 * l1 + l2 * l2 - d * d) / (2 * l1 * l2), -1, 1))
    alpha = np.arccos(np.clip((l1 * l1 + d * d - l2 * l2) / (2 * l1 * d), -1, 1))
    flex = np.arctan2(z, r) + alpha
    ankle = theta + flex - knee
    return abd, flex, knee, ankle


def arm_ik(
    side: int, wrist: np.ndarray, pole: np.ndarray, extend: float = 0.999
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Wrist target and elbow pole direction (N,3) relative to the shoulder, in left-side (mirrored)
    torso coordinates -> (elev, azim, twist, elbow)."""
    wrist = np.atleast_2d(np.asarray(wrist, dtype=np.float64))
    pole = np.broadcast_to(np.asarray(pole, dtype=np.float64), wrist.shape)
    l1, l2 = ARM[side]
    d = np.clip(np.linalg.norm(wrist, axis=-1), 0.08, (l1 + l2) * extend)
    w = wrist / np.maximum(np.linalg.norm(wrist, axis=-1, keepdims=True), 1e-9)
    p = pole - (pole * w).sum(-1, keepdims=True) * w
    p = p / np.maximum(np.linalg.norm(p, axis=-1, keepdims=True), 1e-9)
    alpha = np.arccos(np.clip((l1 * l1 + d * d - l2 * l2) / (2 * l1 * d), -1, 1))
    elbow = np.pi - np.arccos(np.clip((l1 * l1 + l2 * l2 - d * d) / (2 * l1 * l2), -1, 1))
    u = np.cos(alpha)[:, None] * w + np.sin(alpha)[:, None] * p
    elev = np.arccos(np.clip(-u[:, 1], -1, 1))
    azim = np.arctan2(u[:, 2], u[:, 0])
    sw = arm_swing(elev, azim)
    x0, z0 = sw[:, :, 0], sw[:, :, 2]
    fore = w * d[:, None] - l1 * u
    b = fore - (fore * u).sum(-1, keepdims=True) * u
    twist = np.arctan2((b * x0).sum(-1), (b * z0).sum(-1))
    twist = np.where(elbow < 1e-3, 0.0, twist)
    return elev, azim, np.unwrap(twist), elbow


def arm_from_flex(flex: np.ndarray, abd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Arm swing (forward flexion, outward abduction) -> (elev, azim); continuous through zero."""
    flex = np.asarray(flex, dtype=np.float64)
    abd = np.asarray(abd, dtype=np.float64)
    return np.sqrt(flex * flex + abd * abd), np.arctan2(flex, abd)


def enforce_reach(P: np.ndarray, margin: float = 0.985) -> None:
    """Raise both toe targets (= lower the pelvis) where a leg could not reach its toe target, smoothly
    and equally for both legs, so that IK never clamps (a clamped toe would slide)."""
    from moscale_cli.data.synth.curves import gaussian_smooth, max_filter

    need = np.zeros(len(P))
    for side in (0, 1):
        c = C_LEG[side]
        l1, l2, lf, hj = LEG[side]
        theta = FOOT_NEUTRAL + P[:, c + 3]
        horiz = np.hypot(P[:, c], P[:, c + 2] - lf * np.cos(theta))
        dmax = (l1 + l2) * margin
        depth_ok = np.sqrt(np.maximum(dmax**2 - horiz**2, 0.04)) + lf * np.sin(theta) - OFFSETS[hj, 1]
        need = np.maximum(need, -(depth_ok + P[:, c + 1]))
    if need.max() <= 0:
        return
    raise_by = gaussian_smooth(max_filter(need, 6), 2.0)
    for c in C_LEG:
        P[:, c + 1] += raise_by


# forward kinematics ----------------------------------------------------------------------------------
def local_rotations(P: np.ndarray) -> np.ndarray:
    """(N, NP) pose channels -> (N, 22, 3, 3) local joint rotations in the body frame (no root yaw)."""
    n = P.shape[0]
    R = np.broadcast_to(np.eye(3), (n, 22, 3, 3)).copy()
    pp = P[:, C_PELVIS_PITCH]
    R[:, PELVIS] = rx(pp)
    sp = ry(P[:, C_SPINE_YAW] / 3) @ rx(P[:, C_SPINE_PITCH] / 3) @ rz(-P[:, C_SPINE_ROLL] / 3)
    for j in (SPINE1, SPINE2, SPINE3):
        R[:, j] = sp
    R[:, NECK] = ry(P[:, C_NECK_YAW]) @ rx(P[:, C_NECK_PITCH])
    pelvis_inv = rx(-pp)
    for side in (0, 1):
        c = C_LEG[side]
        toe = P[:, c : c + 3].copy()
        toe[:, 1] -= OFFSETS[LEG[side][3], 1]  # toe heights are given relative to the pelvis
        # the twist turns the leg (and the foot's heading) about the vertical through the hip while
        # the toe stays on its target: solve the IK in the twisted frame
        tw = P[:, C_TWIST[side]]
        toe = np.einsum("nij,nj->ni", ry(-tw), toe)
        abd, flex, knee, ankle = leg_ik(side, toe, P[:, c + 3])
        hip = ry(tw) @ rz(abd) @ rx(-flex)
        if side == 1:
            hip = MIRROR @ hip @ MIRROR
        hj, kj, aj, _ = LEG_JOINTS[side]
        R[:, hj] = pelvis_inv @ hip
        R[:, kj] = rx(knee)
        R[:, aj] = rx(ankle)
        a = C_ARM[side]
        sh = arm_swing(P[:, a], P[:, a + 1]) @ ry(P[:, a + 2])
        if side == 1:
            sh = MIRROR @ sh @ MIRROR
        sj, ej, _ = ARM_JOINTS[side]
        R[:, sj] = sh
        R[:, ej] = rx(-P[:, a + 3])
    return R


def forward_kinematics(R: np.ndarray) -> np.ndarray:
    """(N,22,3,3) local rotations -> (N,22,3) joints, pelvis at the origin."""
    n = R.shape[0]
    G = np.empty_like(R)
    pos = np.zeros((n, 22, 3))
    for j, p in enumerate(PARENTS):
        if p < 0:
            G[:, j] = R[:, j]
            continue
        pos[:, j] = pos[:, p] + G[:, p] @ OFFSETS[j]
        G[:, j] = G[:, p] @ R[:, j]
    return pos


def body_joints(P: np.ndarray) -> np.ndarray:
    """(N, NP) -> (N, 22, 3) joints in the body frame."""
    return forward_kinematics(local_rotations(P))


def neutral(rng: np.random.Generator | None = None) -> np.ndarray:
    """The standing pose (with a little per-clip variation when ``rng`` is given)."""
    P = np.zeros(NP)
    j = (lambda s: rng.uniform(-s, s)) if rng is not None else (lambda s: 0.0)
    P[C_PELVIS_PITCH] = 0.03 + j(0.03)
    P[C_SPINE_PITCH] = 0.02 + j(0.03)
    for side in (0, 1):
        c = C_LEG[side]
        P[c : c + 4] = (0.02 + j(0.02), -STAND_H, TOE_Z0 + 0.01 + j(0.02), 0.0)
        a = C_ARM[side]
        e, az = arm_from_flex(0.05 + j(0.05), 0.14 + j(0.04))
        P[a : a + 4] = (e, az, 0.0, 0.25 + j(0.1))
        P[C_CONTACT[side]] = 1.0
    return P
