"""Forward and inverse kinematics for any joint hierarchy (numpy, float64).

A hierarchy is ``parents`` (J,), every parent listed before its children (``parents[0] == -1``), and
the joints' local translations: rest offsets (J, 3), or per frame (T, J, 3) for rigs whose joints carry
position channels. The root's translation is its world position.

Conventions: a joint's global rotation ``G[k] = G[parent] @ L[k]`` and its position
``p[k] = p[parent] + G[parent] @ t[k]`` (the BVH convention); rotations act on column vectors.

Rotation conversions (quaternions, matrices, Euler angles, 6D) live in :mod:`moscale_cli.motion.quaternion`;
the HumanML3D feature convention (chains restarting from the root rotation) stays in
:mod:`moscale_cli.motion.features`, whose numbers must not change.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from moscale_cli.errors import MoScaleError
from moscale_cli.motion.quaternion import (
    axis_angle_to_quat,
    normalize,
    qbetween,
    quat_to_matrix,
)

# Single-child joints whose bone turns more than FLIP_LO from its rest direction let the twist follow
# the previous frame (the minimal rotation is undefined at 180 degrees); fully from FLIP_HI on.
FLIP_LO, FLIP_HI = np.radians(150.0), np.radians(175.0)


def check_parents(parents: Sequence[int]) -> tuple[int, ...]:
    """``parents`` as a tuple, checked: one root at index 0, every parent before its child."""
    p = tuple(int(x) for x in parents)
    if not p or p[0] != -1 or any(not (0 <= q < k) for k, q in enumerate(p) if k):
        raise MoScaleError("a hierarchy needs parents[0] == -1 and every parent listed before its child")
    return p


def children_of(parents: Sequence[int]) -> list[list[int]]:
    ch: list[list[int]] = [[] for _ in parents]
    for k, p in enumerate(parents):
        if p >= 0:
            ch[p].append(k)
    return ch


def swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Minimal rotation matrices taking direction ``a`` onto direction ``b`` (..., 3) (any lengths).

    Opposite directions get a half turn about an axis perpendicular to ``a``.
    """
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    return quat_to_matrix(qbetween(a, b))


def kabsch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Rotations R (T, 3, 3) minimising sum_n |R src_n - dst_n|^2; src (N, 3) or (T, N, 3), dst (T, N, 3).

    Where the vectors span only a line (one vector, or all parallel), R is the minimal rotation of the
    summed source onto the summed target direction.
    """
    src = np.broadcast_to(np.asarray(src, dtype=np.float64), np.shape(dst))
    dst = np.asarray(dst, dtype=np.float64)
    h = np.einsum("tni,tnj->tij", src, dst)
    u, s, vt = np.linalg.svd(h)
    v = np.swapaxes(vt, -1, -2)
    ut = np.swapaxes(u, -1, -2)
    d = np.sign(np.linalg.det(v @ ut))
    d[d == 0] = 1.0
    diag = np.zeros(h.shape)
    diag[:, 0, 0] = 1.0
    diag[:, 1, 1] = 1.0
    diag[:, 2, 2] = d
    out = v @ diag @ ut
    flat = s[:, 1] <= 1e-9 * np.maximum(s[:, 0], 1e-300)
    if flat.any():
        out[flat] = swing(src[flat].sum(1), dst[flat].sum(1))
    return out


def forward_kinematics(
    parents: Sequence[int], local_rot: np.ndarray, translations: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Positions (T, J, 3) and global rotations (T, J, 3, 3) from local rotations (T, J, 3, 3) and
    local translations (J, 3) or (T, J, 3) (the root's = its world position)."""
    local_rot = np.asarray(local_rot, dtype=np.float64)
    t, j = local_rot.shape[:2]
    trans = np.broadcast_to(np.asarray(translations, dtype=np.float64), (t, j, 3))
    pos = np.zeros((t, j, 3))
    glob = np.zeros((t, j, 3, 3))
    for k, p in enumerate(parents):
        if p < 0:
            glob[:, k] = local_rot[:, k]
            pos[:, k] = trans[:, k]
        else:
            glob[:, k] = glob[:, p] @ local_rot[:, k]
            pos[:, k] = pos[:, p] + np.einsum("tij,tj->ti", glob[:, p], trans[:, k])
    return pos, glob


