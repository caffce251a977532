"""Editing tasks on one timeline: edit regions, extend (outpaint), in-between (method §6).

Every task is one operation on a *target timeline* of T frames: some frames are known (source features,
de-normalised, 263-dim) and the others are regenerated under a text (or unconditionally):

- edit: the source with chosen regions unknown;
- extend (outpainting): the source placed at an offset in a longer timeline, the new frames unknown;
- in-betweening: clip A, an unknown gap, clip B; or one source with its middle unknown;
- continuation (``pipeline/compose.py``): the tail of the previous window known, the rest unknown.

The sampler regenerates the unknown frames (:func:`moscale_cli.sampling.infill.infill`); the result is then
*blended* with the source: known frames are copied from the source (bitwise), unknown frames take the
generated features, and the first/last ``blend`` frames of each unknown region that touches known frames fade
from the nearest known frame to the generated motion (smoothstep). Root motion is stored as velocities in the
feature vector, so the global trajectory continues across every seam.

Sources (``pipeline/sources.py``): a features source is used bitwise and the result stays in the model's
space. A joints or BVH source gives one feature frame per source frame (the joints are padded by one frame
before the conversion), and the result is returned in the *source's* space (``pipeline/placement.py``): the
frames outside the regions are the source's joints exactly, the generated ones are brought into its
placement, facing and bone lengths, with the root path and facing continuous at every seam.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from moscale_cli.errors import UsageError
from moscale_cli.pipeline.defaults import DEFAULT_BLEND
from moscale_cli.pipeline.placement import Piece
from moscale_cli.pipeline.results import EditedMotion, Region, seam_report
from moscale_cli.pipeline.sources import EditSource, load_source
from moscale_cli.sampling.config import SamplingConfig
from moscale_cli.sampling.infill import fill_unknown, infill, runs

if TYPE_CHECKING:
    from moscale_cli.pipeline.constraints import Constraints
    from moscale_cli.pipeline.core import MoScalePipeline
    from moscale_cli.pipeline.sources import SourceLike
    from moscale_cli.sampling.control import ControlConfig
    from moscale_cli.sampling.targets import TargetFrame
    from moscale_cli.text.features import TextFeatures

# ---------------------------------------------------------------- regions


def check_regions(regions: Sequence[Sequence[float]], total: int, what: str = "the motion") -> list[Region]:
    """Validate frame regions ``[start, end)`` against a motion of ``total`` frames; returns them sorted.

    Raises :class:`UsageError` for a reversed or empty region, one outside the motion, or overlapping ones."""
    out: list[Region] = []
    for r in regions:
        if len(r) != 2:
            raise UsageError(f"a region needs a start and an end, got {tuple(r)}")
        s, e = int(r[0]), int(r[1])
        if e < s:
            raise UsageError(f"region {s}:{e} is reversed (start after end)")
        if e == s:
            raise UsageError(f"region {s}:{e} is empty")
        if s < 0 or e > total:
            raise UsageError(f"region {s}:{e} lies outside {what} (frames 0:{total})")
        out.append((s, e))
    out.sort()
    for (s0, e0), (s1, e1) in zip(out, out[1:], strict=False):
        if s1 < e0:
            raise UsageError(f"regions {s0}:{e0} and {s1}:{e1} overlap")
    return out


def mask_to_regions(mask: Sequence[bool] | np.ndarray, total: int) -> list[Region]:
    """Runs of True in a boolean / 0-1 array of length ``total`` (True = regenerate) as frame regions."""
    m = np.asarray(mask)
    if m.ndim != 1 or m.shape[0] != total:
        raise UsageError(f"the edit mask must be a 1-D array of length {total} (one value per frame), got shape {m.shape}")
    if m.dtype != bool:
        if not np.isfinite(m.astype(np.float64)).all() or not np.isin(m, (0, 1)).all():
            raise UsageError("the edit mask must hold booleans or 0/1 values")
        m = m.astype(bool)
    return runs(m)


def boundaries(known: np.ndarray) -> list[int]:
    """Frames t (1 <= t < T) where known and unknown meet (between frames t-1 and t)."""
    k = np.asarray(known, dtype=bool)
    return [int(t) for t in np.flatnonzero(k[1:] != k[:-1]) + 1]


# ---------------------------------------------------------------- blending


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def blend_weights(known: np.ndarray, blend: int = DEFAULT_BLEND) -> np.ndarray:
    """Weight of the generated motion per frame: 0 on known frames, 1 inside unknown regions, and a
    smoothstep ramp over the first/last ``blend`` frames of a region where it meets known frames (a region
    shorter than two ramps shares its frames between them)."""
    known = np.asarray(known, dtype=bool)
    T = known.shape[0]
    w = np.zeros(T, dtype=np.float64)
    for s, e in runs(~known):
        n = e - s
        idx = np.arange(n, dtype=np.float64)
        r = np.ones(n)
        if s > 0:  # known frames before: ramp up
            b = min(blend, (n + 1) // 2 if e < T else n)
            if b > 0:
                r = np.minimum(r, smoothstep((idx + 1) / (b + 1)))
        if e < T:  # known frames after: ramp down
            b = min(blend, (n + 1) // 2 if s > 0 else n)
            if b > 0:
                r = np.minimum(r, smoothstep((n - idx) / (b + 1)))
        w[s:e] = r
    return w


def blend_with_source(source: np.ndarray, generated: np.ndarray, known: np.ndarray, blend: int = DEFAULT_BLEND) -> np.ndarray:
    """Known frames from ``source`` (bitwise), generated frames elsewhere, ramps inside the unknown regions."""
    known = np.asarray(known, dtype=bool)
    base = fill_unknown(source, known)
    w = blend_weights(known, blend)[:, None]
    mixed = ((1.0 - w) * base + w * generated).astype(source.dtype)
    return np.where(known[:, None], source, mixed).astype(source.dtype)


# ---------------------------------------------------------------- sources


def source_features(source: SourceLike, skeleton_dim: int = 263) -> np.ndarray:
    """De-normalised model-space features (T, D) of a source: a path (.bvh/.npy), a ``LoadedMotion``, an
    ``EditSource``, or an array of joints (T, 22, 3) or features (T, D). Features are returned as given
    (bitwise); T joint frames give T feature frames (see ``pipeline/sources.py``)."""
    return load_source(source, skeleton_dim).features


def place(source: np.ndarray, total: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Put ``source`` at ``offset`` in a timeline of ``total`` frames -> (feats, known)."""
    T, D = source.shape
    feats = np.zeros((total, D), dtype=source.dtype)
    known = np.zeros(total, dtype=bool)
    feats[offset : offset + T] = source
    known[offset : offset + T] = True
    return feats, known


