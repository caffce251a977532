"""The training caption cache: caption embeddings in memory and, per caption set, on disk, so that training
encodes each caption once per encoder and dataset (not once per epoch, nor once per run folder).

Layout::

    <cache_dir>/<encoder key>/encoder.json                   who the key is (name, window, weights fingerprint)
    <cache_dir>/<encoder key>/captions-<set hash>.safetensors  every caption of one dataset (one caption set)

``<encoder key>`` hashes the encoder's weight fingerprint (:mod:`moscale_cli.text.fingerprint`: its weights and
configuration, not its name, so a replaced encoder never serves old embeddings) and its token window;
``<set hash>`` hashes the sorted unique captions of the set, so every run on the same data shares the file. The
default ``cache_dir`` is ``<moscale cache>/captions`` (:func:`default_caption_cache_dir`, ``MOSCALE_CACHE``).
A set file holds the :mod:`moscale_cli.text.rows` format (float16 rows, checksummed); it is written atomically
(temporary name + rename), so concurrent writers at worst both write the same file, and a file that is
unreadable, fails its checksum or does not hold exactly its set is encoded again and rewritten. Captions outside
any precomputed set are encoded on first use and kept in memory. An encoder that is not a local folder (a hub
name) has no fingerprint: its captions are cached in memory only.

Usage::

    text_fn = cached_text_fn(encoder, default_caption_cache_dir())
    text_fn.precompute(all_captions)       # loads the set file, or encodes the captions (progress bar) and saves it
    feats = text_fn(["a person walks", ...])  # TextFeatures padded to encoder.max_tokens
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from moscale_cli.text.encoder import TextEncoder
from moscale_cli.text.features import TextFeatures
from moscale_cli.text.prompt_cache import default_cache_root
from moscale_cli.text.rows import FORMAT, Row, caption_key, pad_rows, read_rows, split_rows, write_rows

__all__ = ["CachedTextEncoder", "cached_text_fn", "caption_key", "caption_set_key", "default_caption_cache_dir",
           "encoder_key"]

CAPTIONS_SUBDIR = "captions"


def default_caption_cache_dir() -> Path | None:
    """``<moscale cache>/captions``, shared by every training run; None when ``MOSCALE_CACHE`` is off."""
    root = default_cache_root()
    return None if root is None else root / CAPTIONS_SUBDIR


def encoder_key(fingerprint: str, max_tokens: int) -> str:
    """The folder name of an encoder's captions: its weight fingerprint and its token window."""
    return hashlib.sha256(f"{fingerprint}\n{int(max_tokens)}".encode()).hexdigest()[:20]


def caption_set_key(captions: Iterable[str]) -> str:
    """A content hash of a set of captions (order and repeats do not matter)."""
    h = hashlib.sha256(b"moscale-caption-set-v1")
    for k in sorted({caption_key(c) for c in captions}):
        h.update(k.encode())
    return h.hexdigest()[:24]


