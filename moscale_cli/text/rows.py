"""The row store shared by the training caption cache and the prompt-embedding cache.

A *row* is one embedded text without its padding: ``(tokens (L,E), pooled (E,))`` with L its valid tokens.
:func:`split_rows` cuts a padded batch of :class:`TextFeatures` into rows, :func:`pad_rows` pads rows back
into a batch, and the files below store rows on disk; both caches keep rows and nothing else.

A file holds N embedded texts as safetensors: ``tokens`` (M,E) = the valid token rows of all texts
one after another, ``lengths`` (N,) = rows per text, ``pooled`` (N,E); its metadata carries the format
tag, the texts' keys (JSON list), any caller fields and the SHA-256 of the tensor bytes. Files are
written atomically (temporary name + rename); :func:`read_rows` returns None for anything it cannot
trust (unreadable, another format, wrong width, inconsistent lengths, checksum mismatch).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

import torch

from moscale_cli.text.features import TextFeatures

FORMAT = "moscale-text-cache-v1"
Row = tuple[torch.Tensor, torch.Tensor]  # (tokens (L,E), pooled (E,))


def caption_key(caption: str) -> str:
    """The key of a text in cache files (SHA-1 of its UTF-8 bytes)."""
    return hashlib.sha1(caption.encode("utf-8")).hexdigest()


def split_rows(feats: TextFeatures, dtype: torch.dtype = torch.float32) -> list[Row]:
    """The rows of a padded batch: each text's valid token rows and pooled vector, as ``dtype`` CPU copies."""
    tok = feats.tokens_BSE.detach().to("cpu", dtype)
    pooled = feats.pooled_BE.detach().to("cpu", dtype)
    n_valid = feats.mask_BS.sum(dim=1).tolist()
    return [(tok[j, : int(n)].clone(), pooled[j].clone()) for j, n in enumerate(n_valid)]


def pad_rows(rows: list[Row], max_tokens: int, dim: int, device: str | torch.device = "cpu") -> TextFeatures:
    """Rows padded back into a float32 batch of ``max_tokens`` positions (the inverse of :func:`split_rows`)."""
    B = len(rows)
    tokens = torch.zeros(B, max_tokens, dim, dtype=torch.float32)
    mask = torch.zeros(B, max_tokens, dtype=torch.bool)
    pooled = torch.zeros(B, dim, dtype=torch.float32)
    for i, (t, p) in enumerate(rows):
        n = t.shape[0]
        tokens[i, :n] = t
        mask[i, :n] = True
        pooled[i] = p
    return TextFeatures(tokens.to(device), mask.to(device), pooled.to(device))


def _checksum(tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def pack_rows(rows: list[Row], dim: int, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    toks = [t.detach().to("cpu", dtype) for t, _ in rows]
    return {
        "tokens": torch.cat(toks) if toks else torch.zeros(0, dim, dtype=dtype),
        "lengths": torch.tensor([t.shape[0] for t in toks], dtype=torch.int32),
        "pooled": torch.stack([p.detach().to("cpu", dtype) for _, p in rows]) if rows else torch.zeros(0, dim, dtype=dtype),
    }


def write_rows(
    path: str | os.PathLike,
    keys: list[str],
    rows: list[Row],
    dim: int,
    dtype: torch.dtype = torch.float32,
    meta: dict[str, str] | None = None,
    fsync: bool = True,
) -> None:
    """Write ``rows`` (one per key) to ``path`` atomically; ``fsync`` also flushes it to the disk first."""
    from safetensors.torch import save

    from moscale_cli.utils.atomic import atomic_path

    if len(keys) != len(rows):
        raise ValueError(f"{len(keys)} keys for {len(rows)} rows")
    tensors = pack_rows(rows, dim, dtype)
    metadata = {**(meta or {}), "format": FORMAT, "keys": json.dumps(keys), "sha256": _checksum(tensors)}
    data = save(tensors, metadata=metadata)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        if fsync:
            f.flush()
            os.fsync(f.fileno())


def read_rows(path: str | os.PathLike, dim: int) -> tuple[dict[str, str], list[str], list[Row]] | None:
    """``(metadata, keys, rows)`` of a file written by :func:`write_rows`, or None if it cannot be trusted.

    Files of the first format version (no checksum) are still read."""
    from safetensors.torch import load

    try:
        data = Path(path).read_bytes()
        tensors = load(data)
        n = int.from_bytes(data[:8], "little")
        meta = json.loads(data[8 : 8 + n]).get("__metadata__") or {}
    except Exception:  # unreadable, truncated or not safetensors at all
        return None
    if not isinstance(meta, dict):
        return None
    return _check(meta, tensors, dim)


def _check(meta: dict[str, str], tensors: dict[str, torch.Tensor], dim: int) -> tuple[dict[str, str], list[str], list[Row]] | None:
    if meta.get("format") != FORMAT or set(tensors) != {"tokens", "lengths", "pooled"}:
        return None
    if "sha256" in meta and meta["sha256"] != _checksum(tensors):
        return None
    try:
        keys = json.loads(meta.get("keys", "[]"))
    except ValueError:
        return None
    tok, lengths, pooled = tensors["tokens"], tensors["lengths"], tensors["pooled"]
    if (
        not isinstance(keys, list)
        or tok.dim() != 2 or tok.shape[1] != dim or pooled.dim() != 2 or pooled.shape[1] != dim
        or lengths.dim() != 1 or not (len(keys) == lengths.shape[0] == pooled.shape[0])
        or bool((lengths < 0).any()) or int(lengths.sum()) != tok.shape[0]
    ):
        return None
    rows, off = [], 0
    for i, n in enumerate(lengths.tolist()):
        rows.append((tok[off : off + n], pooled[i]))
        off += n
    return meta, [str(k) for k in keys], rows


def remove_quietly(path: str | os.PathLike) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
