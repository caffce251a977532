"""Training stage of our text-motion evaluator (``moscale train-evaluator``).

Loss: symmetric InfoNCE between the text and motion co-embeddings of a batch (cosine similarity over a
learned temperature); pairs whose captions are identical are not used as negatives of each other.
Validation: R-precision top-1/3 and MM-Dist in shuffled batches of 32 on the validation split, as the
protocol computes them (the best top-3 is kept). The run exports ``evaluator.safetensors``,
``evaluator_config.json`` and ``stats.safetensors`` (the evaluator normaliser it was trained with).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from moscale_cli.config import ConfigBase
from moscale_cli.errors import ConfigError
from moscale_cli.models.evaluator import EvaluatorConfig, MoScaleEvaluator, info_nce
from moscale_cli.text.features import TextFeatures, TextFn
from moscale_cli.training.stage import Batch, Collate, Logs, TrainingStage

if TYPE_CHECKING:
    from moscale_cli.data.dataset import MotionDataset
    from moscale_cli.motion.normalize import Normalizer
    from moscale_cli.text.cache import CachedTextEncoder
    from moscale_cli.training.loop import TrainConfig


@dataclass
class EvaluatorStageConfig(ConfigBase):
    stats: str = "evaluator"  # normaliser: dataset Mean/Std with the evaluator rule (root + contacts / 25)
    val_split: str = "val"  # '' = no validation
    val_batch_size: int = 32
    val_max_batches: int = 0  # 0 = the whole split
    text_cache: str = ""  # caption-embedding cache folder ("" = the shared MOSCALE_CACHE/captions)


def same_caption_matrix(captions: list[str]) -> torch.Tensor:
    idx = {c: i for i, c in enumerate(dict.fromkeys(captions))}
    ids = torch.tensor([idx[c] for c in captions])
    return ids[:, None] == ids[None, :]


class EvaluatorStage(TrainingStage):
    """The evaluator's stage for :class:`moscale_cli.training.loop.Trainer`."""

    name = "evaluator"
    best_metric = "val_top3"
    best_mode = "max"

    def __init__(self, data: list[str | os.PathLike], ev_cfg: EvaluatorConfig, text_fn: TextFn,
                 stage_cfg: EvaluatorStageConfig | None = None, seed: int = 0,
                 prepare_text: Callable[[list[str]], object] | None = None) -> None:
        """``prepare_text(captions)``: called once with every caption when the datasets are read (e.g. a cached
        encoder's ``precompute``, which reads or fills the caption cache before training)."""
        self.data = [str(d) for d in data]
        self.ev_cfg = ev_cfg
        self.cfg = stage_cfg or EvaluatorStageConfig()
        self.seed = seed
        self.text_fn = text_fn  # callable(list[str]) -> TextFeatures
        self.model = MoScaleEvaluator(ev_cfg)
        self.prepare_text = prepare_text
        self._train: MotionDataset | None = None
        self._val: MotionDataset | None = None

    def _datasets(self) -> MotionDataset:
        if self._train is not None:
            return self._train
        from moscale_cli.data.dataset import MotionDataset

        self._train = MotionDataset(self.data, split="train", stats=self.cfg.stats, mode="train", seed=self.seed)
        if self._train.feature_dim != self.ev_cfg.feature_dim:
            raise ConfigError(f"the data has {self._train.feature_dim}-dim features, the evaluator expects {self.ev_cfg.feature_dim}")
        if self.cfg.val_split:
            self._val = MotionDataset(self.data, split=self.cfg.val_split, normalizer=self._train.normalizer, mode="eval",
                                      seed=self.seed, warn=False)
        if self.prepare_text is not None:
            self.prepare_text([c.caption for ds in (self._train, self._val) if ds is not None
                               for e in ds.entries for c in e.captions])
        return self._train

    @property
    def normalizer(self) -> Normalizer:
        return self._datasets().normalizer

    def config_dict(self) -> dict[str, Any]:
        return {"evaluator": self.ev_cfg.to_dict(), "stage": self.cfg.to_dict(), "data": self.data, "data_seed": self.seed}

    def train_data(self) -> tuple[MotionDataset, Collate]:
        from moscale_cli.data.dataset import collate

        return self._datasets(), collate

    def _text(self, captions: list[str], device: torch.device) -> TextFeatures:
        return self.text_fn(list(captions)).to(device)

    def training_step(self, model: nn.Module, batch: Batch, step: int) -> tuple[torch.Tensor, Logs]:
        feats = batch["feats"]
        tf = self._text(batch["captions"], feats.device)
        t, m, temp = model(tf.tokens_BSE, tf.mask_BS, tf.pooled_BE, feats, batch["lengths"])
        loss, logs = info_nce(t, m, temp, same_caption_matrix(batch["captions"]))
        return loss, logs

    @torch.no_grad()
    def validate(self, model: nn.Module) -> dict[str, float] | None:
        from moscale_cli.data.dataset import collate
        from moscale_cli.evaluation.metrics import MatchingAccumulator

        self._datasets()
        if self._val is None:
            return None
        assert isinstance(model, MoScaleEvaluator)
        n = len(self._val)
        bs = min(self.cfg.val_batch_size, n)
        order = np.random.default_rng(self.seed).permutation(n)
        n_batches = n // bs
        if self.cfg.val_max_batches > 0:
            n_batches = min(n_batches, self.cfg.val_max_batches)
        acc = MatchingAccumulator()
        dev = next(model.parameters()).device
        for b in range(n_batches):
            batch = collate([self._val[int(i)] for i in order[b * bs : (b + 1) * bs]])
            tf = self._text(batch["captions"], dev)
            t = model.text_embeddings_unsorted(tf.tokens_BSE, tf.mask_BS, tf.pooled_BE)
            m = model.motion_embeddings_unsorted(batch["feats"].to(dev), batch["lengths"].to(dev))
            acc.add(t.float().cpu().numpy(), m.float().cpu().numpy())
        r = acc.r_precision()
        return {"top1": float(r[0]), "top2": float(r[1]), "top3": float(r[2]), "mm_dist": acc.matching_score()}

    def export(self, run_dir: str | os.PathLike, model: nn.Module) -> None:
        from moscale_cli.evaluation.evaluators import save_our_evaluator

        assert isinstance(model, MoScaleEvaluator)
        norm = self.normalizer
        save_our_evaluator(Path(run_dir), model, norm.mean, norm.std, extra={"data": self.data, "stats": self.cfg.stats})


