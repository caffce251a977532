"""Synthetic BVH rigs for tests: CMU/Mixamo-style names (optionally prefixed), any units and channel order,
extra finger / head-top / prop joints, smooth random motion. Standalone (tests in other folders load it by
path), so it imports only numpy and moscale_cli."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from moscale_cli.motion.rig import Rig
from moscale_cli.motion.skeleton import SMPL22

# (name, SMPL-22 joint or None for an extra joint, parent name, extra offset in metres for extra joints)
MIXAMO_JOINTS: list[tuple[str, int | None, str | None, tuple[float, float, float] | None]] = [
    ("Hips", 0, None, None),
    ("LeftUpLeg", 1, "Hips", None), ("LeftLeg", 4, "LeftUpLeg", None), ("LeftFoot", 7, "LeftLeg", None),
    ("LeftToeBase", 10, "LeftFoot", None),
    ("RightUpLeg", 2, "Hips", None), ("RightLeg", 5, "RightUpLeg", None), ("RightFoot", 8, "RightLeg", None),
    ("RightToeBase", 11, "RightFoot", None),
    ("Spine", 3, "Hips", None), ("Spine1", 6, "Spine", None), ("Spine2", 9, "Spine1", None),
    ("Neck", 12, "Spine2", None), ("Head", 15, "Neck", None), ("HeadTop_End", None, "Head", (0.0, 0.12, 0.02)),
    ("LeftShoulder", 13, "Spine2", None), ("LeftArm", 16, "LeftShoulder", None),
    ("LeftForeArm", 18, "LeftArm", None), ("LeftHand", 20, "LeftForeArm", None),
    ("LeftHandIndex1", None, "LeftHand", (0.08, -0.01, 0.02)), ("LeftHandIndex2", None, "LeftHandIndex1", (0.03, 0, 0)),
    ("LeftHandThumb1", None, "LeftHand", (0.03, -0.01, 0.04)), ("LeftHandThumb2", None, "LeftHandThumb1", (0.03, 0, 0.01)),
    ("RightShoulder", 14, "Spine2", None), ("RightArm", 17, "RightShoulder", None),
    ("RightForeArm", 19, "RightArm", None), ("RightHand", 21, "RightForeArm", None),
    ("RightHandIndex1", None, "RightHand", (-0.08, -0.01, 0.02)), ("RightHandIndex2", None, "RightHandIndex1", (-0.03, 0, 0)),
    ("Sword", None, "RightHand", (-0.05, -0.3, 0.1)),
]  # fmt: skip

ROT = {"X": "Xrotation", "Y": "Yrotation", "Z": "Zrotation"}
POS = ["Xposition", "Yposition", "Zposition"]


def _dfs(joints):
    children: dict[str | None, list] = {}
    for j in joints:
        children.setdefault(j[2], []).append(j)
    out = []

    def visit(j):
        out.append(j)
        for c in children.get(j[0], []):
            visit(c)

    visit(children[None][0])
    return out


def mixamo_rig(
    prefix: str = "mixamorig:",
    units: float = 100.0,
    order: str = "ZXY",
    six_channels: bool = False,
    fingers: bool = True,
    rename: dict[str, str] | None = None,
) -> tuple[Rig, list[int | None]]:
    """(rig, SMPL-22 joint of every rig joint or None); rest pose = SMPL-22's in ``units`` per metre."""
    rest = SMPL22.rest_pose().astype(np.float64)
    joints = [j for j in MIXAMO_JOINTS if fingers or j[1] is not None or j[0] == "HeadTop_End"]
    joints = _dfs(joints)
    names = [j[0] for j in joints]
    smpl = [j[1] for j in joints]
    parents, offsets, channels = [], [], []
    for j in joints:
        p = -1 if j[2] is None else names.index(j[2])
        parents.append(p)
        if p < 0:
            off = rest[0]
        elif j[1] is not None:
            off = rest[j[1]] - rest[smpl[p]]
        else:
            off = np.array(j[3])
        offsets.append(np.asarray(off) * units)
        rot = [ROT[a] for a in order]
        channels.append(POS + rot if (p < 0 or six_channels) else rot)
    rename = rename or {}
    names = [prefix + rename.get(n, n) for n in names]
    return Rig(names, parents, np.stack(offsets), channels), smpl


def random_values(rig: Rig, frames: int, seed: int = 0, amp: float = 20.0, walk: float = 1.0) -> np.ndarray:
    """Smooth random channel values: rotations of ``amp`` degrees, a root walking ``walk`` units/frame
    (position channels of other joints keep the offsets)."""
    rng = np.random.default_rng(seed)
    v = np.zeros((frames, rig.num_channels))
    for k in range(rig.num_joints):
        rc = rig.rot_cols[k]
        if rc:
            a = gaussian_filter1d(rng.normal(size=(frames, len(rc))), 4.0, axis=0, mode="nearest")
            v[:, rc] = a / max(a.std(), 1e-9) * amp
        for col, axis in rig.pos_cols[k]:
            v[:, col] = rig.offsets[k, axis]
    root = rig.pos_cols[0]
    if root:
        heading = np.cumsum(gaussian_filter1d(rng.normal(size=frames), 5.0)) * 2.0
        v[:, rig.rot_cols[0][rig.rot_order[0].index("Y")]] = heading
        step = (
            np.stack([np.sin(np.radians(heading)), np.zeros(frames), np.cos(np.radians(heading))], -1) * walk
        )
        path = np.cumsum(step, axis=0)
        for col, axis in root:
            v[:, col] = rig.offsets[0, axis] + path[:, axis]
    return v


def legless_bvh(src, dst):
    """A copy of a Bandai-Namco BVH whose leg joints have unmappable names."""
    dst.write_text(src.read_text().replace("UpperLeg_", "Wing_"))
    return dst


def zero_bone_bvh(src, dst):
    """A copy of a Bandai-Namco BVH whose left ankle sits on its knee (a zero-length bone)."""
    from moscale_cli.io.bvh import read_bvh, write_rig

    clip = read_bvh(src)
    values = clip.values.copy()
    values[:, clip.rig.columns[clip.index("Foot_L")][:3]] = 0.0
    write_rig(dst, clip.rig, values, clip.frame_time)
    return dst
