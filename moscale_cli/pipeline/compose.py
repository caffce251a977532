"""Continuous multi-prompt motion longer than one window (outpainting chained window by window).

The motion is built in windows of at most ``max_frames`` frames. The first window is generated under the
first prompt; each later window locks its first ``overlap`` frames to the tail of the motion so far (the
locked-token edit mode, :func:`~moscale_cli.pipeline.editing.fill`) and generates the rest under
its own prompt; its new frames are appended in feature space, so the root (stored as velocities) continues.
A segment longer than ``max_frames - overlap`` is split into equal windows with the same prompt.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from moscale_cli.errors import UsageError
from moscale_cli.pipeline.defaults import DEFAULT_BLEND
from moscale_cli.pipeline.editing import feature_dim, fill, task_prompt, text_for
from moscale_cli.pipeline.results import EditedMotion, seam_report
from moscale_cli.sampling.config import SamplingConfig

if TYPE_CHECKING:
    from moscale_cli.pipeline.constraints import Constraints
    from moscale_cli.pipeline.core import MoScalePipeline
    from moscale_cli.sampling.control import ControlConfig


@dataclass
class Window:
    prompt: str
    new_frames: int  # frames this window adds to the motion
    segment: int  # index of the segment it belongs to


def plan_windows(segments: Sequence[tuple[str, int]], max_frames: int, overlap: int, unit: int = 4) -> list[Window]:
    """Split segments ``(prompt, frames)`` into windows that each fit ``max_frames`` with the overlap."""
    if not segments:
        raise UsageError("give at least one segment (\"text:seconds\")")
    if overlap < 1 or overlap > max_frames // 2:
        raise UsageError(f"the overlap must lie in [1, {max_frames // 2}] frames, got {overlap}")
    step = max_frames - overlap
    out: list[Window] = []
    for i, (prompt, n) in enumerate(segments):
        n = int(n)
        if n < unit:
            raise UsageError(f"segment {i + 1} ({prompt!r}) is {n} frames long; a segment needs at least {unit} frames")
        k = math.ceil(n / step)
        sizes = [n // k + (1 if j < n % k else 0) for j in range(k)]
        out += [Window(prompt, s, i) for s in sizes]
    return out


@torch.no_grad()
def compose_motion(
    pipe: MoScalePipeline,
    segments: Sequence[tuple[str, int]],
    overlap: int = 20,
    seed: int = 0,
    sampling: SamplingConfig | None = None,
    unconditional: bool = False,
    blend: int = DEFAULT_BLEND,
    on_window: Callable[[int, int], None] | None = None,
    constraints: Constraints | None = None,
    control: ControlConfig | None = None,
) -> EditedMotion:
    """One continuous motion from ``segments`` = ``[(prompt, frames), ...]`` (any total length).

    Window i uses seed ``seed + i``. The result's ``boundaries`` are the frames where each window's new
    frames start (segment boundaries included) and ``seams`` measures them against the motion's own
    95th-percentile per-frame displacement; ``regions`` are the segments' frame ranges. ``constraints``: joint
    targets over the whole motion, in its frame (frame 0's pelvis above the origin facing +Z); each window
    reaches those of its new frames (``pipeline/control.py``)."""
    from moscale_cli.motion.features import recover_from_ric

    dim = feature_dim(pipe)
    prompts = [task_prompt(pipe, p, unconditional) for p, _ in segments]
    windows = plan_windows([(p, n) for p, (_, n) in zip(prompts, segments, strict=True)], pipe.max_frames, int(overlap), pipe.unit)
    scfg = pipe.check_sampling(sampling)
    texts = dict(zip(prompts, text_for(pipe, prompts, unconditional), strict=True))
    targets = None
    if constraints:
        targets = constraints.resolve(sum(w.new_frames for w in windows), origin=True, what="the composed motion")
    parts: list[np.ndarray] = []
    total = 0
    starts: list[int] = []
    seg_ranges: list[tuple[int, int]] = []
    for i, w in enumerate(windows):
        tail = np.concatenate(parts)[-overlap:] if parts else np.zeros((0, dim), np.float32)
        n_known = tail.shape[0]
        tl = np.concatenate([tail, np.zeros((w.new_frames, dim), np.float32)]).astype(np.float32)
        known = np.zeros(tl.shape[0], dtype=bool)
        known[:n_known] = True
        wt = wf = None
        if targets is not None and np.isfinite(targets[total : total + w.new_frames]).any():
            from moscale_cli.pipeline.control import window_frame

            wt = np.full((tl.shape[0], 22, 3), np.nan)
            wt[n_known:] = targets[total : total + w.new_frames]
            wf = window_frame(np.concatenate(parts) if parts else np.zeros((0, dim), np.float32), total - n_known,
                              tl.shape[0])
        feats_w = fill(pipe, tl, known, texts[w.prompt], scfg, seed + i, blend, wt, wf, control)
        if parts:
            starts.append(total)
        if not seg_ranges or seg_ranges[-1][0] != w.segment:
            seg_ranges.append((w.segment, total))
        parts.append(feats_w[n_known:])
        total += w.new_frames
        if on_window is not None:
            on_window(i, len(windows))
    feats = np.concatenate(parts).astype(np.float32)
    joints = np.asarray(recover_from_ric(feats, joints_num=22), dtype=np.float32)
    bounds = [s for _, s in seg_ranges] + [total]
    regions = list(zip(bounds[:-1], bounds[1:], strict=True))
    caption = " -> ".join(prompts)
    return EditedMotion(
        caption, joints, feats, total, float(pipe.fps), targets=targets,
        regions=regions, boundaries=starts, seams=seam_report(joints, starts),
    )


__all__ = ["Window", "compose_motion", "plan_windows"]
