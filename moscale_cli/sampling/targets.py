"""Joint targets of spatial control, the frame they are measured in, and the root correction.

:class:`ControlTargets` holds, per motion (row) of a batch, target positions per frame, joint (the 22 SMPL
joints) and coordinate (any may be free), in a *target frame*: by default the generated motion's own frame
(the joints ``recover_from_ric`` gives: metres, Y up, frame 0's pelvis above the origin facing +Z); for the
pipeline's edits and compose windows a :class:`TargetFrame` says how the sampler's timeline is brought into
the frame the user gave the targets in. ``sampling/control.py`` optimises towards them.

**Root correction.** Pelvis targets are then met exactly by translating the whole body over time
(:func:`correct_root`): the translation ``c(t)`` is linear in the moves needed at the pelvis-constrained
frames (:func:`correction_weights`), so the control's objective can measure the other joints where the
correction will put them (:meth:`ControlTargets.corrected`). On the ground plane the root's per-frame steps
change: the change needed between two consecutive pelvis targets (the first one at frame 0, which the
motion's frame fixes above the origin) is spread evenly over the steps between them; after the last target
of a run of free frames the path keeps its shape to the end of the motion, or returns to where it was by the
next frozen frame (a kept frame of an edit: what follows stays where the sampler put it). The height is an
offset interpolated between the targets, held towards the ends of the motion and faded to zero towards frozen
frames. A target frame turned or scaled against the motion gets the smallest move that meets its constrained
coordinates.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from moscale_cli.motion.features import recover_from_ric

JOINTS = 22


@dataclass
class TargetFrame:
    """Where one row's targets live relative to the motion the sampler makes (numpy; identity by default).

    The sampler's joints ``m`` (the timeline's ``recover_from_ric``) are brought into the targets' frame in two
    steps. *Anchoring* (the way ``pipeline/placement.py`` places an edited region against its kept frames):
    frame t with ``anchor[t, 0] = a0 >= 0`` is turned about +Y and shifted on the ground plane so that the
    timeline's root at frame a0 lands on the reference root ``anchor_root[t, 0]`` with the reference turn
    ``anchor_ang[t, 0]`` (radians, the root rotation's angle about +Y); with a second anchor a1
    (``anchor[t, 1] >= 0``) the turn and the shift change towards the ones that land frame a1 on its reference
    by the weight ``bend[t]`` (0 -> 1 over the region). *Similarity*: ``p = (rot * m + origin) / scale``
    (a source's own space, ``pipeline.sources.ModelFrame``)."""

    anchor: np.ndarray | None = None  # (T, 2) int, -1 = none
    anchor_ang: np.ndarray | None = None  # (T, 2) radians
    anchor_root: np.ndarray | None = None  # (T, 2, 3)
    bend: np.ndarray | None = None  # (T,) weight of the second anchor's placement
    rot: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale: float = 1.0


def _turn(angle: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Vectors (..., 3) turned about +Y by ``angle`` (...) radians (+Z towards +X)."""
    c, s = torch.cos(angle), torch.sin(angle)
    return torch.stack([c * v[..., 0] + s * v[..., 2], v[..., 1], -s * v[..., 0] + c * v[..., 2]], dim=-1)


def _root_angle(r_rot: torch.Tensor) -> torch.Tensor:
    """The angle (radians) about +Y of root rotation quaternions (..., 4)."""
    return 2.0 * torch.atan2(r_rot[..., 2], r_rot[..., 0])


@dataclass
class ControlTargets:
    """Joint targets of a batch (see the module doc) and how the motion is measured against them.

    ``positions`` (B, T, 22, 3) float32 (anything where free), ``mask`` (B, T, 22, 3) bool (True = constrained),
    in each row's target frame (:class:`TargetFrame`; by default the generated motion's own frame). For an edit,
    ``base`` (B, T, D) de-normalised features and ``weight`` (B, T) say how the output is put together:
    ``(1 - weight) base + weight decoded`` (the kept frames and the blends at the seams), so that the targets
    are measured on the motion the caller returns. The frame tensors: ``anchor`` (B, T, 2), ``anchor_ang``
    (B, T, 2), ``anchor_root`` (B, T, 2, 3), ``bend`` (B, T), ``rot`` (B, 4), ``origin`` (B, 3), ``scale`` (B,)."""

    positions: torch.Tensor
    mask: torch.Tensor
    anchor: torch.Tensor
    anchor_ang: torch.Tensor
    anchor_root: torch.Tensor
    bend: torch.Tensor
    rot: torch.Tensor
    origin: torch.Tensor
    scale: torch.Tensor
    base: torch.Tensor | None = None
    weight: torch.Tensor | None = None
    corr: torch.Tensor | None = None  # (B, T, T, 2) root-correction weights (:func:`correction_weights`)

    @classmethod
    def from_arrays(cls, rows: Sequence[np.ndarray | None], frames: int, base: Sequence[np.ndarray] | None = None,
                    weight: Sequence[np.ndarray] | None = None,
                    target_frames: Sequence[TargetFrame | None] | None = None) -> ControlTargets:
        """From one array (T_b, 22, 3) per row with NaN at free coordinates (None = no target), padded to
        ``frames``; ``base`` / ``weight``: per row (T_b, D) and (T_b,) (the class doc); ``target_frames``: per
        row (None = the motion's own frame)."""
        B = len(rows)
        pos = np.zeros((B, frames, JOINTS, 3), dtype=np.float32)
        mask = np.zeros((B, frames, JOINTS, 3), dtype=bool)
        for b, r in enumerate(rows):
            if r is None:
                continue
            a = np.asarray(r, dtype=np.float64)
            if a.ndim != 3 or a.shape[1:] != (JOINTS, 3) or a.shape[0] > frames:
                raise ValueError(f"row {b}: targets must be (T <= {frames}, {JOINTS}, 3), got {a.shape}")
            if np.isinf(a).any():
                raise ValueError(f"row {b}: targets must be finite or NaN (free)")
            m = ~np.isnan(a)
            pos[b, : a.shape[0]] = np.where(m, a, 0.0)
            mask[b, : a.shape[0]] = m
        an = np.full((B, frames, 2), -1, dtype=np.int64)
        ang = np.zeros((B, frames, 2), dtype=np.float32)
        root = np.zeros((B, frames, 2, 3), dtype=np.float32)
        bend = np.zeros((B, frames), dtype=np.float32)
        rot = np.tile(np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32), (B, 1))
        origin = np.zeros((B, 3), dtype=np.float32)
        scale = np.ones(B, dtype=np.float32)
        for b, tf in enumerate(target_frames or ()):
            if tf is None:
                continue
            if tf.anchor is not None:
                n = len(tf.anchor)
                an[b, :n], ang[b, :n], root[b, :n] = tf.anchor, tf.anchor_ang, tf.anchor_root
                if tf.bend is not None:
                    bend[b, :n] = tf.bend
            rot[b], origin[b], scale[b] = tf.rot, tf.origin, tf.scale
        t = torch.from_numpy
        out = cls(t(pos), t(mask), t(an), t(ang), t(root), t(bend), t(rot), t(origin), t(scale))
        if base is not None:
            D = int(np.asarray(base[0]).shape[-1])
            bb = np.zeros((B, frames, D), dtype=np.float32)
            ww = np.ones((B, frames), dtype=np.float32)
            for b in range(B):
                x = np.asarray(base[b], dtype=np.float32)
                bb[b, : x.shape[0]] = x
                if weight is not None:
                    w = np.asarray(weight[b], dtype=np.float32)
                    ww[b, : w.shape[0]] = w
            out.base, out.weight = t(bb), t(ww)
        frozen = out.frozen.numpy()
        out.corr = t(np.stack([correction_weights(mask[b, :, 0], frozen[b]) for b in range(B)]))
        return out

    @property
    def frames(self) -> int:
        return int(self.positions.shape[1])

    def active(self) -> torch.Tensor:
        """(B,) bool: rows with at least one target."""
        return self.mask.flatten(1).any(1)

    def _map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> ControlTargets:
        names = ("positions", "mask", "anchor", "anchor_ang", "anchor_root", "bend", "rot", "origin", "scale", "base",
                 "weight", "corr")
        return ControlTargets(*(None if getattr(self, n) is None else fn(getattr(self, n)) for n in names))

    def rows(self, idx: torch.Tensor) -> ControlTargets:
        return self._map(lambda t: t[idx])

    def to(self, device: torch.device | str) -> ControlTargets:
        return self._map(lambda t: t.to(device))

    @property
    def frozen(self) -> torch.Tensor:
        """(B, T) bool: frames the caller keeps as they are (weight 0: the kept frames of an edit)."""
        if self.weight is None:
            return torch.zeros(self.positions.shape[:2], dtype=torch.bool, device=self.positions.device)
        return self.weight <= 0

    def correction(self, joints_BTJ3: torch.Tensor, feats_BTD: torch.Tensor) -> torch.Tensor:
        """(B, T, 3) the translation the root correction (module doc) gives each frame of a motion, in the
        motion's own frame (differentiable)."""
        from moscale_cli.motion.quaternion import qinv, qrot

        assert self.corr is not None
        pelvis = self.to_target_frame(joints_BTJ3, feats_BTD)[:, :, 0]
        mask = self.mask[:, :, 0]
        resid = torch.where(mask, self.positions[:, :, 0] - pelvis, torch.zeros_like(pelvis))
        move = qrot(qinv(self.rotations(feats_BTD)), resid * self.scale[:, None, None])
        w = self.corr.to(move.dtype)
        ground = torch.einsum("bts,bsc->btc", w[..., 0], move[..., [0, 2]])
        height = torch.einsum("bts,bs->bt", w[..., 1], move[..., 1])
        return torch.stack([ground[..., 0], height, ground[..., 1]], dim=-1)

    def _anchoring(self, feats_BTD: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per frame: the turn (B, T), the root it pivots about (B, T, 3) and the shift after it (B, T, 3) that
        anchoring applies (zero where a frame is not anchored): ``x -> turn(x - pivot) + shift``."""
        from moscale_cli.motion.features import recover_root_rot_pos

        r_rot, r_pos = recover_root_rot_pos(feats_BTD[:, : self.frames])
        ground = torch.tensor([1.0, 0.0, 1.0], device=r_pos.device, dtype=r_pos.dtype)
        ang = _root_angle(r_rot)
        a = self.anchor.clamp(min=0)
        ang_a = torch.gather(ang.unsqueeze(-1).expand(-1, -1, 2), 1, a)  # (B, T, 2)
        pos_a = torch.stack([torch.gather(r_pos, 1, a[..., i : i + 1].expand(-1, -1, 3)) for i in (0, 1)], 2) * ground
        phi = ang_a - self.anchor_ang  # turns that bring each anchor's frame onto its reference
        has0, has1 = self.anchor[..., 0] >= 0, self.anchor[..., 1] >= 0
        u = torch.where(has1, self.bend, torch.zeros_like(self.bend))
        d = torch.remainder(phi[..., 1] - phi[..., 0] + math.pi, 2 * math.pi) - math.pi
        turn = phi[..., 0] + u * d
        ref = self.anchor_root * ground
        end = ref[..., 1, :] - ref[..., 0, :] - _turn(phi[..., 1], pos_a[..., 1, :] - pos_a[..., 0, :])
        shift = ref[..., 0, :] + u.unsqueeze(-1) * torch.where(has1.unsqueeze(-1), end, torch.zeros_like(end))
        zero = torch.zeros_like(turn)
        return (torch.where(has0, turn, zero), torch.where(has0.unsqueeze(-1), pos_a[..., 0, :], zero.unsqueeze(-1)),
                torch.where(has0.unsqueeze(-1), shift, zero.unsqueeze(-1)))

    def rotations(self, feats_BTD: torch.Tensor) -> torch.Tensor:
        """(B, T, 4): per frame, the rotation that takes the motion's vectors into the target frame."""
        from moscale_cli.motion.quaternion import qmul, yaw_quat

        turn, _, _ = self._anchoring(feats_BTD)
        q = yaw_quat(turn)
        return qmul(self.rot.unsqueeze(1).expand_as(q), q)

    def to_target_frame(self, joints_BTJ3: torch.Tensor, feats_BTD: torch.Tensor) -> torch.Tensor:
        """(B, T, 22, 3) joints of a motion (its features de-normalised) in the targets' frame (:class:`TargetFrame`)."""
        from moscale_cli.motion.quaternion import qrot

        j = joints_BTJ3[:, : self.frames]
        turn, pivot, shift = self._anchoring(feats_BTD)
        j = _turn(turn.unsqueeze(-1), j - pivot.unsqueeze(2)) + shift.unsqueeze(2)
        j = qrot(self.rot[:, None, None], j) + self.origin[:, None, None]
        return j / self.scale[:, None, None, None]


def target_errors(feats_BTD: torch.Tensor | np.ndarray, targets: ControlTargets) -> list[np.ndarray]:
    """Per row, the distances (m) of the constrained joint-frames of a motion (de-normalised features (B, T, D))
    to their targets, over the given coordinates, in the targets' frame."""
    f = torch.as_tensor(np.asarray(feats_BTD, dtype=np.float32)) if not torch.is_tensor(feats_BTD) else feats_BTD
    f = f.float().cpu()
    tg = targets.to("cpu")
    T = min(f.shape[1], tg.frames)
    if f.shape[1] < tg.frames:
        f = torch.cat([f, f[:, -1:].expand(-1, tg.frames - f.shape[1], -1)], dim=1)
    j = tg.to_target_frame(recover_from_ric(f[:, : tg.frames], JOINTS), f)
    d = ((j - tg.positions) * tg.mask).square().sum(-1).sqrt()  # (B, T, J)
    m = tg.mask.any(-1)
    m[:, T:] = False
    return [d[b][m[b]].numpy().astype(np.float64) for b in range(f.shape[0])]


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    f = np.concatenate([[False], np.asarray(flags, dtype=bool), [False]])
    d = np.flatnonzero(np.diff(f.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(d[::2], d[1::2], strict=True)]


def correction_weights(mask_T3: np.ndarray, frozen_T: np.ndarray | None = None) -> np.ndarray:
    """(T, T, 2) float32 weights of the root correction (module doc) for pelvis targets ``mask_T3`` (which
    coordinates are constrained per frame): ``c(t) = sum_s W[t, s] move(s)``, ``[..., 0]`` for the ground plane
    (x and z), ``[..., 1]`` for the height; ``move(s)`` is the translation needed at frame s."""
    m = np.asarray(mask_T3, dtype=bool)
    T = m.shape[0]
    open_ = np.ones(T, dtype=bool) if frozen_T is None else ~np.asarray(frozen_T, dtype=bool)[:T]
    W = np.zeros((T, T, 2), dtype=np.float64)
    runs = _runs(open_)
    ground = [t for t in range(1, T) if (m[t, 0] or m[t, 2]) and open_[t]]
    if ground:
        co = np.concatenate([[0], np.cumsum(open_)])  # co[t] = open steps (feature rows) in [0, t)
        anchors = sorted([(0, -1)] + [(t, t) for t in ground] + [(e, -1) for _, e in runs if e < T])
        for (ta, ca), (tb, cb) in zip(anchors, anchors[1:], strict=False):
            n = co[tb] - co[ta]
            ts = np.arange(ta + 1, tb + 1)
            frac = (co[ts] - co[ta]) / n if n else np.zeros(len(ts))
            if ca >= 0:
                W[ts, ca, 0] += 1.0 - frac
            if cb >= 0:
                W[ts, cb, 0] += frac
        tl, cl = anchors[-1]
        if cl >= 0:
            W[tl + 1 :, cl, 0] = 1.0
    heights = [t for t in range(T) if m[t, 1] and open_[t]]
    for s, e in runs:
        pts = [t for t in heights if s <= t < e]
        if not pts:
            continue
        xs = ([s - 1.0] if s > 0 else []) + [float(t) for t in pts] + ([float(e)] if e < T else [])
        for j, t in enumerate(pts):
            ys = ([0.0] if s > 0 else []) + [1.0 if i == j else 0.0 for i in range(len(pts))] + ([0.0] if e < T else [])
            W[s:e, t, 1] = np.interp(np.arange(s, e, dtype=np.float64), xs, ys)
    return W.astype(np.float32)


def correct_root(feats_TD: np.ndarray, targets: ControlTargets, row: int = 0) -> np.ndarray:
    """De-normalised features (T, D) of row ``row`` of ``targets`` with the whole body translated over time so
    that every constrained pelvis coordinate is met (module doc). Frozen frames (``targets.frozen``) keep their
    features; the joints' velocities (``local_vel``) follow the steps. Targets anchored to a frame that the
    correction itself moves are met only approximately."""
    from moscale_cli.motion.features import recover_root_rot_pos
    from moscale_cli.motion.quaternion import qrot
    from moscale_cli.motion.skeleton import SMPL22

    f = np.array(feats_TD, dtype=np.float64)
    T = f.shape[0]
    tg = targets.rows(torch.tensor([row])).to("cpu")
    if T < 2 or not bool(tg.mask[0, :T, 0].any()):
        return f.astype(np.float32)
    ft = torch.from_numpy(f).float()[None]
    if T < tg.frames:
        ft = torch.cat([ft, ft[:, -1:].expand(-1, tg.frames - T, -1)], dim=1)
    with torch.no_grad():
        c = tg.correction(recover_from_ric(ft[:, : tg.frames], JOINTS), ft)[0, :T].double().numpy()
    sl = SMPL22.feature_slices()
    J = SMPL22.num_joints
    r_rot, _ = recover_root_rot_pos(f)
    step = np.zeros((T, 3))  # world displacement added to the step frame k -> k + 1 (feature row k)
    step[:-1, [0, 2]] = c[1:, [0, 2]] - c[:-1, [0, 2]]
    if np.abs(step).max() > 0:
        f[:-1, sl["root_lin_vel"]] += qrot(r_rot[1:], step[:-1])[:, [0, 2]]
        vel = f[:, sl["local_vel"]].reshape(T, J, 3)
        vel[:-1] += qrot(r_rot[:-1], step[:-1])[:, None]
        f[:, sl["local_vel"]] = vel.reshape(T, -1)
    dy = c[:, 1]
    if np.abs(dy).max() > 0:
        f[:, sl["root_y"]] += dy[:, None]
        ric = f[:, sl["ric"]].reshape(T, J - 1, 3)
        ric[..., 1] += dy[:, None]
        f[:, sl["ric"]] = ric.reshape(T, -1)
        vel = f[:, sl["local_vel"]].reshape(T, J, 3)
        open_rows = ~tg.frozen[0, : T - 1].numpy()  # a frozen frame keeps its features, velocities included
        vel[:-1, :, 1] += ((dy[1:] - dy[:-1]) * open_rows)[:, None]
        f[:, sl["local_vel"]] = vel.reshape(T, -1)
    return f.astype(np.float32)


__all__ = ["ControlTargets", "TargetFrame", "correct_root", "correction_weights", "target_errors"]
