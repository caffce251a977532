"""An edited BVH source written back on its own rig (hierarchy, offsets, channel order, extra joints, frame
time, units).

The edit runs at 20 fps (``pipeline/editing.py``); the file keeps the clip's own frame rate. Each frame of
the clip has a time; output frames ``o`` that stand for source frames (``EditedMotion.source_frames``) carry
the clip's frames whose time falls in ``[o / 20, (o + 1) / 20)`` (the clip's frames after its last 20 fps
sample go with that sample). Such a frame is the source's frame line verbatim when that 20 fps frame was
kept, and is regenerated when its time falls inside a region. New frames (an extension, a longer gap)
are laid out at the clip's frame time between and around the source's frames (a gap between two kept parts
gets the whole number of frames nearest its duration). Regenerated and new frames take rotations solved
from the edited joints (sampled at their time) for the mapped joints (``motion.rig.solve_channels``); the
unmapped joints (fingers, props) hold the nearest kept frame's values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from moscale_cli.errors import UsageError

_TOL = 0.01  # clip frames: times this close count as equal (a "Frame Time" has a few digits only)


@dataclass
class RigFrames:
    """The frames of a BVH output on the source's rig."""

    values: np.ndarray  # (N, C) channel values (kept rows: the source's values)
    keep: np.ndarray  # (N,) True = the source's frame line verbatim
    source_frames: np.ndarray  # (N,) source frame of each row, -1 for new frames
    times: np.ndarray  # (N,) seconds on the edited motion's timeline


def sample_joints(joints: np.ndarray, x: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """SMPL-22 joints (T, 22, 3) at fractional frames ``x`` (clamped to the clip): the root interpolated
    linearly, every joint's local rotation (IK onto ``offsets`` (22, 3)) along the shortest arc, then FK with
    ``offsets``; so the skeleton stays rigid between frames (a position blend would shorten fast bones and
    bend the pelvis and chest triangles)."""
    from moscale_cli.motion.kinematics import forward_kinematics, inverse_kinematics
    from moscale_cli.motion.quaternion import matrix_to_quat, qslerp, quat_to_matrix
    from moscale_cli.motion.skeleton import SMPL22

    j = np.asarray(joints, dtype=np.float64)
    t = j.shape[0]
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, t - 1)
    i0 = np.clip(np.floor(x).astype(np.int64), 0, t - 1)
    i1 = np.minimum(i0 + 1, t - 1)
    w = x - i0
    need = np.unique(np.concatenate([i0, i1]))
    _, local = inverse_kinematics(SMPL22.parents, offsets, j[need])
    q = matrix_to_quat(local)
    at = {int(f): k for k, f in enumerate(need)}
    q0 = q[[at[int(f)] for f in i0]]
    q1 = q[[at[int(f)] for f in i1]]
    rot = quat_to_matrix(qslerp(q0, q1, np.broadcast_to(w[:, None], q0.shape[:2])))
    trans = np.broadcast_to(np.asarray(offsets, dtype=np.float64), (len(x), 22, 3)).copy()
    trans[:, 0] = (1.0 - w)[:, None] * j[i0, 0] + w[:, None] * j[i1, 0]
    return forward_kinematics(SMPL22.parents, rot, trans)[0]


def _runs(sf: np.ndarray) -> list[tuple[int, int]]:
    """Runs [o0, o1) of output frames standing for consecutive source frames."""
    out: list[tuple[int, int]] = []
    o = 0
    while o < len(sf):
        if sf[o] < 0:
            o += 1
            continue
        o1 = o + 1
        while o1 < len(sf) and sf[o1] == sf[o1 - 1] + 1:
            o1 += 1
        out.append((o, o1))
        o = o1
    return out


