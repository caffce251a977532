"""The sentence-transformers text-encoder path: any model name or folder sentence-transformers can load.

It is the reference for the light path and the path for every model the light path does not run.
sentence-transformers (and transformers) are imported when a backend is built, never at module import.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from typing import TYPE_CHECKING

import torch

from moscale_cli.errors import ConfigError

if TYPE_CHECKING:  # imported when a backend is built, never at module import
    from sentence_transformers import SentenceTransformer
    from transformers import PreTrainedTokenizerBase


@contextlib.contextmanager
def quiet_transformers():
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


def load_sentence_transformer(path: str, device: torch.device) -> SentenceTransformer:
    """A frozen float32 ``SentenceTransformer`` (local folders never touch the hub); ConfigError if it fails."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    with quiet_transformers(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sentence_transformers import SentenceTransformer

        local = os.path.isdir(path)
        try:
            # float32 whatever the checkpoint's dtype (fp16 checkpoints would give fp16 features on CPU)
            model = SentenceTransformer(path, device=str(device), local_files_only=local,
                                        model_kwargs={"dtype": torch.float32})
        except Exception as e:
            where = "folder" if local else "model"
            offline = "" if local or os.environ.get("HF_HUB_OFFLINE") not in ("1", "true", "True") else " (HF_HUB_OFFLINE is set)"
            first = str(e).splitlines()[0] if str(e) else ""
            raise ConfigError(f"cannot load text encoder {where} '{path}'{offline}: {type(e).__name__}: {first}") from None
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


class SentenceTransformersBackend:
    """Token features, mask and sentence vector from a ``SentenceTransformer`` cut to ``max_tokens``."""

    def __init__(self, path: str, device: torch.device, max_tokens: int) -> None:
        self.device = device
        self.model = load_sentence_transformer(path, device)
        self.model.max_seq_length = int(max_tokens)
        self.dim = self._embedding_dim(max_tokens)

    def _embedding_dim(self, max_tokens: int) -> int:
        for attr in ("get_embedding_dimension", "get_sentence_embedding_dimension"):
            fn = getattr(self.model, attr, None)
            if fn is not None:
                d = fn()
                if d:
                    return int(d)
        return int(self.forward(["a"], max_tokens)[2].shape[-1])

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        return self.model.tokenizer

    def count_tokens(self, texts: list[str]) -> list[int]:
        with quiet_transformers():
            ids = self.tokenizer(list(texts), add_special_tokens=True, truncation=False)["input_ids"]
        return [len(x) for x in ids]

    @torch.no_grad()
    def forward(self, texts: list[str], max_tokens: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(tokens (B,S,E), mask (B,S) bool, sentence vector (B,E))``; the window is set at construction."""
        m = self.model
        fn = getattr(m, "preprocess", None) or m.tokenize
        with quiet_transformers():
            feats = fn(list(texts))
        feats = {k: (v.to(self.device) if isinstance(v, torch.Tensor) else v) for k, v in feats.items()}
        out = m(feats)
        return out["token_embeddings"].float(), out["attention_mask"].bool(), out["sentence_embedding"].float()
