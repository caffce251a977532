"""Spatial constraints in the pipeline's tasks: the targets of each task, in the frame the sampler works in.

The user's constraints (``pipeline/constraints.py``) are in the frame of the *output* motion (its NPY joints).
The sampler works on a timeline of features whose joints (``recover_from_ric``) put frame 0's pelvis above the
origin facing +Z. Per task:

- ``generate``: the same frame; ``compose``: the composed motion's frame, which each window (its own frame 0 at
  the start of its kept tail) reaches by the turn and shift of the composed motion's root at that frame;
- ``edit`` / ``inbetween`` of a features source: the output's joints are the timeline's, so the same frame;
- ``edit`` / ``inbetween`` of a joints or BVH source: the output is in the source's own space
  (``pipeline/placement.py``): every generated region is placed by the turn and shift that make it meet the
  kept frame before it (else the one after it), with the source's scale, floor and facing. The targets are
  measured the same way (a :class:`~moscale_cli.sampling.control.TargetFrame` anchored at that kept frame,
  then the source's :class:`~moscale_cli.pipeline.sources.ModelFrame`). Between two kept parts the placement
  also bends the region towards the kept frame after it, and the bones take the source's lengths, so the
  targets are met there up to that difference; the post-process then puts the joints on them.

Constraints on frames an edit keeps are refused (those frames are the source's). The pelvis's ground-plane
position at frame 0 is fixed at the origin in the model's frame (``generate``, ``compose``, features edits).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from moscale_cli.errors import UsageError
from moscale_cli.pipeline.constraints import Constraints

if TYPE_CHECKING:
    from moscale_cli.pipeline.placement import Piece
    from moscale_cli.pipeline.sources import EditSource
    from moscale_cli.sampling.targets import TargetFrame


def constrained_length(constraints: Constraints | None, frames: int, unit: int, max_frames: int) -> int:
    """A length chosen by the estimator, grown to hold the last constrained frame (rounded up to ``unit``)."""
    if not constraints or constraints.last_frame < 0:
        return frames
    need = -(-(constraints.last_frame + 1) // unit) * unit
    if need > max_frames:
        raise UsageError(f"a constraint at frame {constraints.last_frame} lies past the longest motion of "
                         f"{max_frames} frames")
    return max(frames, need)


def regions_text(known: np.ndarray) -> str:
    from moscale_cli.sampling.infill import runs

    regs = runs(~np.asarray(known, dtype=bool))
    return " (generated: " + ", ".join(f"{s}:{e}" for s, e in regs) + ")" if regs else ""


def source_frame(reference: EditSource, known: np.ndarray, pieces: list[Piece]) -> TargetFrame:
    """How the output of an edit of a joints / BVH ``reference`` is measured (module doc): each generated
    region anchored as ``place_in_source`` places it (the kept frame before it, bending towards the one after
    it over the region), then the source's model frame."""
    from moscale_cli.motion.features import recover_root_rot_pos
    from moscale_cli.motion.quaternion import yaw_quat
    from moscale_cli.pipeline.editing import smoothstep
    from moscale_cli.sampling.infill import runs
    from moscale_cli.sampling.targets import TargetFrame

    known = np.asarray(known, dtype=bool)
    T = known.shape[0]
    src_of = np.full(T, -1, dtype=np.int64)  # source frame of each anchored kept output frame
    for p in pieces:
        if p.anchored and p.source is reference:
            src_of[p.start : p.end] = np.arange(p.src_start, p.src_start + p.n)
    r_rot, r_pos = recover_root_rot_pos(np.asarray(reference.features, dtype=np.float64))
    ang = 2.0 * np.arctan2(r_rot[:, 2], r_rot[:, 0])
    anchor = np.full((T, 2), -1, dtype=np.int64)
    aang = np.zeros((T, 2))
    aroot = np.zeros((T, 2, 3))
    bend = np.zeros(T)
    for s, e in runs(~known):
        a0 = s - 1 if s > 0 and src_of[s - 1] >= 0 else -1
        a1 = e if e < T and src_of[e] >= 0 else -1
        if a0 < 0 and a1 < 0:
            continue
        first = [a for a in (a0, a1) if a >= 0]
        for i, a in enumerate(first):
            anchor[s:e, i], aang[s:e, i], aroot[s:e, i] = a, ang[src_of[a]], r_pos[src_of[a]]
        if len(first) == 2:
            bend[s:e] = smoothstep((np.arange(s, e) - a0) / float(a1 - a0))
    fr = reference.frame
    assert fr is not None
    q = np.asarray(yaw_quat(np.array(fr.yaw, dtype=np.float64)), dtype=np.float64)
    return TargetFrame(anchor, aang, aroot, bend, tuple(float(v) for v in q),
                       (fr.origin_xz[0], fr.floor, fr.origin_xz[1]), float(fr.scale))


def window_frame(feats_so_far: np.ndarray, start: int, frames: int) -> TargetFrame | None:
    """How a compose window whose frame 0 is frame ``start`` of the motion so far (features (T, D)) is measured
    in the composed motion's frame (None for the first window)."""
    from moscale_cli.motion.features import recover_root_rot_pos
    from moscale_cli.sampling.targets import TargetFrame

    if len(feats_so_far) == 0:
        return None
    r_rot, r_pos = recover_root_rot_pos(np.asarray(feats_so_far, dtype=np.float64))
    anchor = np.full((frames, 2), -1, dtype=np.int64)
    anchor[:, 0] = 0
    aang = np.zeros((frames, 2))
    aang[:, 0] = 2.0 * np.arctan2(r_rot[start, 2], r_rot[start, 0])
    aroot = np.zeros((frames, 2, 3))
    aroot[:, 0] = r_pos[start]
    return TargetFrame(anchor, aang, aroot)


def edit_targets(constraints: Constraints, total: int, known: np.ndarray, reference: EditSource,
                 pieces: list[Piece]) -> tuple[np.ndarray, TargetFrame | None]:
    """The resolved targets (output frame) of an edit / in-between and how to measure them (module doc)."""
    known = np.asarray(known, dtype=bool)
    model = not reference.in_source_space
    arr = constraints.resolve(total, origin=model, what="the output", kept=known, kept_why=regions_text(known))
    if model:
        return arr, None
    return arr, source_frame(reference, known, pieces)


__all__ = ["constrained_length", "edit_targets", "source_frame", "window_frame"]