def rig_timeline(
    source_frames: np.ndarray, known: np.ndarray, fps: float, clip_frames: int, clip_fps: float, source_len: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times (N,) seconds, source frame (N,) or -1, keep (N,)) of the rows of the output at the clip's rate
    (see the module doc). ``source_frames``/``known``: per frame of the edited motion at ``fps``;
    ``source_len``: the source's frames at ``fps``."""
    sf = np.asarray(source_frames, dtype=np.int64)
    known = np.asarray(known, dtype=bool)
    eps = _TOL / clip_fps
    total = len(sf)
    times: list[float] = []
    frames: list[int] = []
    keep: list[bool] = []
    runs_of: list[int] = []
    for r, (o0, o1) in enumerate(_runs(sf)):
        shift = (o0 - int(sf[o0])) / fps
        lo = sf[o0] / fps
        hi = np.inf if sf[o1 - 1] == source_len - 1 else (sf[o1 - 1] + 1) / fps
        f = np.arange(clip_frames)
        tf = f / clip_fps
        sel = f[(tf >= lo - eps) & (tf < hi - eps)]
        for c in sel:
            tau = c / clip_fps + shift
            o = int(np.clip(np.floor((tau + eps) * fps), o0, o1 - 1))
            times.append(tau)
            frames.append(int(c))
            keep.append(bool(known[o]))
            runs_of.append(r)
    step = 1.0 / clip_fps
    end = (total - 1) / fps
    rows: list[tuple[float, int, bool]] = []
    if not times:
        n = int(np.floor(end * clip_fps + _TOL)) + 1
        rows = [(i * step, -1, False) for i in range(n)]
    else:
        first = times[0]
        k = int(np.floor(first * clip_fps + _TOL))
        rows += [(first - i * step, -1, False) for i in range(k, 0, -1)]
        for i in range(len(times)):
            rows.append((times[i], frames[i], keep[i]))
            if i + 1 < len(times) and (runs_of[i + 1] != runs_of[i]):
                gap = times[i + 1] - times[i]
                n = max(0, int(round(gap * clip_fps)) - 1)
                rows += [(times[i] + gap * (m + 1) / (n + 1), -1, False) for m in range(n)]
        last = times[-1]
        k = int(np.floor((end - last) * clip_fps + _TOL))
        rows += [(last + (i + 1) * step, -1, False) for i in range(max(0, k))]
    t = np.array([r[0] for r in rows], dtype=np.float64)
    return t, np.array([r[1] for r in rows], dtype=np.int64), np.array([r[2] for r in rows], dtype=bool)


def source_rig_frames(motion: Any) -> RigFrames:
    """The rows of ``motion`` (an ``EditedMotion`` of a BVH source) on the source's rig (module doc)."""
    from moscale_cli.motion.rig import nearest_kept, solve_channels

    src = getattr(motion, "source", None)
    bvh = getattr(src, "bvh", None)
    if bvh is None or bvh.clip is None or motion.space != "source" or motion.source_frames is None:
        raise UsageError("--rig source needs a BVH source (use --rig template for other sources)")
    clip = bvh.clip
    times, rows_src, keep = rig_timeline(
        motion.source_frames, motion.known, motion.fps, clip.num_frames, clip.fps, src.frames
    )
    has = rows_src >= 0
    near = nearest_kept(has)
    values = clip.values[np.where(has, rows_src, rows_src[near]).clip(0)] if has.any() else np.repeat(
        clip.values[:1], len(rows_src), axis=0
    )
    solve = ~keep
    if solve.any():
        x = times[solve] * motion.fps
        new_m = sample_joints(motion.joints, x, src.rest_offsets())
        values = solve_channels(clip.rig, values, bvh.source.mapping, bvh.to_source_units(new_m), solve)
    return RigFrames(values, keep, rows_src, times)


def write_source_bvh(motion: Any, path: str | os.PathLike, frames: RigFrames | None = None) -> None:
    """Write ``motion`` (an ``EditedMotion`` of a BVH source) on the source's own rig (atomic); ``frames``:
    from :func:`source_rig_frames` when already computed."""
    from moscale_cli.io.bvh import write_bvh_like

    rf = source_rig_frames(motion) if frames is None else frames
    write_bvh_like(path, motion.source.bvh.clip, rf.values, rf.keep, source_frames=rf.source_frames)


def write_source_gltf(motion: Any, path: str | os.PathLike, frames: RigFrames | None = None) -> None:
    """Write ``motion`` (an ``EditedMotion`` of a BVH source) as glTF on the source's own rig (its joints, in
    metres and Y up; every frame from the channel values of :func:`source_rig_frames`)."""
    from moscale_cli.io.gltf import write_gltf_rig
    from moscale_cli.motion.retarget import snap_axes
    from moscale_cli.motion.rig import body_axes

    rf = source_rig_frames(motion) if frames is None else frames
    bvh = motion.source.bvh
    clip = bvh.clip
    axes = snap_axes(*body_axes(clip.rig, bvh.source.mapping))
    write_gltf_rig(path, clip.rig, rf.values, clip.fps, bvh.scale, axes, motion.caption)


__all__ = ["RigFrames", "rig_timeline", "sample_joints", "source_rig_frames", "write_source_bvh", "write_source_gltf"]