# ---------------------------------------------------------------- tasks


def text_for(pipe: MoScalePipeline, prompts: Sequence[str], unconditional: bool) -> list[TextFeatures | None]:
    """One TextFeatures (or None when unconditional) per prompt; each distinct prompt is encoded once."""
    if unconditional:
        return [None] * len(prompts)
    feats = pipe.encode_prompts(prompts)
    return [feats.index([j]) for j in range(len(prompts))]


def task_prompt(pipe: MoScalePipeline, prompt: str | None, unconditional: bool) -> str:
    return pipe.check_prompts(prompt if prompt is not None or not unconditional else None, unconditional)[0]


def feature_dim(pipe: MoScalePipeline) -> int:
    dim = int(pipe.tokenizer.cfg.feature_dim)
    if dim != 263:
        raise UsageError(f"editing supports SMPL-22 (263-dim) models; this model uses {dim}-dim features")
    return dim


def _check_source_fits(pipe: MoScalePipeline, n: int, what: str) -> None:
    if n > pipe.max_frames:
        raise UsageError(
            f"{what} has {n} frames, more than the model window of {pipe.max_frames} frames "
            f"({pipe.max_frames / pipe.fps:g} s); edit a shorter part, or use `moscale compose` for long motions"
        )


def _result(
    pipe: MoScalePipeline, caption: str, feats: np.ndarray, known: np.ndarray, blend: int, reference: EditSource,
    pieces: list[Piece], source_frames: np.ndarray, offset: int = 0, others: Sequence[EditSource] = (),
) -> EditedMotion:
    """The :class:`EditedMotion` of a filled timeline: in the model's space for a features ``reference``,
    else in the reference source's space (``place_in_source``); seams against the sources' own steps."""
    from moscale_cli.motion.features import recover_from_ric
    from moscale_cli.pipeline.placement import place_in_source

    joints = np.asarray(recover_from_ric(feats, joints_num=22), dtype=np.float32)
    space = "source" if reference.in_source_space else "model"
    if space == "source":
        joints = place_in_source(joints, known, pieces, reference, blend_weights(known, blend))
    b = boundaries(known)
    refs = [src.joints for src in (reference, *others) if src.frames >= 2]
    return EditedMotion(
        caption, joints, feats, int(feats.shape[0]), float(pipe.fps),
        regions=runs(~known), boundaries=b, seams=seam_report(joints, b, refs), source_offset=offset,
        space=space, source=reference, source_frames=source_frames,
        skeleton=reference.name if space == "source" else "model",  # one skeleton for every frame
    )