class CachedTextEncoder:
    """``callable(captions) -> TextFeatures`` backed by an in-memory dict and (optionally) caption-set files.

    Entries are stored in ``dtype`` (float16 by default, halving memory and disk); outputs are float32 on
    ``device`` (default: the encoder's device)."""

    def __init__(
        self,
        encoder: TextEncoder,
        cache_dir: str | os.PathLike | None = None,
        dtype: torch.dtype = torch.float16,
        device: str | torch.device | None = None,
    ) -> None:
        self.encoder = encoder
        self.max_tokens = int(encoder.max_tokens)
        self.dim = int(encoder.dim)
        self.dtype = dtype
        self.device = torch.device(device) if device is not None else encoder.device
        self._mem: dict[str, Row] = {}  # caption key -> (tokens (L,E), pooled (E,))
        self.dir: Path | None = None
        self.fingerprint = encoder.fingerprint if cache_dir is not None else None
        if cache_dir is not None and self.fingerprint is not None:
            self.dir = Path(cache_dir) / encoder_key(self.fingerprint, self.max_tokens)
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._mem)

    def __contains__(self, caption: str) -> bool:
        return caption_key(caption) in self._mem

    # ----------------------------------------------------------------- disk
    def set_path(self, captions: Iterable[str]) -> Path | None:
        """The file of a caption set (None without a disk cache)."""
        return None if self.dir is None else self.dir / f"captions-{caption_set_key(captions)}.safetensors"

    def _load_set(self, path: Path, keys: list[str]) -> bool:
        """Read a set file into memory if it holds exactly ``keys`` (a broken or foreign file is ignored)."""
        got = read_rows(path, self.dim)
        if got is None:
            return False
        meta, file_keys, rows = got
        if meta.get("fingerprint") != self.fingerprint or meta.get("max_tokens") != str(self.max_tokens):
            return False
        if sorted(file_keys) != sorted(keys):
            return False
        for k, (tok, pooled) in zip(file_keys, rows, strict=True):
            self._mem.setdefault(k, (tok.to(self.dtype), pooled.to(self.dtype)))
        return True

    def _save_set(self, path: Path, keys: list[str]) -> bool:
        """Write a set file atomically; False (nothing written) when the cache folder is not writable."""
        from moscale_cli.errors import MoScaleError
        from moscale_cli.utils.atomic import write_json_atomic

        meta = {"fingerprint": str(self.fingerprint), "max_tokens": str(self.max_tokens), "encoder": self.encoder.name}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            info = path.parent / "encoder.json"
            if not info.exists():
                write_json_atomic(info, {"format": FORMAT, **meta, "dim": self.dim})
            write_rows(path, keys, [self._mem[k] for k in keys], self.dim, self.dtype, meta)
        except (OSError, MoScaleError):
            return False
        return True

    # ----------------------------------------------------------------- encoding
    def _encode(self, captions: list[str], batch_size: int, on_batch: Callable[[int], None] | None = None) -> None:
        """Encode captions not in memory yet (in batches of ``batch_size``), bypassing the prompt cache."""
        todo = list(dict.fromkeys(c for c in captions if caption_key(c) not in self._mem))
        self.misses += len(todo)
        for i in range(0, len(todo), batch_size):
            chunk = todo[i : i + batch_size]
            feats = self.encoder.encode(chunk, warn=False, cache=False)
            for c, row in zip(chunk, split_rows(feats, self.dtype), strict=True):
                self._mem[caption_key(c)] = row
            if on_batch is not None:
                on_batch(len(chunk))

    def precompute(self, captions: Iterable[str], batch_size: int = 256, label: str = "encoding captions") -> int:
        """Make every caption of the set available: read its set file, or encode what is missing (with a
        progress bar) and write the file. Returns how many captions were encoded."""
        uniq = list(dict.fromkeys(captions))
        keys = [caption_key(c) for c in uniq]
        path = self.set_path(uniq)
        if path is not None and path.is_file() and self._load_set(path, keys):
            return 0
        todo = [c for c in uniq if caption_key(c) not in self._mem]
        if todo:
            from moscale_cli.utils.console import progress

            with progress(transient=True) as bar:
                task = bar.add_task(label, total=len(todo))
                self._encode(todo, batch_size, lambda n: bar.advance(task, n))
        if path is not None:
            self._save_set(path, keys)
        return len(todo)

    def __call__(self, captions: list[str] | str) -> TextFeatures:
        if isinstance(captions, str):
            captions = [captions]
        captions = list(captions)
        misses = self.misses
        self._encode(captions, batch_size=256)
        self.hits += len(captions) - (self.misses - misses)
        rows = [self._mem[caption_key(c)] for c in captions]
        return pad_rows(rows, self.max_tokens, self.dim, self.device)


def cached_text_fn(encoder: TextEncoder, cache_dir: str | os.PathLike | None = None, dtype: torch.dtype = torch.float16,
                   device: str | torch.device | None = None) -> CachedTextEncoder:
    """A caching ``callable(captions) -> TextFeatures`` over ``encoder`` (memory always, disk if ``cache_dir``)."""
    return CachedTextEncoder(encoder, cache_dir, dtype=dtype, device=device)