def make_text_fn(name: str | None, max_tokens: int, device: str | torch.device,
                 cache_dir: str | None = None) -> CachedTextEncoder:
    """A caching caption -> TextFeatures callable over :class:`TextEncoder` (disk cache in ``cache_dir``)."""
    from moscale_cli.text.cache import cached_text_fn
    from moscale_cli.text.encoder import TextEncoder

    enc = TextEncoder(name or None, device=device, max_tokens=max_tokens)
    return cached_text_fn(enc, cache_dir or None)


def train_evaluator(data: list[str], out: str, preset: str, train_cfg: TrainConfig, stage_cfg: EvaluatorStageConfig | None = None,
                    resume: bool = False, text_encoder: str | None = None, text_max_tokens: int = 32,
                    **overrides: Any) -> dict[str, Any]:
    """Build the stage (feature width from the data, text width from the encoder) and run the Trainer."""
    from moscale_cli.data.dataset import DatasetSpec
    from moscale_cli.training.loop import Trainer
    from moscale_cli.utils.device import resolve_device
    from moscale_cli.utils.seed import seed_everything

    stage_cfg = stage_cfg or EvaluatorStageConfig()
    feature_dim = DatasetSpec.detect(data[0]).feature_dim
    dev = resolve_device(train_cfg.device)
    from moscale_cli.text.cache import default_caption_cache_dir

    cache_dir = stage_cfg.text_cache or default_caption_cache_dir()
    text_fn = make_text_fn(text_encoder, text_max_tokens, dev, str(cache_dir) if cache_dir else None)
    ev_cfg = EvaluatorConfig.preset(preset, feature_dim=feature_dim, text_dim=int(text_fn.dim),
                                    text_encoder=text_fn.encoder.name, text_max_tokens=text_max_tokens, **overrides)
    seed_everything(train_cfg.seed)
    stage = EvaluatorStage(data, ev_cfg, text_fn, stage_cfg, seed=train_cfg.seed, prepare_text=text_fn.precompute)
    return Trainer(stage, train_cfg, out, resume=resume).fit()
