"""Edit-region masks per scale (method §6).

A region is a frame range ``[start, end)`` of the *target* motion. It is marked on the finest token grid
(token n covers frames ``[n * unit, (n + 1) * unit)``; a token is in the region when it overlaps it), then for
each scale the valid part of the grid mask is area-downsampled to that scale's valid length and thresholded
at > 0.5 (the reference rule). The finest scale (factor 1) reproduces the grid mask exactly; at coarse scales
a region covering less than half of a coarse token's span is dropped there (as in the reference) - the finer
scales still re-predict it.

:func:`cover_masks` is the editing rule (every scale re-predicts every token whose span touches a region), used
by the editing tasks so that no scale keeps a source token inside a regenerated region.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Union

import torch
import torch.nn.functional as F

from moscale_cli.errors import UsageError
from moscale_cli.models.tokenizer import MSTokenizer

Region = tuple[float, float]
Regions = Sequence[Sequence[float]]  # frame ranges (start, end) of one motion
Lengths = Union[torch.Tensor, Sequence[int]]


def _per_sample(regions: Sequence[Regions] | Regions, batch: int) -> list[list[Region]]:
    if regions and isinstance(regions[0], (tuple, list)) and regions[0] and not isinstance(regions[0][0], (tuple, list)):
        regions = [regions] * batch  # one list of (start, end) for every sample
    if len(regions) != batch:
        raise UsageError(f"{len(regions)} region lists given for {batch} samples")
    return [[(float(s), float(e)) for s, e in r] for r in regions]


def grid_mask(lengths_frames: Lengths, regions_frames: Sequence[Regions] | Regions, unit: int, n_grid: int) -> torch.Tensor:
    """(B, n_grid) bool: finest-grid tokens overlapping a region, within each sample's valid tokens."""
    lengths = torch.as_tensor(lengths_frames).long().view(-1)
    B = lengths.numel()
    out = torch.zeros(B, n_grid, dtype=torch.bool)
    for b, regs in enumerate(_per_sample(list(regions_frames), B)):
        valid = int(lengths[b]) // unit
        for s, e in regs:
            if e <= s or s < 0:
                raise UsageError(f"bad edit region [{s:g}, {e:g}) frames (need 0 <= start < end)")
            lo, hi = int(s // unit), min(valid, math.ceil(e / unit))
            if lo < hi:
                out[b, lo:hi] = True
    return out


def region_masks(lengths_frames: Lengths, regions_frames: Sequence[Regions] | Regions, tokenizer: MSTokenizer) -> list[torch.Tensor]:
    """Per-scale edit masks (B, L_k) bool (True = re-predict) for frame regions of the target lengths.

    ``regions_frames``: per sample a list of ``(start, end)`` frame ranges (end exclusive), or one such list
    for all samples."""
    lengths = torch.as_tensor(lengths_frames).long().view(-1)
    g = grid_mask(lengths, regions_frames, tokenizer.unit, tokenizer.n_grid)
    valid = tokenizer.valid_lengths(lengths)
    masks = []
    for k, L in enumerate(tokenizer.scale_lengths):
        m = torch.zeros(lengths.numel(), L, dtype=torch.bool)
        for b in range(lengths.numel()):
            n_fine = max(1, int(lengths[b]) // tokenizer.unit)
            v = int(valid[k][b])
            if v == 0:  # a motion shorter than this scale's token span has no token here
                continue
            src = g[b, :n_fine].float().view(1, 1, -1)
            m[b, :v] = F.interpolate(src, size=v, mode="area").view(-1) > 0.5
        masks.append(m)
    return masks


def cover_masks(length_frames: int, regions: Regions, tokenizer: MSTokenizer) -> list[torch.Tensor]:
    """Per-scale edit masks (1, L_k) bool that *cover* frame regions of a motion of ``length_frames``.

    Scale k's token j contributes (linear upsampling of L_k tokens to the N-step grid) to grid steps
    ``[j N / L_k, (j + 1) N / L_k)``; it is re-predicted when that span overlaps a region's grid steps
    (frames ``[s, e)`` -> steps ``[s // unit, ceil(e / unit))``). So every scale re-predicts the whole region
    and at most one token span beyond each of its ends. Only valid tokens are marked; a region reaching past
    the last valid token's span marks that token. (``masks.region_masks`` is the reference's area/threshold
    rule used by the evaluation protocol.)"""
    unit, N = tokenizer.unit, tokenizer.n_grid
    valid = tokenizer.valid_lengths(torch.tensor([int(length_frames)]))
    out = []
    for k, L in enumerate(tokenizer.scale_lengths):
        v = int(valid[k][0])
        m = torch.zeros(1, L, dtype=torch.bool)
        for s, e in regions:
            lo, hi = s // unit, math.ceil(e / unit)
            for j in range(v):
                a, b = j * N / L, (j + 1) * N / L
                if a < hi and b > lo:
                    m[0, j] = True
            if v > 0 and hi > v * N / L:  # the valid tokens end before the region does
                m[0, v - 1] = True
        out.append(m)
    return out
