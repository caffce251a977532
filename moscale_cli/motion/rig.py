"""Rigs with BVH channels: channel values <-> local transforms, the SMPL-22 export rig, and solving a
rig's channels so that its mapped joints follow new SMPL-22 joint positions (retargeting onto the
source's own skeleton).

Channel semantics (as in BVH and most tools): a joint's local transform is ``T(p) @ R`` where ``p`` is
its OFFSET with any position channels overriding the matching components, and ``R`` is the product of
its rotation channels in the listed order, intrinsic, in degrees (``Zrotation Xrotation Yrotation``
-> Rz @ Rx @ Ry).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from moscale_cli.errors import MotionFileError
from moscale_cli.motion.kinematics import (
    bone_lengths,
    check_parents,
    children_of,
    forward_kinematics,
    inverse_kinematics,
    kabsch,
    swing,
)
from moscale_cli.motion.mapping import (
    SMPL22_BVH_NAMES,
    Mapping,
    MappingValue,
    apply_mapping,
    mapping_indices,
    mapping_names,
    virtual_toe_base,
)
from moscale_cli.motion.quaternion import closest_euler, euler_to_matrix, matrix_to_euler, normalize
from moscale_cli.motion.skeleton import SMPL22

POS_CHANNELS = {"Xposition": 0, "Yposition": 1, "Zposition": 2}
ROT_CHANNELS = {"Xrotation": "X", "Yrotation": "Y", "Zrotation": "Z"}
ROOT_CHANNELS = ["Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation"]
JOINT_CHANNELS = ["Zrotation", "Xrotation", "Yrotation"]


@dataclass
class Rig:
    """A joint hierarchy with BVH channels (joints in file order: every parent before its children)."""

    names: list[str]
    parents: list[int]
    offsets: np.ndarray  # (J, 3)
    channels: list[list[str]]  # per joint, in file order
    end_sites: dict[int, np.ndarray] = field(default_factory=dict)  # joint -> End Site offset
    # derived column layout
    columns: list[list[int]] = field(init=False, repr=False)
    pos_cols: list[list[tuple[int, int]]] = field(init=False, repr=False)  # per joint (column, axis)
    rot_cols: list[list[int]] = field(init=False, repr=False)
    rot_order: list[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.parents = list(check_parents(self.parents))
        self.offsets = np.asarray(self.offsets, dtype=np.float64).reshape(len(self.names), 3)
        if not (len(self.names) == len(self.parents) == len(self.channels)):
            raise MotionFileError("a rig needs one name, parent and channel list per joint")
        self.columns, self.pos_cols, self.rot_cols, self.rot_order = [], [], [], []
        col = 0
        for chans in self.channels:
            pc, rc, order = [], [], ""
            for c in chans:
                if c in POS_CHANNELS:
                    pc.append((col, POS_CHANNELS[c]))
                elif c in ROT_CHANNELS:
                    rc.append(col)
                    order += ROT_CHANNELS[c]
                else:
                    raise MotionFileError(f"unknown channel {c!r}")
                col += 1
            self.columns.append(list(range(col - len(chans), col)))
            self.pos_cols.append(pc)
            self.rot_cols.append(rc)
            self.rot_order.append(order)

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def num_channels(self) -> int:
        return sum(len(c) for c in self.channels)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def rotatable(self, k: int) -> bool:
        """The joint's rotation channels can express any rotation (three distinct axes)."""
        return len(self.rot_order[k]) == 3 and len(set(self.rot_order[k])) == 3

    def local_transforms(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Local rotations (T, J, 3, 3) and translations (T, J, 3) from channel values (T, C)."""
        values = np.asarray(values, dtype=np.float64)
        t, j = values.shape[0], self.num_joints
        trans = np.broadcast_to(self.offsets, (t, j, 3)).copy()
        rot = np.broadcast_to(np.eye(3), (t, j, 3, 3)).copy()
        groups: dict[str, list[int]] = {}
        for k in range(j):
            for col, axis in self.pos_cols[k]:
                trans[:, k, axis] = values[:, col]
            if self.rot_order[k]:
                groups.setdefault(self.rot_order[k], []).append(k)
        for order, ks in groups.items():
            cols = np.array([self.rot_cols[k] for k in ks])  # (n, len(order))
            rot[:, ks] = euler_to_matrix(values[:, cols], order)
        return rot, trans

    def forward(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Global positions (T, J, 3) and rotations (T, J, 3, 3) of channel values (T, C)."""
        rot, trans = self.local_transforms(values)
        return forward_kinematics(self.parents, rot, trans)

    def rotation_values(self, k: int, local_rot: np.ndarray, ref: np.ndarray | None = None) -> np.ndarray:
        """Channel values (T, 3) of joint ``k``'s rotation channels for local rotations (T, 3, 3),
        the Euler triple nearest ``ref`` (T, 3) where given (continuous curves)."""
        e = matrix_to_euler(local_rot, self.rot_order[k])
        return e if ref is None else closest_euler(e, ref, self.rot_order[k])


# ------------------------------------------------------------------------------------ SMPL-22 export
def _dfs(parents: Sequence[int]) -> list[int]:
    ch = children_of(parents)
    out: list[int] = []
    stack = [0]
    while stack:
        k = stack.pop()
        out.append(k)
        stack.extend(reversed(ch[k]))
    return out


SMPL22_FILE_ORDER: tuple[int, ...] = tuple(_dfs(SMPL22.parents))  # SMPL-22 index of each BVH joint
_BRANCHES = ((0, (1, 2, 3)), (9, (13, 14, 12)))  # (joint, (left child, right child, up child))
_END_SITE_LENGTH = {10: 0.05, 11: 0.05, 15: 0.12}  # metres along the bone; others 0.08


def smpl22_rest_offsets(joints_TJ3: np.ndarray) -> np.ndarray:
    """Rest offsets (22, 3) for exporting SMPL-22 joints: every bone takes its median length over the
    clip; single-child bones the raw SMPL direction; the bones leaving the two branching joints
    (pelvis -> hips/spine1, spine3 -> neck/collars) the clip's own directions, averaged in a
    left/up/forward frame of the branch: branch triangles are rigid in the data but not right-angled as
    the raw offsets are, and a hierarchy reproduces them only if its rest pose has their shape.
    """
    j = np.asarray(joints_TJ3, dtype=np.float64)
    lengths = np.median(bone_lengths(SMPL22.parents, j), axis=0)
    off = SMPL22.raw_offsets.astype(np.float64) * lengths[:, None]
    for branch, (left, right, up) in _BRANCHES:
        x = normalize(j[:, left] - j[:, right])
        upv = j[:, up] - j[:, branch]
        y = upv - np.sum(upv * x, -1, keepdims=True) * x
        ok = (np.linalg.norm(j[:, left] - j[:, right], axis=-1) > 1e-6) & (np.linalg.norm(y, axis=-1) > 1e-6)
        if not ok.any():
            continue
        y = normalize(y)
        frame = np.stack([x, y, np.cross(x, y)], axis=-1)[ok]  # columns = axes
        for c in (left, right, up):
            local = np.einsum("tji,tj->ti", frame, (j[:, c] - j[:, branch])[ok]).mean(0)
            if np.linalg.norm(local) > 1e-9:
                off[c] = normalize(local) * lengths[c]
    return off


def _unwrap_euler(e: np.ndarray) -> np.ndarray:
    """Euler triples (T, J, 3), each frame's triple nearest the previous one (no 360-degree jumps)."""
    for f in range(1, e.shape[0]):
        e[f] = closest_euler(e[f], e[f - 1], "XYZ")  # the two-triple rule is the same for every order
    return e


def smpl22_rig(joints_TJ3: np.ndarray) -> tuple[Rig, np.ndarray, np.ndarray]:
    """(rig, values (T, C), local rotations (T, 22, 3, 3) in SMPL-22 order) for SMPL-22 joints (T, 22, 3).

    The rig is a 22-joint hierarchy named ``SMPL22_BVH_NAMES`` in depth-first file order, with the
    clip's own bone lengths (:func:`smpl22_rest_offsets`); the root has position + ZXY rotation
    channels, the other joints ZXY rotations solved by :func:`~moscale_cli.motion.kinematics.inverse_kinematics`.
    FK of the rig gives back the joints up to the variation of each bone's length over the clip.
    """
    j = np.asarray(joints_TJ3, dtype=np.float64)
    off = smpl22_rest_offsets(j)
    _, local = inverse_kinematics(SMPL22.parents, off, j)
    order = SMPL22_FILE_ORDER
    pos_in_file = {s: i for i, s in enumerate(order)}
    ends = {}
    for s in order:
        if not children_of(SMPL22.parents)[s]:
            d = normalize(off[s]) if np.linalg.norm(off[s]) > 0 else np.array([0.0, 1.0, 0.0])
            ends[pos_in_file[s]] = d * _END_SITE_LENGTH.get(s, 0.08)
    rig = Rig(
        names=[SMPL22_BVH_NAMES[s] for s in order],
        parents=[-1 if SMPL22.parents[s] < 0 else pos_in_file[SMPL22.parents[s]] for s in order],
        offsets=np.stack([off[s] if s else np.zeros(3) for s in order]),
        channels=[list(ROOT_CHANNELS) if s == 0 else list(JOINT_CHANNELS) for s in order],
        end_sites=ends,
    )
    values = np.zeros((j.shape[0], rig.num_channels))
    values[:, :3] = j[:, 0]
    euler = _unwrap_euler(
        np.stack([rig.rotation_values(i, local[:, s]) for i, s in enumerate(order)], axis=1)
    )
    values[:, np.array(rig.rot_cols)] = euler
    return rig, values, local


# ------------------------------------------------------------------------ rest pose and virtual toes
# A virtual toe (rigs without toe joints) lies this many shin lengths forward of and below the ankle in
# the rest pose: the median ankle -> toe vector of standing feet in HumanML3D's fixture clips.
TOE_FORWARD, TOE_DOWN = 0.27, 0.11


def rest_values(rig: Rig, frames: int = 1) -> np.ndarray:
    """Channel values (frames, C) of the rig's rest pose: every rotation 0, position channels = the offsets."""
    v = np.zeros((frames, rig.num_channels))
    for k in range(rig.num_joints):
        for col, axis in rig.pos_cols[k]:
            v[:, col] = rig.offsets[k, axis]
    return v


def _points(names: Sequence[str], positions: np.ndarray, value: MappingValue) -> np.ndarray:
    """The mean position (..., 3) of a mapping value's joints (``positions`` (..., J, 3))."""
    idx = [names.index(n) for n in mapping_names(value)]
    return positions[..., idx, :].mean(axis=-2)


def body_axes(rig: Rig, mapping: Mapping, positions: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(up, forward) unit vectors of the body in the rig's world, from the rest pose (or ``positions``
    (J, 3)): up from the pelvis to the neck, forward perpendicular to it and to the line from the right
    hip to the left hip (SMPL-22: +X is the character's left)."""
    pos = rig.forward(rest_values(rig))[0][0] if positions is None else np.asarray(positions, dtype=np.float64)
    names = rig.names
    for role in ("pelvis", "neck", "left_hip", "right_hip"):
        missing = [n for n in mapping_names(mapping[role]) if n not in names]
        if missing:
            raise MotionFileError(f"the rig has no joint named {missing[0]} (the mapping's {role})")
    up = _points(names, pos, mapping["neck"]) - _points(names, pos, mapping["pelvis"])
    left = _points(names, pos, mapping["left_hip"]) - _points(names, pos, mapping["right_hip"])
    if np.linalg.norm(up) < 1e-9 or np.linalg.norm(left) < 1e-9:
        raise MotionFileError("the rig's rest pose has its pelvis on its neck or its hips on each other")
    up = normalize(up)
    fwd = np.cross(left, up)
    if np.linalg.norm(fwd) < 1e-9:
        raise MotionFileError("the rig's rest pose has its hips along its spine")
    return up, normalize(fwd)


def virtual_toes(rig: Rig, mapping: Mapping) -> dict[str, tuple[int, np.ndarray]]:
    """``{name: (ankle joint, offset in the ankle's frame)}`` for the virtual toes ``mapping`` names
    (``"<ankle> (toe)"``, see ``motion.mapping.VIRTUAL_TOE``) that are not joints of the rig.

    The toe is a point fixed in the ankle's frame, on the foot's forward axis: the ankle's End Site when
    it points forward (within 60 degrees of the body's rest forward direction), else ``TOE_FORWARD``
    shin lengths forward and ``TOE_DOWN`` down from the ankle in the rest pose (the rest pose's global
    rotations are the identity, so a rest-pose vector is the offset in the ankle's frame)."""
    virt = sorted(
        {n for v in mapping.values() for n in mapping_names(v) if n not in rig.names and virtual_toe_base(n)}
    )
    if not virt:
        return {}
    pos = rig.forward(rest_values(rig))[0][0]
    up, fwd = body_axes(rig, mapping, pos)
    out: dict[str, tuple[int, np.ndarray]] = {}
    for name in virt:
        base = virtual_toe_base(name)
        if base not in rig.names:
            raise MotionFileError(f"the rig has no joint named {base} (for the virtual toe {name!r})")
        k = rig.names.index(base)
        end = rig.end_sites.get(k)
        if end is not None and np.linalg.norm(end) > 1e-9 and float(normalize(end) @ fwd) >= 0.5:
            out[name] = (k, np.asarray(end, dtype=np.float64))
            continue
        knee = next(
            (mapping[r.replace("ankle", "knee")] for r in ("left_ankle", "right_ankle") if mapping.get(r) == base),
            None,
        )
        above = _points(rig.names, pos, knee) if knee is not None else pos[max(rig.parents[k], 0)]
        shin = float(np.linalg.norm(pos[k] - above))
        if shin < 1e-9:
            raise MotionFileError(f"cannot place the virtual toe of {base}: its shin has no length")
        out[name] = (k, shin * (TOE_FORWARD * fwd - TOE_DOWN * up))
    return out


def with_virtual_toes(rig: Rig, toes: dict[str, tuple[int, np.ndarray]]) -> Rig:
    """The rig with its virtual toes appended as joints without channels (same channel layout)."""
    if not toes:
        return rig
    return Rig(
        names=[*rig.names, *toes],
        parents=[*rig.parents, *(k for k, _ in toes.values())],
        offsets=np.concatenate([rig.offsets, np.stack([o for _, o in toes.values()])]),
        channels=[*rig.channels, *([] for _ in toes)],
        end_sites=dict(rig.end_sites),
    )


# ------------------------------------------------------------------------------ solving a source rig
def rig_smpl22(
    rig: Rig,
    positions_TJ3: np.ndarray,
    mapping: Mapping,
    where: str = "the file",
    rotations: np.ndarray | None = None,
) -> np.ndarray:
    """SMPL-22 joints (T, 22, 3) of a rig's global joint positions through ``mapping`` (rig units).

    A mapping that names virtual toes (:func:`virtual_toes`) needs the joints' global ``rotations``
    (T, J, 3, 3) too."""
    names = list(rig.names)
    pos = np.asarray(positions_TJ3, dtype=np.float64)
    toes = virtual_toes(rig, mapping)
    if toes:
        if rotations is None:
            raise MotionFileError("the mapping names virtual toes: their positions need the joints' rotations")
        rot = np.asarray(rotations, dtype=np.float64)
        extra = [pos[:, k] + np.einsum("tij,j->ti", rot[:, k], off) for k, off in toes.values()]
        pos = np.concatenate([pos, np.stack(extra, axis=1)], axis=1)
        names += list(toes)
    return apply_mapping(pos, mapping_indices(names, mapping, where))


def _frame_mask(frames: Sequence[int] | np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
    """(sorted frame indices, order of the given rows) from indices or a boolean mask of length T."""
    f = np.asarray(frames)
    if f.dtype == bool:
        if f.shape != (t,):
            raise MotionFileError(f"frame mask has shape {f.shape}, the clip has {t} frames")
        idx = np.flatnonzero(f)
        return idx, np.arange(len(idx))
    idx = f.astype(np.int64).reshape(-1)
    if len(idx) and (idx.min() < 0 or idx.max() >= t):
        raise MotionFileError(f"frame indices must lie in 0..{t - 1}")
    if len(np.unique(idx)) != len(idx):
        raise MotionFileError("frame indices repeat")
    order = np.argsort(idx, kind="stable")
    return idx[order], order


def nearest_kept(keep: np.ndarray) -> np.ndarray:
    """For every frame, the nearest frame where ``keep`` is True (itself if kept; the earlier on ties);
    every frame maps to itself when nothing is kept."""
    t = len(keep)
    kept = np.flatnonzero(keep)
    if not len(kept):
        return np.arange(t)
    pos = np.searchsorted(kept, np.arange(t))
    lo = kept[np.clip(pos - 1, 0, len(kept) - 1)]
    hi = kept[np.clip(pos, 0, len(kept) - 1)]
    return np.where(np.abs(np.arange(t) - lo) <= np.abs(hi - np.arange(t)), lo, hi)


def _nearest_mapped_descendants(children: list[list[int]], target: dict[int, int]) -> list[list[int]]:
    out: list[list[int]] = [[] for _ in children]
    for k in reversed(range(len(children))):
        for c in children[k]:
            out[k].extend([c] if c in target else out[c])
    return out


def solve_channels(
    rig: Rig,
    values: np.ndarray,
    mapping: Mapping,
    joints_TJ3: np.ndarray,
    frames: Sequence[int] | np.ndarray,
    twist: str = "frame",
) -> np.ndarray:
    """The rig's channel values (T, C) with ``frames`` re-solved to follow new SMPL-22 joints.

    ``joints_TJ3`` (len(frames), 22, 3): new joint positions for ``frames`` (indices, in any order, or a
    boolean mask of length T), in the rig's units, world space and frame rate. Every other frame keeps
    ``values`` exactly. In the solved frames:
    - every channel starts from the nearest other (kept) frame's values, except the position channels
      of non-root joints, which keep their own frame's values (bone lengths of 6-channel rigs);
    - joints mapped one-to-one (a single name in ``mapping``), from the pelvis down, get rotations: with
      several mapped descendants (pelvis, chest) the best fit of their directions, with one the minimal
      rotation onto the new bone direction starting from the source's rotation (so its twist is kept:
      ``twist="frame"`` the frame's own, ``"nearest"`` the kept frame's), with none (hands, head, toes)
      the source rotation as it is;
    - the pelvis reaches its new position through the position channels of the pelvis joint, or of
      its nearest ancestor that has them;
    - unmapped joints (fingers, props, a static root, joints only named inside a list) hold.
    Rotations are written in each joint's channel order, the Euler triple nearest the starting values.
    """
    if twist not in ("frame", "nearest"):
        raise MotionFileError(f"twist must be 'frame' or 'nearest', got {twist!r}")
    values = np.asarray(values, dtype=np.float64)
    t = values.shape[0]
    if values.shape != (t, rig.num_channels):
        raise MotionFileError(
            f"channel values have shape {values.shape}, the rig has {rig.num_channels} channels"
        )
    sf, order = _frame_mask(frames, t)
    rig = with_virtual_toes(rig, virtual_toes(rig, mapping))  # no channels: the same value layout
    new = np.asarray(joints_TJ3, dtype=np.float64)
    if new.shape != (len(sf), 22, 3):
        raise MotionFileError(
            f"new joints have shape {new.shape}, expected ({len(sf)}, 22, 3) for {len(sf)} frames"
        )
    if not np.isfinite(new).all():
        raise MotionFileError("new joint positions hold NaN or infinite values")
    out = values.copy()
    if not len(sf):
        return out
    new = new[order]
    solve = np.zeros(t, dtype=bool)
    solve[sf] = True
    held = values[nearest_kept(~solve)[sf]]
    for k in range(1, rig.num_joints):
        for col, _ in rig.pos_cols[k]:
            held[:, col] = values[sf, col]
    l_base, trans = rig.local_transforms(held)
    l_ref = l_base if twist == "nearest" else rig.local_transforms(values[sf])[0]
    ref_vals = held if twist == "nearest" else values[sf]
    p_base, g_base = forward_kinematics(rig.parents, l_base, trans)

    idx = mapping_indices(rig.names, mapping)
    target = {ks[0]: s for s, ks in enumerate(idx) if len(ks) == 1}
    pelvis = idx[0][0] if len(idx[0]) == 1 else None
    if pelvis is None:
        raise MotionFileError("the pelvis must map to one joint of the rig to solve its channels")
    anc = [pelvis]
    while rig.parents[anc[-1]] >= 0:
        anc.append(rig.parents[anc[-1]])
    mover = next((a for a in anc if rig.pos_cols[a]), None)
    if mover is None:
        raise MotionFileError(f"no joint from {rig.names[pelvis]} up to the root has position channels")
    below = set()  # the pelvis and its descendants
    for k in range(rig.num_joints):
        if k == pelvis or rig.parents[k] in below:
            below.add(k)
    children = children_of(rig.parents)
    desc = _nearest_mapped_descendants(children, target)

    n, jn = len(sf), rig.num_joints
    eye = np.broadcast_to(np.eye(3), (n, 3, 3))
    glob = np.zeros((n, jn, 3, 3))
    pos = np.zeros((n, jn, 3))
    solved: list[int] = []
    for k in range(jn):
        p = rig.parents[k]
        gp = glob[:, p] if p >= 0 else eye
        pos[:, k] = trans[:, k] if p < 0 else pos[:, p] + np.einsum("tij,tj->ti", gp, trans[:, k])
        if k == pelvis:
            delta = new[:, 0] - pos[:, k]
            moved = [m for m in range(k + 1) if m == mover or _under(rig.parents, mover, m)]
            pos[:, moved] += delta[:, None]
            gm = glob[:, rig.parents[mover]] if rig.parents[mover] >= 0 else eye
            trans[:, mover] += np.einsum("tji,tj->ti", gm, delta)
        if k in target and k in below and rig.rotatable(k):
            base = gp @ l_ref[:, k]
            ds = desc[k]
            if not ds:
                glob[:, k] = base
            else:
                src = np.einsum("tji,tdj->tdi", g_base[:, k], p_base[:, ds] - p_base[:, k : k + 1])
                dst = new[:, [target[d] for d in ds]] - pos[:, k : k + 1]
                if len(ds) == 1:
                    glob[:, k] = swing(np.einsum("tij,tj->ti", base, src[:, 0]), dst[:, 0]) @ base
                else:
                    glob[:, k] = kabsch(src, dst)
            solved.append(k)
        else:
            glob[:, k] = gp @ l_base[:, k]

    rows = held.copy()
    if solved:
        cols = np.array([rig.rot_cols[k] for k in solved])  # (S, 3)
        euler = np.zeros((n, len(solved), 3))
        for i, k in enumerate(solved):
            gp = glob[:, rig.parents[k]] if rig.parents[k] >= 0 else eye
            euler[:, i] = rig.rotation_values(k, np.swapaxes(gp, -1, -2) @ glob[:, k])
        rows[:, cols] = _continuous(euler, ref_vals[:, cols], values[:, cols], sf)
    for col, axis in rig.pos_cols[mover]:
        rows[:, col] = trans[:, mover, axis]
    out[sf] = rows
    return out


def _continuous(euler: np.ndarray, ref: np.ndarray, source: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Euler triples (n, S, 3) of the solved ``frames`` made continuous: the first frame of every run of
    solved frames takes the triple nearest the kept frame before it (or ``ref`` at the clip's start),
    the next ones the triple nearest the frame before."""
    out = np.empty_like(euler)
    for i, f in enumerate(frames):
        if i and frames[i - 1] == f - 1:
            prev = out[i - 1]
        else:
            prev = source[f - 1] if f > 0 else ref[i]
        out[i] = closest_euler(euler[i], prev, "XYZ")  # the two-triple rule is the same for every order
    return out


def _under(parents: Sequence[int], a: int, b: int) -> bool:
    """True when joint ``b`` lies below joint ``a``."""
    while b >= 0:
        b = parents[b]
        if b == a:
            return True
    return False


__all__ = [
    "JOINT_CHANNELS",
    "POS_CHANNELS",
    "ROOT_CHANNELS",
    "ROT_CHANNELS",
    "SMPL22_FILE_ORDER",
    "TOE_DOWN",
    "TOE_FORWARD",
    "Rig",
    "body_axes",
    "nearest_kept",
    "rest_values",
    "rig_smpl22",
    "smpl22_rest_offsets",
    "smpl22_rig",
    "solve_channels",
    "virtual_toes",
    "with_virtual_toes",
]
