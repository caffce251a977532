"""Batched text features: token features, their validity mask and the pooled sentence vector."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class TextFeatures:
    """Batched text features. ``mask_BS`` is True on valid (non-padding) token positions."""

    tokens_BSE: torch.Tensor
    mask_BS: torch.Tensor
    pooled_BE: torch.Tensor
    truncated: list[bool] | None = None

    def __len__(self) -> int:
        return int(self.tokens_BSE.shape[0])

    def to(self, device: str | torch.device) -> TextFeatures:
        return TextFeatures(
            self.tokens_BSE.to(device), self.mask_BS.to(device), self.pooled_BE.to(device), self.truncated
        )

    def index(self, idx: torch.Tensor | list[int] | slice) -> TextFeatures:
        """Select rows (e.g. to repeat prompts for several samples)."""
        if isinstance(idx, list):
            idx = torch.as_tensor(idx, dtype=torch.long)
        trunc = None
        if self.truncated is not None:
            rows = range(len(self.truncated))[idx] if isinstance(idx, slice) else idx.tolist()
            trunc = [self.truncated[i] for i in (rows if isinstance(rows, range) else rows)]
        return TextFeatures(self.tokens_BSE[idx], self.mask_BS[idx], self.pooled_BE[idx], trunc)

    @staticmethod
    def cat(parts: list[TextFeatures]) -> TextFeatures:
        """Concatenate along the batch (all parts must share the token length)."""
        trunc = None
        if all(p.truncated is not None for p in parts):
            trunc = [t for p in parts for t in p.truncated]  # type: ignore[union-attr]
        return TextFeatures(
            torch.cat([p.tokens_BSE for p in parts]),
            torch.cat([p.mask_BS for p in parts]),
            torch.cat([p.pooled_BE for p in parts]),
            trunc,
        )


# captions -> their features padded to the encoder window (a cached encoder, or an encoder's ``encode``)
TextFn = Callable[[list[str]], TextFeatures]