def fill(pipe: MoScalePipeline, tl: np.ndarray, known: np.ndarray, text: TextFeatures | None, sampling: SamplingConfig,
         seed: int | torch.Generator, blend: int, targets: np.ndarray | None = None,
         target_frame: TargetFrame | None = None, control: ControlConfig | None = None) -> np.ndarray:
    """Regenerate the unknown frames of a timeline (on the pipeline's runner) and blend them with the known ones
    -> features (T, D). ``targets`` (T, 22, 3), NaN = free: joint targets of the blended timeline (measured as
    ``target_frame`` says; ``sampling/control.py``), reached by the control and the root correction."""
    ctl = None
    base = fill_unknown(tl, known)
    if targets is not None and np.isfinite(targets).any():
        from moscale_cli.sampling.targets import ControlTargets

        ctl = ControlTargets.from_arrays([targets], tl.shape[0], base=[base], weight=[blend_weights(known, blend)],
                                         target_frames=[target_frame])
    res = infill(pipe.generator, pipe.tokenizer, pipe.normalizer, tl, known, text, sampling, seed,
                 min_frames=pipe.min_frames, runner=pipe.runner, control=ctl, control_cfg=control)
    out = blend_with_source(tl, res.generated, known, blend)
    if ctl is not None:
        from moscale_cli.sampling.targets import correct_root

        out = np.where(known[:, None], tl, correct_root(out, ctl, 0)).astype(tl.dtype)
    return out


def _fill(
    pipe: MoScalePipeline, caption: str, tl: np.ndarray, known: np.ndarray, seed: int, blend: int,
    sampling: SamplingConfig | None, unconditional: bool, constraints: Constraints | None = None,
    control: ControlConfig | None = None, **where: Any,
) -> EditedMotion:
    """Fill the unknown frames of one timeline under ``caption`` and build the :class:`EditedMotion`
    (``where``: the arguments of :func:`_result` that say where the known frames come from; ``constraints``:
    joint targets in the output's frame, see ``pipeline/control.py``)."""
    scfg = pipe.check_sampling(sampling)
    targets = tframe = None
    if constraints:
        from moscale_cli.pipeline.control import edit_targets

        targets, tframe = edit_targets(constraints, tl.shape[0], known, where["reference"], where["pieces"])
    text = text_for(pipe, [caption], unconditional)[0]
    feats = fill(pipe, tl, known, text, scfg, seed, blend, targets, tframe, control)
    out = _result(pipe, caption, feats, known, blend, **where)
    out.targets = targets
    return out


