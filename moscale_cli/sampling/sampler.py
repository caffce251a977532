"""Next-scale sampling with in-scale refinement, CFG, top-k/top-p and a KV cache (method §4.2, §5).

At each scale k (coarse to fine), for each t in ``linspace(0, 1, T_k)``:
re-mask the ``n = max(1, round(cos(pi t / 2) L_k))`` least confident positions, run the model on the finished
scales + the current ids, sample new ids at the masked positions and score them with their (guided,
temperature-free) probability; every other position scores 1e5 and stays frozen. The final ids are
dequantised with the tokenizer's codebook, added to the accumulated latent, and the next scale's context is
the area-downsampled accumulation. The finest accumulation is decoded to normalised features.

Editing (method §6) runs the same loop with an :class:`EditSpec`: positions outside the edit mask keep the
source ids (score 1e5, never re-masked), so the final ids and the latent update use the source there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from moscale_cli.errors import ConfigError, UsageError
from moscale_cli.models.generator import MASK_ID, PAD_ID, MoScaleTransformer, ScaleDecoder
from moscale_cli.models.layers import length_mask
from moscale_cli.sampling.config import SamplingConfig
from moscale_cli.utils.device import autocast_context

LOCKED_SCORE = 1e5


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


def mask_counts(steps: int, length: int) -> list[int]:
    """Positions re-masked at each pass: max(1, round(cos(pi t / 2) * L)) for t in linspace(0, 1, steps)."""
    ts = [0.0] if steps == 1 else [j / (steps - 1) for j in range(steps)]
    return [max(1, round(math.cos(math.pi * t / 2) * length)) for t in ts]


def guide(logits: torch.Tensor, batch: int, t: float) -> torch.Tensor:
    """CFG: ``(1 + t) cond - t uncond`` for a doubled batch [cond; uncond]; ``t == 0`` returns cond exactly."""
    cond = logits[:batch]
    if logits.shape[0] == batch or t == 0.0:
        return cond
    return (1 + t) * cond - t * logits[batch:]


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0, min_p: float = 0.0) -> torch.Tensor:
    """Set logits outside the top-k / the nucleus / the min-p set to -inf (the most likely code always stays).

    Nucleus, as the reference cuts it: a code is dropped when the cumulative probability up to and including
    it (codes sorted by probability) exceeds ``top_p``; so the code that crosses the threshold is dropped too,
    except the most likely code, which is always kept."""
    if top_k > 0 and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_l, order = logits.sort(dim=-1, descending=True)
        p = sorted_l.softmax(-1)
        drop_sorted = p.cumsum(-1) > top_p
        drop_sorted[..., 0] = False
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    if min_p > 0.0:
        lp = logits.log_softmax(-1)
        logits = logits.masked_fill(lp < lp.max(-1, keepdim=True).values + math.log(min_p), float("-inf"))
    return logits


def distributions(logits_BLK: torch.Tensor, cfg: SamplingConfig) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(confidence probabilities, draw probabilities or None for greedy) of guided logits.

    The confidence is the temperature-free probability (the reference's score); the draw distribution is
    tempered and filtered (top-k, top-p, min-p)."""
    probs = logits_BLK.softmax(-1)
    if cfg.temperature <= 0 or cfg.top_k == 1:
        return probs, None
    return probs, filter_logits(logits_BLK / cfg.temperature, cfg.top_k, cfg.top_p, cfg.min_p).softmax(-1)


def draw(probs: torch.Tensor, draw_probs: torch.Tensor | None, gen: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids (argmax without a draw distribution, else one multinomial draw per row) and their confidence."""
    if draw_probs is None:
        ids = probs.argmax(-1)
    else:
        flat = draw_probs.reshape(-1, draw_probs.shape[-1])
        ids = torch.multinomial(flat, 1, generator=gen).view(draw_probs.shape[:-1])
    return ids, probs.gather(-1, ids.unsqueeze(-1)).squeeze(-1)


def sample_ids(
    logits_BLK: torch.Tensor, cfg: SamplingConfig, gen: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ids (B, L) and return them with their temperature-free probability (the confidence score)."""
    return draw(*distributions(logits_BLK, cfg), gen)


def check_lengths(lengths_frames: Any, tokenizer: Any, batch: int, device: torch.device) -> torch.Tensor:
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
    model: Any, text_features: Any, lengths_frames: Any, cfg: SamplingConfig, null_tokens: int,
    batch_size: int | None, device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, int]:
    """The text rows a sampler runs: ``(tokens, mask, drop, B)`` for a batch of B prompts.

    ``text_features`` None: the model's null text (``null_tokens`` rows; B from ``batch_size`` or the lengths),
    ``drop`` None. With guidance (``cfg.guidance_scale > 0``) the prompts are doubled and ``drop`` marks the second half
    (dropped to the null text); ``drop`` is None exactly when there is no guidance."""
    if text_features is None:
        B = batch_size or int(torch.as_tensor(lengths_frames).numel())
        tokens, mask = model.null_text(B, min(null_tokens, model.cfg.text_len), device)
        return tokens, mask, None, B
    tokens, mask = text_features.tokens_BSE.to(device), text_features.mask_BS.to(device)
    B = tokens.shape[0]
    drop = None
    if cfg.guidance_scale > 0:
        tokens, mask = torch.cat([tokens, tokens]), torch.cat([mask, mask])
        drop = torch.arange(2 * B, device=device) >= B
    return tokens, mask, drop, B