def _follow_previous_twist(
    g: np.ndarray, bone: np.ndarray, rest: np.ndarray, target: np.ndarray
) -> np.ndarray:
    """Near-180-degree swings (see FLIP_LO/FLIP_HI): blend toward the twist of the previous frame.

    ``g`` (T, 3, 3) swung global rotations, ``bone`` (T, 3) the bone in the joint's frame, ``rest`` its
    base direction in the world, ``target`` the observed bone."""
    ang = np.arccos(np.clip(np.sum(normalize(rest) * normalize(target), -1), -1.0, 1.0))
    w = np.clip((FLIP_HI - ang) / (FLIP_HI - FLIP_LO), 0.0, 1.0)  # 1 = trust the minimal rotation
    for f in np.flatnonzero(w < 1.0):
        if f == 0:
            continue
        prev = g[f - 1]
        g_tmp = swing(prev @ bone[f], target[f]) @ prev
        d = g[f] @ g_tmp.T  # a rotation about the target axis
        axis = normalize(target[f])
        phi = np.arctan2(
            np.dot(axis, [d[2, 1] - d[1, 2], d[0, 2] - d[2, 0], d[1, 0] - d[0, 1]]), np.trace(d) - 1.0
        )
        g[f] = quat_to_matrix(axis_angle_to_quat(axis, np.array(w[f] * phi))) @ g_tmp
    return g


