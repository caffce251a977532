"""Bring an edited timeline back into a source's space (joints and BVH sources).

The model fills the unknown frames of a timeline in its model space (see ``pipeline/sources.py``). For a
joints or BVH source the result is put together in the source's space:

1. known frames are the source's joints, exactly (for *anchored* pieces; a *floating* piece, the end clip
   of an in-between of two clips, is moved as a whole by a yaw and a ground-plane shift so that it
   continues from the generated motion);
2. every generated region is recovered from the features, its root path scaled back to the source's size
   (``ModelFrame.scale``; the height from the features is absolute, mapped through the source's floor)
   and placed by a rigid transform per seam (yaw about +Y, shift in the ground plane) that makes the
   generated root and facing meet the kept frame before the region; with kept frames on both sides the
   transform changes smoothly (smoothstep over the region) into the one that meets the kept frame after
   it, so the root path and the facing are continuous at both seams;
3. the generated joints take the source's bone lengths: IK on them, FK with the source's per-bone median
   lengths (``motion.kinematics``; root position kept). The source's proportions differ from the
   template's (its hips sit higher or lower under the pelvis, its legs are shorter or longer), so the same
   root height would leave the feet floating or sunk: each generated frame is then moved vertically so
   that its lowest joints keep the clearance above the floor they have in the model's space (scaled; a
   soft minimum over the joints, ``CLEARANCE_SOFTNESS``, so the shift is smooth);
4. at the seams the difference between the kept frame and the generated motion brought there is faded out
   over the same ``blend`` frames as the feature blend (smoothstep, from the nearest kept frame), so the
   first and last generated frames continue the kept ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moscale_cli.pipeline.sources import EditSource, heading, yaw_matrix


@dataclass
class Piece:
    """Output frames ``[start, start + n)`` are the (known) frames ``[src_start, src_start + n)`` of ``source``."""

    source: EditSource
    start: int
    src_start: int
    n: int
    anchored: bool = True  # False: moved rigidly to continue the generated motion before it

    @property
    def end(self) -> int:
        return self.start + self.n


CLEARANCE_SOFTNESS = 0.01  # metres: temperature of the soft minimum of joint heights


def soft_min(y: np.ndarray, tau: float = CLEARANCE_SOFTNESS) -> np.ndarray:
    """Smooth minimum ``-tau log sum exp(-y / tau)`` over the last axis (shifts with ``y``)."""
    y = np.asarray(y, dtype=np.float64)
    m = y.min(axis=-1, keepdims=True)
    return m[..., 0] - tau * np.log(np.exp(-(y - m) / tau).sum(axis=-1))


def wrap(angle: np.ndarray | float) -> np.ndarray:
    """Angles in [-pi, pi)."""
    return (np.asarray(angle, dtype=np.float64) + np.pi) % (2.0 * np.pi) - np.pi


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _rotate_xz(theta: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate ground-plane vectors (n, 2) = (x, z) about +Y by ``theta`` (n,)."""
    c, s = np.cos(theta), np.sin(theta)
    return np.stack([c * v[:, 0] + s * v[:, 1], -s * v[:, 0] + c * v[:, 1]], axis=-1)