def torch_generator(seed: int | torch.Generator, device: torch.device) -> torch.Generator:
    """``seed`` itself when it is a generator, else a new generator on ``device`` seeded with it."""
    if isinstance(seed, torch.Generator):
        return seed
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    return gen


@torch.no_grad()
def sample(
    generator: MoScaleTransformer,
    tokenizer: Any,
    text_features: Any,
    lengths_frames: Any,
    cfg: SamplingConfig | None = None,
    generator_seed: int | torch.Generator = 0,
    edit: EditSpec | None = None,
    null_tokens: int = 16,
    batch_size: int | None = None,
) -> SampleResult:
    """Generate token maps and normalised features for a batch of prompts (a next-token baseline generator,
    ``cfg.arch == "next-token"``, is sampled token by token by :func:`~moscale_cli.sampling.next_token.sample_next_token`).

    ``text_features``: an object with ``tokens_BSE`` and ``mask_BS`` (``TextFeatures``), or ``None`` for
    unconditional generation (the learned null text with ``null_tokens`` rows, no guidance; ``batch_size``
    then gives the batch unless ``lengths_frames`` does). ``lengths_frames``: one length per prompt (or one
    for all). Returns :class:`SampleResult`. Deterministic for a given seed (an int or a torch.Generator).
    """
    cfg = cfg or SamplingConfig()
    model = generator
    if getattr(model.cfg, "arch", "next-scale") == "next-token":  # the baseline: token by token
        if edit is not None:
            raise UsageError("editing (locked tokens) needs a next-scale MoScale model; this is a next-token baseline")
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
    guided = drop is not None
    lengths = check_lengths(lengths_frames, tokenizer, B, device)
    gen = torch_generator(generator_seed, device)

    valid = tokenizer.valid_lengths(lengths)
    rep = 2 if guided else 1
    ac = autocast_context(device, enabled=cfg.autocast)
    with ac:
        text = model.prepare_text(tokens, mask, drop)
        dec = ScaleDecoder(model, text, use_cache=cfg.use_kv_cache)
    fhat = None
    context = None
    out_ids: list[torch.Tensor] = []
    for k, L in enumerate(model.scale_lengths):
        pad = ~length_mask(valid[k].to(device), L)
        ids = torch.full((B, L), MASK_ID, dtype=torch.long, device=device).masked_fill(pad, PAD_ID)
        scores = torch.zeros(B, L, device=device).masked_fill(pad, LOCKED_SCORE)
        if edit is not None:
            src = edit.locked_ids[k].to(device).long()
            locked = ~edit.edit_mask[k].to(device).bool() & (src >= 0) & ~pad
            ids = torch.where(locked, src, ids)
            scores = scores.masked_fill(locked, LOCKED_SCORE)
        ctx_in = None if context is None else context.repeat(rep, 1, 1)
        t = cfg.guidance(k)
        for n in mask_counts(cfg.refine_steps[k], L):
            ranks = scores.argsort(dim=1, stable=True).argsort(dim=1)
            remask = (ranks < n) & (scores < LOCKED_SCORE)
            in_ids = ids.masked_fill(remask, MASK_ID)
            with ac:
                logits = dec.logits(k, in_ids.repeat(rep, 1), ctx_in)
            new, prob = sample_ids(guide(logits.float(), B, t), cfg, gen)
            ids = torch.where(remask, new, ids)
            scores = torch.where(remask, prob, torch.full_like(prob, LOCKED_SCORE))
        with ac:
            dec.commit(k, ids.repeat(rep, 1), ctx_in)
        out_ids.append(ids)
        contrib = tokenizer.ids_to_contribution(ids, k, lengths).float()
        fhat = contrib if fhat is None else fhat + contrib
        if k + 1 < n_scales:
            context = tokenizer.coarse_context(fhat, k + 1)
    with ac:
        feats = tokenizer.decode_latent(fhat, lengths)
    return SampleResult(ids=out_ids, feats=feats.float(), lengths=lengths, fhat=fhat)


def generation_passes(cfg: SamplingConfig) -> int:
    """Transformer passes per sample (the paper's S; 18 for the defaults)."""
    return cfg.passes


__all__ = [
    "EditSpec",
    "distributions",
    "draw",
    "SampleResult",
    "SamplingConfig",
    "filter_logits",
    "generation_passes",
    "guide",
    "mask_counts",
    "sample",
    "sample_ids",
    "text_rows",
    "torch_generator",
]

