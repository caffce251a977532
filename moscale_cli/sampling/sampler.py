"""Next-scale sampling: the one refinement loop (method §4.2, §5) and the filtering/drawing it shares.

**The loop** (:func:`sample`). At each scale k (coarse to fine), for each t in ``linspace(0, 1, T_k)``:
re-mask the ``n = max(1, round(cos(pi t / 2) L_k))`` least confident positions, run the model on the finished
scales + the current ids, guide (CFG), sample new ids at the masked positions and score them with their
(guided, temperature-free) probability; every other position scores 1e5 and stays frozen. The final ids are
dequantised with the tokenizer's codebook, added to the accumulated latent ``fhat``, and the next scale's
context is the area-downsampled accumulation. The finest accumulation is decoded to normalised features.
Editing (method §6) runs the same loop with an :class:`EditSpec`: positions outside the edit mask keep the
source ids (score 1e5, never re-masked), so the final ids and the latent update use the source there.

**Runners.** The loop owns the schedule, the ids and scores, guidance, the random streams and the latent; a
runner (:class:`ScaleRunner`) owns the transformer passes: ``begin`` (the text rows), ``logits(k, ids, context)``
(raw logits of scale k) and ``commit(k, final ids, context)``. Two implement it:
:class:`~moscale_cli.sampling.decoder.ScaleDecoder` (eager, growing KV cache; the default) and
:class:`~moscale_cli.sampling.fast.StaticRunner` (static cache, mask-free attention, CUDA graphs or
torch.compile, bf16 weights). With guidance the runner sees 2B rows: the prompts, then the null text.

**Logit hook.** ``hook(RefinePass) -> logits | None`` is called at every refinement pass after guidance and
before filtering and drawing, with the scale, the pass, the guided logits (B, L_k, K), the pass's input ids,
the positions it re-draws, ``fhat`` of the finished scales, the lengths, the tokenizer and the rows' random
generators. Adjusted logits it returns replace the guided ones for both the confidence and the draw (locked
and padded positions are never re-drawn). The loop runs under ``torch.no_grad()``: a hook that optimises
through the tokenizer decoder opens ``torch.enable_grad()`` itself.

**Random streams.** Row (motion) i of a batch draws from its own generator (``sampling/draw.py``: filtering,
drawing and the streams), so a motion depends on the seed and its index, never on the batching.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, Union

import torch

from moscale_cli.errors import ConfigError, UsageError
from moscale_cli.models.generator import MASK_ID, PAD_ID, MoScaleTransformer
from moscale_cli.models.layers import length_mask
from moscale_cli.models.next_token import NextTokenTransformer
from moscale_cli.models.tokenizer import MSTokenizer
from moscale_cli.sampling.config import SamplingConfig
from moscale_cli.sampling.decoder import ScaleDecoder
from moscale_cli.sampling.draw import Dists, Seeds, distributions, draw, guide, row_generators

if TYPE_CHECKING:
    from moscale_cli.text.features import TextFeatures

LOCKED_SCORE = 1e5
Lengths = Union[torch.Tensor, Sequence[int], int]


@dataclass
class EditSpec:
    """Per-scale locked source ids and edit masks (True = re-predict), each (B, L_k).

    Positions whose source id is negative (source padding) but which are valid for the target length are
    re-predicted whatever the mask says (length extension)."""

    locked_ids: list[torch.Tensor]
    edit_mask: list[torch.Tensor]


@dataclass
class SampleResult:
    ids: list[torch.Tensor]  # per scale (B, L_k), -1 at padding
    feats: torch.Tensor  # (B, max_frames, D) normalised features, zero past each length
    lengths: torch.Tensor  # (B,) frames (multiples of the tokenizer unit)
    fhat: torch.Tensor  # (B, C, N) accumulated latent


@dataclass
class RefinePass:
    """What a logit hook sees at one refinement pass (see the module doc). Read-only except ``generators``
    (drawing from them shifts the rows' later draws)."""

    k: int  # scale, 0 = coarsest
    step: int  # pass within the scale, 0 .. refine_steps[k] - 1
    logits: torch.Tensor  # (B, L_k, K) guided logits, float32
    ids: torch.Tensor  # (B, L_k) the pass's input ids: MASK_ID where re-drawn, PAD_ID at padding, locked ids kept
    redraw: torch.Tensor  # (B, L_k) bool, the positions drawn this pass
    fhat: torch.Tensor | None  # (B, C, N) accumulated latent of scales < k (None at k = 0)
    lengths: torch.Tensor  # (B,) frames
    tokenizer: MSTokenizer
    generators: list[torch.Generator]  # row b's random stream


LogitHook = Callable[[RefinePass], Union[torch.Tensor, None]]


class ScaleRunner(Protocol):
    """The transformer passes of the loop for one batch of R text rows (see the module doc)."""

    fused_distributions: Callable[[int, torch.Tensor, torch.Tensor | None, int, float, SamplingConfig], Dists] | None
    """None, or ``(k, ids, context, B, t, cfg) -> distributions(guide(logits, B, t), cfg)`` in one step (the loop
    uses it when no hook is set; a CUDA graph can then run guidance and filtering too)."""

    def begin(self, tokens_RSD: torch.Tensor, mask_RS: torch.Tensor, drop_R: torch.Tensor | None) -> None: ...

    def logits(self, k: int, ids_RL: torch.Tensor, context_RCL: torch.Tensor | None) -> torch.Tensor: ...

    def commit(self, k: int, ids_RL: torch.Tensor, context_RCL: torch.Tensor | None) -> None: ...

    def autocast(self) -> torch.autocast: ...


def mask_counts(steps: int, length: int) -> list[int]:
    """Positions re-masked at each pass: max(1, round(cos(pi t / 2) * L)) for t in linspace(0, 1, steps)."""
    ts = [0.0] if steps == 1 else [j / (steps - 1) for j in range(steps)]
    return [max(1, round(math.cos(math.pi * t / 2) * length)) for t in ts]


def check_lengths(lengths_frames: Lengths, tokenizer: MSTokenizer, batch: int, device: torch.device) -> torch.Tensor:
    lengths = torch.as_tensor(lengths_frames, device=device).long().view(-1)
    if lengths.numel() == 1 and batch > 1:
        lengths = lengths.expand(batch).clone()
    if lengths.numel() != batch:
        raise UsageError(f"{lengths.numel()} lengths given for {batch} prompts")
    lo, hi = tokenizer.unit, tokenizer.max_frames
    if (lengths < lo).any() or (lengths > hi).any():
        raise UsageError(f"motion lengths must lie in [{lo}, {hi}] frames, got {lengths.tolist()}")
    return (lengths // tokenizer.unit) * tokenizer.unit


def text_rows(
    model: MoScaleTransformer | NextTokenTransformer, text_features: TextFeatures | None, lengths_frames: Lengths,
    cfg: SamplingConfig, null_tokens: int, batch_size: int | None, device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, int]:
    """The text rows a sampler runs: ``(tokens, mask, drop, B)`` for a batch of B prompts.

    ``text_features`` None: the model's null text (``null_tokens`` rows; B from ``batch_size`` or the lengths),
    ``drop`` None. With guidance (``cfg.guidance_scale > 0``) the prompts are doubled and ``drop`` marks the second half
    (dropped to the null text); ``drop`` is None exactly when there is no guidance."""
    if text_features is None:
        B = batch_size or int(torch.as_tensor(lengths_frames).numel())
        tokens, mask = model.null_text(B, min(null_tokens, model.cfg.text_len), device)
        return tokens, mask, None, B
    tokens, mask = text_features.tokens_BSE.to(device), text_features.mask_BS.to(device).bool()
    B = tokens.shape[0]
    drop = None
    if cfg.guidance_scale > 0:
        tokens, mask = torch.cat([tokens, tokens]), torch.cat([mask, mask])
        drop = torch.arange(2 * B, device=device) >= B
    return tokens, mask, drop, B


def _first_ids(k: int, L: int, valid: list[torch.Tensor], edit: EditSpec | None, B: int,
               device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale k before its first pass: ids ([MASK], [PAD], locked source ids) and scores (1e5 = never re-masked)."""
    pad = ~length_mask(valid[k].to(device), L)
    ids = torch.full((B, L), MASK_ID, dtype=torch.long, device=device).masked_fill(pad, PAD_ID)
    scores = torch.zeros(B, L, device=device).masked_fill(pad, LOCKED_SCORE)
    if edit is not None:
        src = edit.locked_ids[k].to(device).long()
        locked = ~edit.edit_mask[k].to(device).bool() & (src >= 0) & ~pad
        ids = torch.where(locked, src, ids)
        scores = scores.masked_fill(locked, LOCKED_SCORE)
    return ids, scores


@torch.no_grad()
def sample(
    generator: MoScaleTransformer | NextTokenTransformer,
    tokenizer: MSTokenizer,
    text_features: TextFeatures | None,
    lengths_frames: Lengths,
    cfg: SamplingConfig | None = None,
    generator_seed: Seeds = 0,
    edit: EditSpec | None = None,
    null_tokens: int = 16,
    batch_size: int | None = None,
    hook: LogitHook | None = None,
    runner: ScaleRunner | None = None,
) -> SampleResult:
    """Generate token maps and normalised features for a batch of prompts (a next-token baseline generator,
    ``cfg.arch == "next-token"``, is sampled token by token by :func:`~moscale_cli.sampling.next_token.sample_next_token`).

    ``text_features``: ``TextFeatures`` (``tokens_BSE``, ``mask_BS``), or ``None`` for unconditional generation
    (the learned null text with ``null_tokens`` rows, no guidance; ``batch_size`` then gives the batch unless
    ``lengths_frames`` does). ``lengths_frames``: one length per prompt (or one for all). ``generator_seed``: an
    int (row i draws from :func:`row_seed` (seed, i)), one generator per row, or a generator for one row.
    ``hook``: see the module doc. ``runner``: a :class:`ScaleRunner` for ``generator`` (default: a new
    :class:`~moscale_cli.sampling.decoder.ScaleDecoder` with ``cfg``'s KV cache and autocast settings).
    Returns :class:`SampleResult`; deterministic for given seeds."""
    cfg = cfg or SamplingConfig()
    model = generator
    if isinstance(model, NextTokenTransformer):  # the baseline: token by token
        if edit is not None or hook is not None or runner is not None:
            raise UsageError("editing, logit hooks and runners need a next-scale MoScale model; this is a next-token baseline")
        from moscale_cli.sampling.next_token import sample_next_token

        return sample_next_token(model, tokenizer, text_features, lengths_frames, cfg, generator_seed, null_tokens,
                                 batch_size)
    if model.training:
        raise ValueError("put the generator in eval mode before sampling")
    device = next(model.parameters()).device
    n_scales = len(model.scale_lengths)
    if len(cfg.refine_steps) != n_scales:
        raise ConfigError(f"refine steps {cfg.refine_steps} must give one count for each of the {n_scales} scales")

    tokens, mask, drop, B = text_rows(model, text_features, lengths_frames, cfg, null_tokens, batch_size, device)
    rep = 1 if drop is None else 2
    lengths = check_lengths(lengths_frames, tokenizer, B, device)
    gens = row_generators(generator_seed, B, device)
    runner = runner or ScaleDecoder(model, use_cache=cfg.use_kv_cache, autocast=cfg.autocast)
    runner.begin(tokens, mask, drop)
    fused = runner.fused_distributions if hook is None else None

    valid = tokenizer.valid_lengths(lengths)
    fhat: torch.Tensor | None = None
    context = None
    out_ids: list[torch.Tensor] = []
    for k, L in enumerate(model.scale_lengths):
        ids, scores = _first_ids(k, L, valid, edit, B, device)
        ctx_R = None if context is None else context.repeat(rep, 1, 1)
        t = cfg.guidance(k)
        for step, n in enumerate(mask_counts(cfg.refine_steps[k], L)):
            ranks = scores.argsort(dim=1, stable=True).argsort(dim=1)
            remask = (ranks < n) & (scores < LOCKED_SCORE)
            in_ids = ids.masked_fill(remask, MASK_ID)
            if fused is not None:
                dists = fused(k, in_ids.repeat(rep, 1), ctx_R, B, t, cfg)
            else:
                logits = guide(runner.logits(k, in_ids.repeat(rep, 1), ctx_R).float(), B, t)
                if hook is not None:
                    logits = _hooked(hook, RefinePass(k, step, logits, in_ids, remask, fhat, lengths, tokenizer, gens))
                dists = distributions(logits, cfg)
            new, prob = draw(*dists, gens)
            ids = torch.where(remask, new, ids)
            scores = torch.where(remask, prob, torch.full_like(prob, LOCKED_SCORE))
        out_ids.append(ids)
        if k + 1 < n_scales:
            runner.commit(k, ids.repeat(rep, 1), ctx_R)
        contrib = tokenizer.ids_to_contribution(ids, k, lengths).float()
        fhat = contrib if fhat is None else fhat + contrib
        if k + 1 < n_scales:
            context = tokenizer.coarse_context(fhat, k + 1)
    with runner.autocast():
        feats = tokenizer.decode_latent(fhat, lengths)
    return SampleResult(ids=out_ids, feats=feats.float(), lengths=lengths, fhat=fhat)


def _hooked(hook: LogitHook, p: RefinePass) -> torch.Tensor:
    out = hook(p)
    if out is None:
        return p.logits
    if out.shape != p.logits.shape:
        raise ValueError(f"the logit hook returned shape {tuple(out.shape)}, expected {tuple(p.logits.shape)}")
    return out.float()


def generation_passes(cfg: SamplingConfig) -> int:
    """Transformer passes per sample (the paper's S; 18 for the defaults)."""
    return cfg.passes


__all__ = ["EditSpec", "LogitHook", "RefinePass", "SampleResult", "SamplingConfig", "ScaleRunner", "check_lengths",
           "generation_passes", "mask_counts", "sample", "text_rows"]