def impose_bones(joints: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """SMPL-22 joints (T, 22, 3) with the bone lengths of ``offsets`` (22, 3): IK onto the joints, FK with the
    offsets from the same root positions (every bone keeps its direction where it has one child); see
    :func:`moscale_cli.motion.kinematics.impose_bones`."""
    from moscale_cli.motion.kinematics import impose_bones as impose
    from moscale_cli.motion.skeleton import SMPL22

    return impose(SMPL22.parents, joints, offsets)


class _Model:
    """The generated timeline in model space, with the root scaled to the reference source's size."""

    def __init__(self, joints_model: np.ndarray, ref: EditSource) -> None:
        g = np.asarray(joints_model, dtype=np.float64)
        fr = ref.frame
        assert fr is not None
        self.g = g
        self.root = np.stack(
            [g[:, 0, 0] / fr.scale, fr.height_to_source(g[:, 0, 1]), g[:, 0, 2] / fr.scale], axis=-1
        )
        self.rel = g - g[:, :1]
        self.head = heading(g)
        self.frame = fr
        self.floor = float(np.asarray(ref.joints)[..., 1].min())  # the source's floor in its own space

    def clearance_shift(self, ts: np.ndarray, fitted: np.ndarray) -> np.ndarray:
        """(n,) vertical shifts giving the ``fitted`` frames ``ts`` the model-space clearance of their lowest
        joints above the floor (scaled to the source's size)."""
        want = self.floor + soft_min(self.g[ts, :, 1]) / self.frame.scale
        return want - soft_min(fitted[..., 1])

    def placed(self, ts: np.ndarray, theta: np.ndarray, pivot: np.ndarray, shift: np.ndarray) -> np.ndarray:
        """Frames ``ts`` turned by ``theta`` about ``pivot`` (x, z) and shifted by ``shift`` (n, 2)."""
        xz = _rotate_xz(theta, self.root[ts][:, [0, 2]] - pivot) + pivot + shift
        root = np.stack([xz[:, 0], self.root[ts, 1], xz[:, 1]], axis=-1)
        return root[:, None] + np.einsum("tij,tkj->tki", yaw_matrix(theta), self.rel[ts])

    def global_placement(self, ts: np.ndarray) -> np.ndarray:
        """Frames ``ts`` placed by the inverse of the source's own conversion (no kept frame to meet)."""
        root = self.frame.root_to_source(self.g[ts, 0])
        rot = yaw_matrix(np.full(len(ts), self.frame.yaw))
        return root[:, None] + np.einsum("tij,tkj->tki", rot, self.rel[ts])

    def meet(self, t: int, head: float, root: np.ndarray, pivot: np.ndarray) -> tuple[float, np.ndarray]:
        """(yaw, shift) that bring generated frame ``t`` onto the heading ``head`` and root ``root`` (3,)."""
        theta = float(wrap(head - self.head[t]))
        at = _rotate_xz(np.array([theta]), self.root[[t]][:, [0, 2]] - pivot)[0] + pivot
        return theta, np.asarray(root, dtype=np.float64)[[0, 2]] - at


def place_in_source(
    joints_model: np.ndarray,
    known: np.ndarray,
    pieces: list[Piece],
    reference: EditSource,
    blend_weights: np.ndarray,
) -> np.ndarray:
    """Joints (T, 22, 3) float32 of an edited timeline in ``reference``'s space (see the module doc).

    ``joints_model``: the timeline's joints recovered from its (blended) features; ``known`` (T,) bool;
    ``pieces``: the known frames and where they come from (together they cover ``known``);
    ``blend_weights`` (T,): weight of the generated motion per frame (0 on known frames), as the feature
    blend uses them. Known frames of anchored pieces are the source's joints bitwise."""
    from moscale_cli.sampling.infill import runs

    known = np.asarray(known, dtype=bool)
    T = known.shape[0]
    model = _Model(joints_model, reference)
    out = np.zeros((T, 22, 3), dtype=np.float64)
    anchored = np.zeros(T, dtype=bool)
    covered = np.zeros(T, dtype=bool)
    for p in pieces:
        covered[p.start : p.end] = True
        if p.anchored:
            out[p.start : p.end] = p.source.joints[p.src_start : p.src_start + p.n]
            anchored[p.start : p.end] = True
    if not np.array_equal(covered, known):
        raise ValueError("the pieces must cover exactly the known frames")
    floating = {p.start: p for p in pieces if not p.anchored}
    head = np.zeros(T)
    for p in pieces:
        head[p.start : p.end] = p.source.headings()[p.src_start : p.src_start + p.n]
    offsets = reference.rest_offsets()
    w = np.asarray(blend_weights, dtype=np.float64)
    for s, e in runs(~known):
        lo = s - 1 if s > 0 else s
        hi = e + 1 if e < T else e
        ts = np.arange(lo, hi)
        a0 = s - 1 if s > 0 and anchored[s - 1] else None
        a1 = e if e < T and anchored[e] else None
        if a0 is None and a1 is None:
            if s > 0 or (e < T and e not in floating):
                raise ValueError("a generated region next to known frames needs an anchored neighbour")
            placed = model.global_placement(ts)
            theta = np.full(len(ts), model.frame.yaw)
        else:
            pivot = model.root[a0 if a0 is not None else a1][[0, 2]]
            th0, d0 = model.meet(a0, head[a0], out[a0, 0], pivot) if a0 is not None else (None, None)
            th1, d1 = model.meet(a1, head[a1], out[a1, 0], pivot) if a1 is not None else (None, None)
            if th0 is not None and th1 is not None:
                u = _smoothstep((ts - a0) / float(a1 - a0))
                theta = th0 + u * float(wrap(th1 - th0))
                shift = d0[None] + u[:, None] * (d1 - d0)[None]
            else:
                th, d = (th0, d0) if th0 is not None else (th1, d1)
                theta = np.full(len(ts), th)
                shift = np.broadcast_to(d, (len(ts), 2))
            placed = model.placed(ts, theta, pivot, shift)
        if e < T and e in floating:
            fl = floating[e]
            out[e : fl.end] = _place_floating(fl, model.head[e] + theta[-1], placed[-1, 0],
                                              None if same_bones(fl.source, reference) else offsets)
        fitted = impose_bones(placed, offsets)
        fitted[..., 1] += model.clearance_shift(ts, fitted)[:, None]
        gen = np.arange(s, e)
        fit = fitted[gen - lo]
        left, right = s > 0, e < T
        res_l = out[s - 1] - fitted[0] if left else None
        res_r = out[e] - fitted[-1] if right else None
        for i, t in enumerate(gen):  # the nearest kept frame's difference, faded in (ties: the earlier)
            res = res_l if left and (not right or t - (s - 1) <= e - t) else res_r
            if res is not None:
                fit[i] = fit[i] + (1.0 - w[t]) * res
        out[s:e] = fit
    return out.astype(np.float32)


BONE_TOLERANCE = 1e-3  # metres: two sources whose bones differ by less have the same skeleton


def same_bones(a: EditSource, b: EditSource, tol: float = BONE_TOLERANCE) -> bool:
    """True when two sources have the same skeleton: every SMPL-22 bone (median length) within ``tol``."""
    if a is b:
        return True
    la = np.linalg.norm(a.rest_offsets(), axis=-1)
    lb = np.linalg.norm(b.rest_offsets(), axis=-1)
    return bool(np.abs(la - lb).max() <= tol)


def _place_floating(piece: Piece, head: float, root: np.ndarray, offsets: np.ndarray | None = None) -> np.ndarray:
    """A floating piece's joints turned (yaw) and shifted (ground plane) so that its first frame has the
    heading ``head`` and the root position (x, z) of ``root``; heights stay the piece's own.

    ``offsets`` (22, 3): the result's skeleton when the piece comes from another source (another rig): its
    frames are re-posed with those bone lengths (IK/FK from the same root positions), each frame moved
    vertically so that its lowest joints keep the piece's own clearance above the floor, so the whole result
    has one skeleton."""
    j = np.asarray(piece.source.joints[piece.src_start : piece.src_start + piece.n], dtype=np.float64)
    if offsets is not None:
        fitted = impose_bones(j, offsets)
        fitted[..., 1] += (soft_min(j[..., 1]) - soft_min(fitted[..., 1]))[:, None]
        j = fitted
    theta = float(wrap(head - piece.source.headings()[piece.src_start]))
    moved = j @ yaw_matrix(theta).T
    moved[..., 0] += root[0] - moved[0, 0, 0]
    moved[..., 2] += root[2] - moved[0, 0, 2]
    return moved


__all__ = ["Piece", "impose_bones", "place_in_source", "same_bones", "wrap"]
