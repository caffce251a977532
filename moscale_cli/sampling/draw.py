"""How a pass's logits become ids: guidance, filtering, drawing, and the rows' random streams.

Shared by the refinement loop (:func:`~moscale_cli.sampling.sampler.sample`), the static runner's CUDA graphs
(``sampling/fast.py``) and the next-token sampler. Row (motion) i of a batch draws from its own
``torch.Generator``; an int seed s gives it :func:`row_seed` (s, i) (s itself for i = 0), so a motion depends on
the seed and its index, never on how the work was batched.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Union

import torch

from moscale_cli.sampling.config import SamplingConfig

Seeds = Union[int, torch.Generator, Sequence[torch.Generator]]
Dists = tuple[torch.Tensor, Union[torch.Tensor, None]]  # (confidence probabilities, draw probabilities or None)


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


def distributions(logits_BLK: torch.Tensor, cfg: SamplingConfig) -> Dists:
    """(confidence probabilities, draw probabilities or None for greedy) of guided logits.

    The confidence is the temperature-free probability (the reference's score); the draw distribution is
    tempered and filtered (top-k, top-p, min-p)."""
    probs = logits_BLK.softmax(-1)
    if cfg.temperature <= 0 or cfg.top_k == 1:
        return probs, None
    return probs, filter_logits(logits_BLK / cfg.temperature, cfg.top_k, cfg.top_p, cfg.min_p).softmax(-1)


def draw(probs: torch.Tensor, draw_probs: torch.Tensor | None, gens: Sequence[torch.Generator]) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids (argmax without a draw distribution, else multinomial draws, row b from ``gens[b]``) and their
    confidence."""
    if draw_probs is None:
        ids = probs.argmax(-1)
    else:
        ids = torch.stack([torch.multinomial(p.reshape(-1, p.shape[-1]), 1, generator=g).view(p.shape[:-1])
                           for p, g in zip(draw_probs, gens, strict=True)])
    return ids, probs.gather(-1, ids.unsqueeze(-1)).squeeze(-1)


def sample_ids(logits_BLK: torch.Tensor, cfg: SamplingConfig, gens: Sequence[torch.Generator]) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ids (B, L) and return them with their temperature-free probability (the confidence score)."""
    return draw(*distributions(logits_BLK, cfg), gens)


_M64 = (1 << 64) - 1


def _mix64(x: int) -> int:
    """The splitmix64 finaliser: a bijection of 64-bit integers that spreads every input bit."""
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def row_seed(seed: int, index: int) -> int:
    """The seed of motion ``index`` of a request made with ``seed``: ``seed`` itself for index 0 (a single motion
    keeps its stream), else a 64-bit mix of both, injective in the index for one seed."""
    if index == 0:
        return int(seed)
    return _mix64((_mix64(int(seed) & _M64) + index * 0x9E3779B97F4A7C15) & _M64)


def row_generators(seed: Seeds, batch: int, device: torch.device, start: int = 0) -> list[torch.Generator]:
    """One generator per row: rows ``start .. start + batch - 1`` of an int seed (:func:`row_seed`), the given
    generator for a single row, or the given list (one per row)."""
    if isinstance(seed, torch.Generator):
        if batch != 1:
            raise ValueError(f"one generator given for {batch} rows: pass an int seed or one generator per row")
        return [seed]
    if isinstance(seed, Sequence):
        if len(seed) != batch:
            raise ValueError(f"{len(seed)} generators given for {batch} rows")
        return list(seed)
    return [torch.Generator(device=device).manual_seed(row_seed(int(seed), start + i)) for i in range(batch)]


__all__ = ["Dists", "Seeds", "distributions", "draw", "filter_logits", "guide", "row_generators", "row_seed",
           "sample_ids"]