def _pieces(src: EditSource, known: np.ndarray, source_frames: np.ndarray) -> list[Piece]:
    """One anchored piece per run of known frames (their source frames from ``source_frames``)."""
    return [Piece(src, s, int(source_frames[s]), e - s) for s, e in runs(known)]


@torch.no_grad()
def edit_motion(
    pipe: MoScalePipeline,
    source: SourceLike,
    prompt: str | None,
    regions: Sequence[Sequence[float]] | np.ndarray | None = None,
    mask: Sequence[bool] | np.ndarray | None = None,
    frames: int | None = None,
    extend: str = "end",
    seed: int = 0,
    sampling: SamplingConfig | None = None,
    unconditional: bool = False,
    blend: int = DEFAULT_BLEND,
    constraints: Constraints | None = None,
    control: ControlConfig | None = None,
) -> EditedMotion:
    """Regenerate ``regions`` (source frames ``[start, end)``, or ``mask``: True = regenerate) of ``source``
    under ``prompt``; with ``frames`` > the source length, also generate new frames at the ``extend`` end
    ("end", "start" or "both"). Frames outside the regions and the extension keep the source's features
    (features source) or its joints exactly, in its own space (joints / BVH source; see the module doc).
    Frames count at 20 fps: a BVH clip at another rate is resampled, and the result has its duration in
    frames at 20 fps (``pipeline.source_rig`` writes it back at the clip's rate)."""
    caption = task_prompt(pipe, prompt, unconditional)
    src = load_source(source, feature_dim(pipe))
    feats = src.features
    Ts = feats.shape[0]
    _check_source_fits(pipe, Ts, "the source")
    regions = [] if regions is None else list(regions)  # a list, a tuple or an (n, 2) array
    if regions and mask is not None:
        raise UsageError("give either regions or a mask, not both")
    regs = mask_to_regions(mask, Ts) if mask is not None else check_regions(regions, Ts, "the source")
    total = Ts if frames is None else int(frames)
    if total < Ts:
        raise UsageError(f"--frames {total} is shorter than the source ({Ts} frames); editing keeps every source frame")
    if total > pipe.max_frames:
        raise UsageError(
            f"--frames {total} exceeds the model window of {pipe.max_frames} frames; use `moscale compose` for longer motions"
        )
    if extend not in ("end", "start", "both"):
        raise UsageError(f"extend must be 'end', 'start' or 'both', got {extend!r}")
    extra = total - Ts
    offset = {"end": 0, "start": extra, "both": extra // 2}[extend]
    tl, known = place(feats, total, offset)
    for s, e in regs:
        known[offset + s : offset + e] = False
    sf = np.full(total, -1, dtype=np.int64)
    sf[offset : offset + Ts] = np.arange(Ts)
    return _fill(pipe, caption, tl, known, seed, blend, sampling, unconditional, constraints, control, reference=src,
                 pieces=_pieces(src, known, sf), source_frames=sf, offset=offset)


@torch.no_grad()
def inbetween_motion(
    pipe: MoScalePipeline,
    prompt: str | None,
    start: SourceLike | None = None,
    end: SourceLike | None = None,
    frames: int | None = None,
    source: SourceLike | None = None,
    keep_start: int = 0,
    keep_end: int = 0,
    seed: int = 0,
    sampling: SamplingConfig | None = None,
    unconditional: bool = False,
    blend: int = DEFAULT_BLEND,
    constraints: Constraints | None = None,
    control: ControlConfig | None = None,
) -> EditedMotion:
    """Fill the gap between two motions or inside one.

    - ``start`` and/or ``end`` motions: the output is ``start``, then ``frames`` generated frames, then ``end``
      (its root continues from the gap's end: features store root velocities);
    - ``source`` with ``keep_start``/``keep_end``: keep its first and last frames, regenerate the middle;
      ``frames`` sets the total length (default: the source's).

    With joints / BVH motions the result is in the space of ``source`` (or of ``start``, else ``end``): its
    kept frames exactly; the ``end`` clip after a ``start`` clip keeps its own joints, turned and shifted as a
    whole so that it continues from the generated frames; when it comes from another rig (other bone lengths)
    it is re-posed on the ``start`` clip's skeleton, so that every frame of the result has one skeleton
    (``EditedMotion.skeleton``)."""
    caption = task_prompt(pipe, prompt, unconditional)
    dim = feature_dim(pipe)
    if source is not None:
        if start is not None or end is not None:
            raise UsageError("give either --source with --keep-start/--keep-end, or --start/--end motions, not both")
        src = load_source(source, dim)
        feats = src.features
        Ts = feats.shape[0]
        k0, k1 = int(keep_start or 0), int(keep_end or 0)
        if k0 < 0 or k1 < 0:
            raise UsageError("--keep-start and --keep-end must be >= 0")
        if k0 + k1 > Ts:
            raise UsageError(f"--keep-start {k0} + --keep-end {k1} exceed the source's {Ts} frames")
        a, b = feats[:k0], feats[Ts - k1 :]
        total = Ts if frames is None else int(frames)
        if total <= k0 + k1:
            raise UsageError(f"--frames {total} is not longer than the kept parts ({k0} + {k1} frames); nothing to generate")
        gap = total - k0 - k1
        what = "the output"
        sf = np.full(total, -1, dtype=np.int64)
        sf[:k0] = np.arange(k0)
        sf[total - k1 :] = np.arange(Ts - k1, Ts)
        if total == Ts:  # the middle is regenerated in place
            sf[:] = np.arange(Ts)
        pieces = [Piece(src, 0, 0, k0), Piece(src, total - k1, Ts - k1, k1)]
        reference, others = src, ()
    else:
        if start is None and end is None:
            raise UsageError("give --start and/or --end motions (or --source with --keep-start/--keep-end)")
        sa = load_source(start, dim) if start is not None else None
        sb = load_source(end, dim) if end is not None else None
        a = sa.features if sa is not None else np.zeros((0, dim), np.float32)
        b = sb.features if sb is not None else np.zeros((0, dim), np.float32)
        if frames is None:
            raise UsageError("give the number of frames to generate between the motions (--frames)")
        gap = int(frames)
        if gap < 1:
            raise UsageError(f"--frames must be at least 1, got {gap}")
        total = a.shape[0] + gap + b.shape[0]
        what = f"start ({a.shape[0]}) + gap ({gap}) + end ({b.shape[0]})"
        reference = sa if sa is not None else sb
        others = (sb,) if sa is not None and sb is not None else ()
        sf = np.full(total, -1, dtype=np.int64)
        if sa is not None:
            sf[: a.shape[0]] = np.arange(a.shape[0])
        else:
            sf[gap:] = np.arange(b.shape[0])
        pieces = [Piece(sa, 0, 0, a.shape[0])] if sa is not None else []
        if sb is not None:
            pieces.append(Piece(sb, a.shape[0] + gap, 0, b.shape[0], anchored=sa is None))
    if total > pipe.max_frames:
        raise UsageError(
            f"{what} = {total} frames exceed the model window of {pipe.max_frames} frames; "
            "use `moscale compose` for longer motions"
        )
    tl = np.concatenate([a, np.zeros((gap, dim), np.float32), b]).astype(np.float32)
    known = np.ones(total, dtype=bool)
    known[a.shape[0] : a.shape[0] + gap] = False
    pieces = [p for p in pieces if p.n > 0]
    return _fill(pipe, caption, tl, known, seed, blend, sampling, unconditional, constraints, control,
                 reference=reference, pieces=pieces, source_frames=sf, others=others)


__all__ = [
    "blend_weights",
    "blend_with_source",
    "boundaries",
    "check_regions",
    "edit_motion",
    "fill",
    "inbetween_motion",
    "mask_to_regions",
    "place",
    "source_features",
    "text_for",
]