def inverse_kinematics(
    parents: Sequence[int],
    offsets: np.ndarray,
    joints: np.ndarray,
    base_local: np.ndarray | None = None,
    follow_twist: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Global and local rotations (T, J, 3, 3) that bring the bones of ``offsets`` onto ``joints`` (T, J, 3).

    ``offsets`` (J, 3) or (T, J, 3): each joint's translation in its parent's frame (bones whose length
    differs from the joints' distance get the direction right). Per joint, parents first:
    - several children: the Kabsch fit of the children's offsets onto their observed vectors;
    - one child: the minimal rotation ("swing") taking the bone, rotated by the parent's global rotation
      and ``base_local`` (default identity: the rest pose), onto the observed bone; so the twist about
      the bone is the base's. With ``follow_twist``, where that swing nears 180 degrees (undefined
      twist) the twist follows the previous frame instead, blended continuously;
    - no child: ``base_local`` (default identity).
    FK with the same offsets and the root at ``joints[:, 0]`` gives back ``joints`` for bones of the
    right lengths.
    """
    parents = check_parents(parents)
    j = np.asarray(joints, dtype=np.float64)
    t, n = j.shape[:2]
    if len(parents) != n:
        raise MoScaleError(f"inverse_kinematics: {len(parents)} parents for {n} joints")
    off = np.broadcast_to(np.asarray(offsets, dtype=np.float64), (t, n, 3))
    children = children_of(parents)
    eye = np.broadcast_to(np.eye(3), (t, 3, 3))
    glob = np.zeros((t, n, 3, 3))
    for k, p in enumerate(parents):
        gp = glob[:, p] if p >= 0 else eye
        base = gp if base_local is None else gp @ base_local[:, k]
        cs = children[k]
        if not cs:
            glob[:, k] = base
        elif len(cs) > 1:
            glob[:, k] = kabsch(off[:, cs], j[:, cs] - j[:, k : k + 1])
        else:
            c = cs[0]
            target = j[:, c] - j[:, k]
            rest = np.einsum("tij,tj->ti", base, off[:, c])
            g = swing(rest, target) @ base
            glob[:, k] = _follow_previous_twist(g, off[:, c], rest, target) if follow_twist else g
    return glob, local_from_global(parents, glob)


def local_from_global(parents: Sequence[int], glob: np.ndarray) -> np.ndarray:
    """Local rotations ``G[parent]^T @ G[k]`` (the root's = its global rotation)."""
    local = np.array(glob, dtype=np.float64, copy=True)
    for k, p in enumerate(parents):
        if p >= 0:
            local[:, k] = np.swapaxes(glob[:, p], -1, -2) @ glob[:, k]
    return local


def impose_bones(parents: Sequence[int], joints: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Joints (T, J, 3) with the bones of ``offsets`` (J, 3): IK onto the joints, FK with the offsets from the
    same root positions (every bone keeps its direction where it has one child; a joint with several
    children turns its offsets by their best fit)."""
    j = np.asarray(joints, dtype=np.float64)
    _, local = inverse_kinematics(parents, offsets, j)
    trans = np.broadcast_to(np.asarray(offsets, dtype=np.float64), j.shape).copy()
    trans[:, 0] = j[:, 0]
    return forward_kinematics(parents, local, trans)[0]


def two_bone_ik(
    root: np.ndarray,
    mid: np.ndarray,
    target: np.ndarray,
    upper: float,
    lower: float,
    pole: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(mid, end) positions (T, 3) of a two-bone chain from ``root`` (T, 3) of lengths ``upper`` and
    ``lower`` whose end reaches ``target`` (T, 3), or as near as the chain reaches (fully stretched
    towards it, or folded as far as the lengths allow). The chain bends in the plane of the root-target
    line and the current ``mid`` (T, 3) (a knee keeps its direction); where the current chain is
    straight, towards ``pole`` (T, 3)."""
    root, mid, target = (np.asarray(a, dtype=np.float64) for a in (root, mid, target))
    to = target - root
    dist = np.linalg.norm(to, axis=-1)
    lo, hi = abs(upper - lower) * 1.0001 + 1e-9, (upper + lower) * 0.9999
    d = np.clip(dist, lo, hi)
    u = np.where(dist[:, None] > 1e-9, to / np.maximum(dist, 1e-12)[:, None], normalize(mid - root))
    end = root + u * d[:, None]

    def perp(v: np.ndarray) -> np.ndarray:
        return v - np.sum(v * u, -1, keepdims=True) * u

    side = perp(mid - root)
    ok = np.linalg.norm(side, axis=-1) > 1e-6 * max(upper, 1e-9)
    side = np.where(ok[:, None], side, perp(np.broadcast_to(np.asarray(pole, dtype=np.float64), side.shape)))
    side = normalize(side)
    cos_a = np.clip((upper**2 + d**2 - lower**2) / (2.0 * upper * d), -1.0, 1.0)
    sin_a = np.sqrt(1.0 - cos_a**2)
    return root + upper * (cos_a[:, None] * u + sin_a[:, None] * side), end


def bone_lengths(parents: Sequence[int], joints: np.ndarray) -> np.ndarray:
    """(T, J) distance of every joint to its parent (0 for the root)."""
    j = np.asarray(joints, dtype=np.float64)
    out = np.zeros(j.shape[:2])
    for k, p in enumerate(parents):
        if p >= 0:
            out[:, k] = np.linalg.norm(j[:, k] - j[:, p], axis=-1)
    return out


def resample(
    joints_TJ3: np.ndarray, src_fps: float, dst_fps: float, parents: Sequence[int] | None = None
) -> np.ndarray:
    """Joint positions at ``dst_fps`` (first frame kept, last sample <= the clip's end).

    Without ``parents``: linear interpolation of positions. With ``parents``: the root is interpolated
    linearly and every bone's direction (normalised lerp) and length separately, so bones do not
    shorten between frames (a linear blend of positions cuts the arc of a fast-turning bone).
    """
    j = np.asarray(joints_TJ3)
    t = j.shape[0]
    if abs(src_fps - dst_fps) < 1e-6 or t == 1:
        return j
    duration = (t - 1) / src_fps
    n = int(np.floor(duration * dst_fps + 1e-6)) + 1
    x = np.arange(n) / dst_fps * src_fps
    i0 = np.clip(np.floor(x).astype(int), 0, t - 1)
    i1 = np.clip(i0 + 1, 0, t - 1)
    w = (x - i0)[:, None, None]
    lin = (1.0 - w) * j[i0] + w * j[i1]
    if parents is None:
        return lin
    parents = check_parents(parents)
    lengths = bone_lengths(parents, j)
    ln = (1.0 - w[:, :, 0]) * lengths[i0] + w[:, :, 0] * lengths[i1]
    out = np.empty_like(lin)
    for k, p in enumerate(parents):
        if p < 0:
            out[:, k] = lin[:, k]
        else:
            d = (1.0 - w[:, 0]) * (j[i0, k] - j[i0, p]) + w[:, 0] * (j[i1, k] - j[i1, p])
            out[:, k] = out[:, p] + normalize(d) * ln[:, k : k + 1]
    return out


__all__ = [
    "bone_lengths",
    "check_parents",
    "children_of",
    "forward_kinematics",
    "impose_bones",
    "inverse_kinematics",
    "kabsch",
    "local_from_global",
    "resample",
    "swing",
    "two_bone_ik",
]
