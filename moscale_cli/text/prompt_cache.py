"""A disk cache of prompt embeddings, so that repeated prompts skip the text encoder.

Location: ``$MOSCALE_CACHE`` if set (``off``, ``0``, ``false``, ``no`` or ``none`` turn the cache off),
else ``$XDG_CACHE_HOME/moscale``, else ``~/.cache/moscale``. Layout::

    <root>/prompts/<encoder fingerprint[:20]>/<key[:2]>/<key>.safetensors   one prompt per file
    <root>/hashes/<...>.json                                              memoised file hashes

``<key>`` hashes the text and the token window; the encoder fingerprint hashes its weights and
configuration (:mod:`moscale_cli.text.fingerprint`), so two encoders never share entries. An entry
(:mod:`moscale_cli.text.rows` format, float32, checksummed) also records the full fingerprint, the
window, the text and the prompt's token count before truncation; a file that is unreadable or does not
match all of them is ignored and rewritten. Writes are atomic, so concurrent runs at worst both write
the same entry. The cache never fails a run: a read-only or full disk only means nothing is saved.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from moscale_cli.errors import MoScaleError
from moscale_cli.text.features import TextFeatures
from moscale_cli.text.rows import pad_rows, read_rows, split_rows, write_rows

CACHE_ENV = "MOSCALE_CACHE"
OFF_VALUES = frozenset({"off", "0", "false", "no", "none"})

# compute(prompts) -> (features padded to the window, token counts before truncation)
ComputeFn = Callable[[list[str]], tuple[TextFeatures, list[int]]]


def default_cache_root() -> Path | None:
    """The user's moscale cache folder, or None when ``MOSCALE_CACHE`` turns caching off."""
    env = os.environ.get(CACHE_ENV)
    if env is not None and env.strip():
        if env.strip().lower() in OFF_VALUES:
            return None
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg and xdg.strip() else Path.home() / ".cache"
    return base / "moscale"


@dataclass
class CachedPrompt:
    tokens_LE: torch.Tensor
    pooled_E: torch.Tensor
    count: int


class PromptEmbeddingCache:
    """Per-prompt embedding files under ``root``; see the module docstring. ``hits``/``misses`` count lookups."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    @classmethod
    def from_env(cls) -> PromptEmbeddingCache | None:
        root = default_cache_root()
        return None if root is None else cls(root)

    def __repr__(self) -> str:
        return f"PromptEmbeddingCache({str(self.root)!r})"

    # ----------------------------------------------------------------- identity
    def fingerprint(self, folder: str | os.PathLike) -> str:
        """The identity of a local encoder folder, with file hashes memoised under ``root/hashes``."""
        from moscale_cli.text.fingerprint import folder_fingerprint

        return folder_fingerprint(folder, self.root / "hashes")

    def entry_path(self, encoder_fp: str, max_tokens: int, text: str) -> Path:
        key = hashlib.sha256(f"{int(max_tokens)}\n{text}".encode("utf-8", "surrogatepass")).hexdigest()
        return self.root / "prompts" / encoder_fp[:20] / key[:2] / f"{key}.safetensors"

    # ----------------------------------------------------------------- entries
    def load(self, encoder_fp: str, max_tokens: int, dim: int, text: str) -> CachedPrompt | None:
        """The cached entry of ``text``, or None when absent or not matching in every field."""
        got = read_rows(self.entry_path(encoder_fp, max_tokens, text), dim)
        if got is None:
            return None
        meta, _, rows = got
        try:
            ok = (
                meta.get("encoder") == encoder_fp
                and int(meta.get("max_tokens", -1)) == int(max_tokens)
                and meta.get("text") == text
                and len(rows) == 1
            )
            count = int(meta.get("count", -1))
        except ValueError:
            return None
        if not ok:
            return None
        tok, pooled = rows[0]
        n = tok.shape[0]
        if tok.dtype != torch.float32 or not 1 <= n <= int(max_tokens) or count < n or (n < max_tokens and count != n):
            return None
        return CachedPrompt(tok, pooled, count)

    def save(self, encoder_fp: str, max_tokens: int, text: str, tokens_LE: torch.Tensor, pooled_E: torch.Tensor,
             count: int) -> bool:
        """Write one entry atomically; False (and nothing written) when the cache folder is not writable."""
        path = self.entry_path(encoder_fp, max_tokens, text)
        meta = {"encoder": encoder_fp, "max_tokens": str(int(max_tokens)), "text": text, "count": str(int(count))}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_rows(path, [text], [(tokens_LE, pooled_E)], int(tokens_LE.shape[-1]), torch.float32, meta, fsync=False)
        except (OSError, MoScaleError, ValueError):  # ValueError: e.g. a text safetensors metadata cannot hold
            return False
        return True

    # ----------------------------------------------------------------- encoding
    def encode(self, encoder_fp: str, max_tokens: int, dim: int, prompts: list[str], compute: ComputeFn,
               device: torch.device | str = "cpu") -> tuple[TextFeatures, list[int]]:
        """Features of ``prompts`` (padded to ``max_tokens``) and their token counts.

        Cached prompts are read from disk; all the others are encoded by one ``compute`` call (which
        batches) and saved. Nothing is computed when every prompt is cached."""
        uniq = list(dict.fromkeys(prompts))
        found: dict[str, CachedPrompt] = {}
        for p in uniq:
            e = self.load(encoder_fp, max_tokens, dim, p)
            if e is not None:
                found[p] = e
        missing = [p for p in uniq if p not in found]
        self.hits += len(uniq) - len(missing)
        self.misses += len(missing)
        if missing:
            feats, counts = compute(missing)
            for p, (tok, pooled), count in zip(missing, split_rows(feats), counts, strict=True):
                found[p] = CachedPrompt(tok, pooled, int(count))
                self.save(encoder_fp, max_tokens, p, tok, pooled, int(count))
        out = pad_rows([(found[p].tokens_LE, found[p].pooled_E) for p in prompts], max_tokens, dim, device)
        counts_out = [found[p].count for p in prompts]
        return out, counts_out
