"""Disk + memory cache of caption embeddings, so that training does not re-encode captions every epoch.

Layout: ``cache_dir/<key>/shard-<id>.safetensors`` where ``<key>`` is a hash of the encoder's
``model_id`` (name + window). Each shard holds, for N captions, the valid token rows flattened
(``tokens`` (M,E)), their counts (``lengths`` (N,)), the pooled vectors (``pooled`` (N,E)) and, in
its metadata, the SHA-1 of each caption and a checksum (the :mod:`moscale_cli.text.rows` format, shared
with the prompt-embedding cache). Shards are written atomically under unique names, so a crash never
leaves a partial shard and several processes (DDP ranks) may share a folder; a shard that fails its
checks is ignored.

Prompts are read through the encoder without its prompt-embedding cache (one file per caption would be
wasteful for a training set).

Usage::

    text_fn = cached_text_fn(encoder, "work/text_cache")
    text_fn.precompute(all_captions)       # optional, encodes in batches and saves
    feats = text_fn(["a person walks", ...])  # TextFeatures padded to encoder.max_tokens
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from moscale_cli.text.features import TextFeatures
from moscale_cli.text.rows import FORMAT as _FORMAT
from moscale_cli.text.rows import caption_key, read_rows, write_rows

__all__ = ["CachedTextEncoder", "cached_text_fn", "caption_key", "encoder_key"]


def encoder_key(model_id: str) -> str:
    return hashlib.sha1(model_id.encode("utf-8")).hexdigest()[:16]


class CachedTextEncoder:
    """``callable(captions) -> TextFeatures`` backed by an in-memory dict and (optionally) disk shards.

    Entries are stored in ``dtype`` (float16 by default, halving memory and disk); outputs are float32
    on ``device`` (default: the encoder's device). ``flush_every`` new entries are written as one shard.
    """

    def __init__(
        self,
        encoder,
        cache_dir: str | os.PathLike | None = None,
        dtype: torch.dtype = torch.float16,
        flush_every: int = 4096,
        device: str | torch.device | None = None,
    ):
        self.encoder = encoder
        self.max_tokens = int(encoder.max_tokens)
        self.dim = int(encoder.dim)
        self.dtype = dtype
        self.flush_every = int(flush_every)
        self.device = torch.device(device) if device is not None else getattr(encoder, "device", torch.device("cpu"))
        self._mem: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # key -> (tokens (L,E), pooled (E,))
        self._pending: list[str] = []
        self.dir: Path | None = None
        if cache_dir is not None:
            self.dir = Path(cache_dir) / encoder_key(encoder.model_id)
            self.dir.mkdir(parents=True, exist_ok=True)
            info = self.dir / "encoder.json"
            if not info.exists():
                from moscale_cli.utils.atomic import write_json_atomic

                write_json_atomic(info, {"format": _FORMAT, "model_id": encoder.model_id, "dim": self.dim})
            self._load_shards()
        self.hits = 0
        self.misses = 0

    # ----------------------------------------------------------------- disk
    def _load_shards(self) -> None:
        assert self.dir is not None
        for shard in sorted(self.dir.glob("shard-*.safetensors")):
            got = read_rows(shard, self.dim)
            if got is None:  # a foreign or broken file: ignore it, the captions get re-encoded
                continue
            _, keys, rows = got
            for k, (tok, pooled) in zip(keys, rows, strict=True):
                self._mem.setdefault(k, (tok.to(self.dtype), pooled.to(self.dtype)))

    def flush(self) -> None:
        """Write the entries added since the last flush as one new shard (no-op without a cache dir)."""
        if self.dir is None or not self._pending:
            self._pending = []
            return
        keys = list(dict.fromkeys(self._pending))
        name = f"shard-{os.getpid()}-{uuid.uuid4().hex[:12]}.safetensors"
        write_rows(self.dir / name, keys, [self._mem[k] for k in keys], self.dim, self.dtype)
        self._pending = []

    def __len__(self) -> int:
        return len(self._mem)

    def __contains__(self, caption: str) -> bool:
        return caption_key(caption) in self._mem

    # ----------------------------------------------------------------- encoding
    def _encode_missing(self, captions: list[str], batch_size: int) -> None:
        todo = list(dict.fromkeys(c for c in captions if caption_key(c) not in self._mem))
        self.misses += len(todo)
        no_prompt_cache = {"cache": False} if getattr(self.encoder, "prompt_cache", None) is not None else {}
        for i in range(0, len(todo), batch_size):
            chunk = todo[i : i + batch_size]
            feats = self.encoder.encode(chunk, warn=False, **no_prompt_cache)
            tok = feats.tokens_BSE.detach().to("cpu", self.dtype)
            pooled = feats.pooled_BE.detach().to("cpu", self.dtype)
            n_valid = feats.mask_BS.sum(dim=1).tolist()
            for j, c in enumerate(chunk):
                k = caption_key(c)
                self._mem[k] = (tok[j, : int(n_valid[j])].clone(), pooled[j].clone())
                self._pending.append(k)
            if len(self._pending) >= self.flush_every:
                self.flush()

    def precompute(self, captions: Iterable[str], batch_size: int = 256, progress: Callable[[int], None] | None = None) -> int:
        """Encode every caption not cached yet (in batches) and save them; returns how many were new."""
        captions = list(captions)
        before = len(self._mem)
        todo = list(dict.fromkeys(c for c in captions if caption_key(c) not in self._mem))
        for i in range(0, len(todo), batch_size):
            self._encode_missing(todo[i : i + batch_size], batch_size)
            if progress is not None:
                progress(len(todo[i : i + batch_size]))
        self.flush()
        return len(self._mem) - before

    def __call__(self, captions: list[str] | str) -> TextFeatures:
        if isinstance(captions, str):
            captions = [captions]
        captions = list(captions)
        misses = self.misses
        self._encode_missing(captions, batch_size=256)
        self.hits += len(captions) - (self.misses - misses)
        B, S, E = len(captions), self.max_tokens, self.dim
        tokens = torch.zeros(B, S, E, dtype=torch.float32)
        mask = torch.zeros(B, S, dtype=torch.bool)
        pooled = torch.zeros(B, E, dtype=torch.float32)
        for i, c in enumerate(captions):
            t, p = self._mem[caption_key(c)]
            n = t.shape[0]
            tokens[i, :n] = t.float()
            mask[i, :n] = True
            pooled[i] = p.float()
        return TextFeatures(tokens.to(self.device), mask.to(self.device), pooled.to(self.device))


def cached_text_fn(encoder, cache_dir: str | os.PathLike | None = None, **kwargs) -> CachedTextEncoder:
    """A caching ``callable(captions) -> TextFeatures`` over ``encoder`` (memory always, disk if ``cache_dir``)."""
    return CachedTextEncoder(encoder, cache_dir, **kwargs)
