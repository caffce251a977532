"""Deterministic, resumable, DDP-sharded batch order.

The order of epoch ``e`` is a pure function of ``(seed, e)``; the global batch ``b`` of an epoch is the
same whatever the number of processes, and process ``r`` of ``W`` takes the ``r``-th slice of it, so a
W-process run sees exactly the samples of a one-process run.
"""

from __future__ import annotations

import torch

from moscale_cli.errors import UsageError


class ShardedBatchOrder:
    def __init__(self, n_items: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1, shuffle: bool = True):
        if batch_size % world_size:
            raise UsageError(f"batch size {batch_size} is not divisible by the number of processes {world_size}")
        if n_items < batch_size:
            raise UsageError(f"batch size {batch_size} is larger than the training set ({n_items} items)")
        self.n_items = n_items
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.shuffle = shuffle

    def __len__(self) -> int:
        """Batches per epoch (incomplete last batch dropped)."""
        return self.n_items // self.batch_size

    def epoch_order(self, epoch: int) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.n_items)
        g = torch.Generator().manual_seed(int(self.seed) * 1_000_003 + int(epoch))
        return torch.randperm(self.n_items, generator=g)

    def batches(self, epoch: int, start: int = 0) -> list[list[int]]:
        """This process's index lists for batches ``start..`` of ``epoch``."""
        order = self.epoch_order(epoch)
        per = self.batch_size // self.world_size
        out = []
        for b in range(start, len(self)):
            g = order[b * self.batch_size : (b + 1) * self.batch_size]
            out.append(g[self.rank * per : (self.rank + 1) * per].tolist())
        return out
