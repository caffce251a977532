"""Regenerate the unknown frames of a timeline with the locked-token edit mode of the sampler (method §6).

A timeline is T frames of de-normalised features, some *known* (kept) and the rest unknown. The known frames
(unknown ones filled with the nearest known frame, the model window padded with the last frame) are
normalised and tokenised; their ids are locked at every scale outside the tokens that touch an unknown
region (:func:`~moscale_cli.sampling.masks.cover_masks`), and the ordinary sampler re-predicts the rest.
The result is the decoded, de-normalised motion over the whole timeline; putting it together with the
source (exact known frames, blends at the seams) is the caller's job (``pipeline/``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from moscale_cli.errors import UsageError
from moscale_cli.models.generator import MoScaleTransformer
from moscale_cli.models.tokenizer import MSTokenizer
from moscale_cli.motion.normalize import Normalizer
from moscale_cli.sampling.config import SamplingConfig
from moscale_cli.sampling.masks import cover_masks

if TYPE_CHECKING:
    from moscale_cli.sampling.control import ControlConfig
    from moscale_cli.sampling.sampler import ScaleRunner
    from moscale_cli.sampling.targets import ControlTargets
    from moscale_cli.text.features import TextFeatures

Region = tuple[int, int]


def runs(flags: np.ndarray) -> list[Region]:
    """Maximal runs ``[start, end)`` of True."""
    f = np.concatenate([[False], np.asarray(flags, dtype=bool), [False]])
    d = np.flatnonzero(np.diff(f.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(d[::2], d[1::2], strict=True)]


def fill_unknown(feats: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Copy of ``feats`` with every unknown frame replaced by the nearest known frame (ties: the earlier)."""
    known = np.asarray(known, dtype=bool)
    out = np.array(feats, copy=True)
    idx = np.flatnonzero(known)
    if idx.size == 0:
        return np.zeros_like(out)
    t = np.arange(known.shape[0])
    pos = np.searchsorted(idx, t)
    left = idx[np.clip(pos - 1, 0, idx.size - 1)]
    right = idx[np.clip(pos, 0, idx.size - 1)]
    nearest = np.where(np.abs(t - left) <= np.abs(right - t), left, right)
    out[~known] = feats[nearest[~known]]
    return out


def model_length(frames: int, tokenizer: MSTokenizer, min_frames: int = 0) -> int:
    """The sampler's length for a timeline of ``frames`` frames: rounded up to the unit, and up to
    ``min_frames`` (the shortest motion the model was trained on: a shorter window would give the coarse scales
    token counts the model never saw), within the window."""
    unit, top = tokenizer.unit, tokenizer.max_frames
    if frames > top:
        raise UsageError(
            f"{frames} frames do not fit the model window of {top} frames; use `moscale compose` for longer motions"
        )
    if frames < unit:
        raise UsageError(f"a motion needs at least {unit} frames, got {frames}")
    return min(top, max(-(-frames // unit) * unit, -(-int(min_frames) // unit) * unit))


@dataclass
class InfillResult:
    generated: np.ndarray  # (T, D) decoded sampler output over the whole timeline, de-normalised
    known: np.ndarray  # (T,) bool
    model_frames: int  # the sampler's length (T rounded up to the unit)


@torch.no_grad()
def infill(
    generator: MoScaleTransformer,
    tokenizer: MSTokenizer,
    normalizer: Normalizer,
    feats: np.ndarray,
    known: np.ndarray,
    text_features: TextFeatures | None,
    sampling: SamplingConfig,
    seed: int | torch.Generator = 0,
    min_frames: int = 0,
    runner: ScaleRunner | None = None,
    control: ControlTargets | None = None,
    control_cfg: ControlConfig | None = None,
) -> InfillResult:
    """Regenerate the unknown frames of a timeline (see the module doc). ``feats`` (T, D) de-normalised (values
    at unknown frames are ignored), ``known`` (T,) bool, ``text_features`` for one prompt or None.

    A timeline shorter than ``min_frames`` runs in a window of ``min_frames`` (padded with its last frame,
    which is regenerated with a final unknown region, else held) and the first T frames are returned.
    ``runner``: the sampler's runner (default: the eager KV-cache runner; see ``sampling/sampler.py``).
    ``control``: joint targets of the timeline (one row; ``sampling/control.py``), reached by the control's
    logit hook and latent refinement (``control_cfg``) inside the re-generated tokens."""
    from moscale_cli.sampling.sampler import EditSpec, sample

    feats = np.asarray(feats)
    known = np.asarray(known, dtype=bool)
    T = feats.shape[0]
    if known.shape != (T,):
        raise ValueError("one known flag per frame is needed")
    n = model_length(T, tokenizer, min_frames)
    device = next(generator.parameters()).device
    src = fill_unknown(feats, known) if known.any() else np.zeros_like(feats)
    if n > T:  # pad the model timeline with the last frame
        src = np.concatenate([src, np.repeat(src[-1:], n - T, axis=0)])
    src_n = np.asarray(normalizer.normalize(src.astype(np.float32)), dtype=np.float32)
    if not known.any():
        src_n = np.zeros_like(src_n)
    x = torch.from_numpy(src_n).unsqueeze(0).to(device)
    lengths = torch.tensor([n], device=device)
    src_ids = tokenizer.encode(x, lengths)
    regions = [(s, n if e == T else e) for s, e in runs(~known)]  # the rounded-up tail goes with a final region
    masks = cover_masks(n, regions, tokenizer)
    spec = EditSpec(locked_ids=src_ids, edit_mask=[m.to(device) for m in masks])
    if control is not None:
        from moscale_cli.sampling.control import controlled_sample

        res = controlled_sample(generator, tokenizer, normalizer, text_features, lengths, control, sampling, control_cfg,
                                seed, edit=spec, batch_size=1, runner=runner)
    else:
        res = sample(generator, tokenizer, text_features, lengths, sampling, seed, edit=spec, batch_size=1,
                     runner=runner)
    out_n = res.feats[0, :T].detach().float().cpu().numpy()
    generated = np.asarray(normalizer.denormalize(out_n), dtype=feats.dtype)
    return InfillResult(generated, known, n)


__all__ = ["InfillResult", "fill_unknown", "infill", "model_length", "runs"]
