"""The evaluation loader and the evaluator-side embedding of batches (eval-protocol.md §1, §4, §7).

- Items come from :class:`~moscale_cli.data.dataset.MotionDataset` in ``mode="eval"`` (random caption,
  'single'/'double' crop to a multiple of 4, zero padding to 196) normalised with the **evaluator's**
  statistics.
- Batches of 32, shuffled, the last incomplete batch dropped, each batch sorted by the evaluator's
  sentence length (sos + words + eos), longest first.
- :class:`EmbeddingRunner` turns a batch into text embeddings and motions into motion embeddings with
  the official evaluator (GloVe word vectors + POS one-hots) or ours (TextEncoder features).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from moscale_cli.errors import DatasetError, UsageError
from moscale_cli.evaluation.evaluators import EvaluatorBundle

MAX_MOTION_LENGTH = 196
UNIT_LENGTH = 4


def make_eval_dataset(data: str | os.PathLike, split: str, bundle: EvaluatorBundle, seed: int = 0, warn: bool = True) -> Any:
    """The split of ``data`` as evaluation items normalised with the evaluator statistics."""
    from moscale_cli.data.dataset import DatasetSpec, MotionDataset

    spec = DatasetSpec.detect(data)
    if spec.feature_dim != bundle.feature_dim:
        raise DatasetError(
            f"dataset {data} has {spec.feature_dim}-dim features but the evaluator ({bundle.source}) expects {bundle.feature_dim}"
        )
    return MotionDataset(data, split=split, normalizer=bundle.normalizer, mode="eval", max_len=MAX_MOTION_LENGTH,
                         unit=UNIT_LENGTH, seed=seed, warn=warn)


def _reorder(batch: dict[str, Any], order: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    idx = torch.as_tensor(order, dtype=torch.long)
    for k, v in batch.items():
        if torch.is_tensor(v) and v.ndim >= 1 and v.shape[0] == len(order):
            out[k] = v[idx]
        elif isinstance(v, list) and len(v) == len(order):
            out[k] = [v[i] for i in order]
        else:
            out[k] = v
    return out


def sort_by_sentence_length(batch: dict[str, Any]) -> dict[str, Any]:
    """Reorder a collated eval batch by ``sent_lens``, longest first (stable for ties)."""
    sl = batch["sent_lens"].tolist()
    order = sorted(range(len(sl)), key=lambda i: -sl[i])
    return _reorder(batch, order)


class EvalLoader:
    """Shuffled, drop-last batches sorted by sentence length; each ``iter()`` is one pass with fresh draws."""

    def __init__(self, dataset: Any, batch_size: int = 32, seed: int = 0) -> None:
        from moscale_cli.data.dataset import make_loader

        if len(dataset) < batch_size:
            raise DatasetError(
                f"the split has {len(dataset)} evaluation items, fewer than one batch of {batch_size} (use a smaller --batch-size)"
            )
        self.dataset = dataset
        self.batch_size = batch_size
        self.seed = seed
        self.loader = make_loader(dataset, batch_size, shuffle=True, drop_last=True, seed=seed)

    def __len__(self) -> int:
        return len(self.dataset) // self.batch_size

    def __iter__(self):
        # the dataset draws captions and crops from (dataset.seed, epoch, index): give every pass its own draws
        self.dataset.seed = self.seed
        for batch in self.loader:
            yield sort_by_sentence_length(batch)


class EmbeddingRunner:
    """Text and motion co-embeddings for evaluation batches (numpy, float64)."""

    def __init__(self, bundle: EvaluatorBundle, device: torch.device | str = "cpu", text_fn: Any = None) -> None:
        self.bundle = bundle
        self.device = torch.device(device)
        self.model = bundle.model.to(self.device).eval()
        self.text_fn = text_fn
        if bundle.kind == "moscale" and text_fn is None:
            from moscale_cli.text.cache import cached_text_fn
            from moscale_cli.text.encoder import DEFAULT_TEXT_ENCODER
            from moscale_cli.text.factory import get_text_encoder

            cfg = bundle.model.cfg
            enc = get_text_encoder(cfg.text_encoder or DEFAULT_TEXT_ENCODER, cfg.text_max_tokens, self.device)
            self.text_fn = cached_text_fn(enc)
        if bundle.kind == "moscale" and int(self.text_fn.dim) != int(bundle.model.cfg.text_dim):
            raise UsageError(
                f"the text encoder gives {self.text_fn.dim}-dim features, the evaluator was trained on {bundle.model.cfg.text_dim}"
            )

    @torch.no_grad()
    def text_embeddings(self, batch: dict[str, Any]) -> np.ndarray:
        """Text embeddings in batch order."""
        if self.bundle.kind == "official":
            wv = self.bundle.word_vectorizer
            pairs = [[wv[t] for t in toks] for toks in batch["word_tokens"]]
            word = torch.as_tensor(np.array([[p[0] for p in row] for row in pairs]), device=self.device)
            pos = torch.as_tensor(np.array([[p[1] for p in row] for row in pairs]), device=self.device)
            emb = self.model.text_embeddings_unsorted(word, pos, batch["sent_lens"])
        else:
            tf = self.text_fn(list(batch["captions"])).to(self.device)
            emb = self.model.text_embeddings_unsorted(tf.tokens_BSE, tf.mask_BS, tf.pooled_BE)
        return emb.double().cpu().numpy()

    @torch.no_grad()
    def motion_embeddings(self, motions_BTD: torch.Tensor, lengths: torch.Tensor) -> np.ndarray:
        """Motion embeddings in batch order; motions normalised with the evaluator statistics."""
        lengths = torch.as_tensor(lengths).long()
        if (lengths % UNIT_LENGTH != 0).any() or (lengths > MAX_MOTION_LENGTH).any() or (lengths < UNIT_LENGTH).any():
            raise UsageError(f"evaluation lengths must be multiples of {UNIT_LENGTH} in [4, 196], got {lengths.tolist()}")
        m = pad_to(motions_BTD, MAX_MOTION_LENGTH, lengths).to(self.device).float()
        return self.model.motion_embeddings_unsorted(m, lengths.to(self.device)).double().cpu().numpy()


def pad_to(feats_BTD: torch.Tensor, T: int, lengths: torch.Tensor) -> torch.Tensor:
    """Zero every frame past each length and pad/crop the time axis to ``T``."""
    B, t, D = feats_BTD.shape
    out = torch.zeros(B, T, D, dtype=feats_BTD.dtype, device=feats_BTD.device)
    n = min(t, T)
    out[:, :n] = feats_BTD[:, :n]
    valid = torch.arange(T, device=out.device)[None, :] < lengths.to(out.device)[:, None]
    return out * valid[..., None]


def length_order(lengths: torch.Tensor | np.ndarray) -> np.ndarray:
    """The official evaluator's output order: lengths descending (stable)."""
    from moscale_cli.models.evaluator import length_sort_permutation

    return length_sort_permutation(torch.as_tensor(np.asarray(lengths))).numpy()
