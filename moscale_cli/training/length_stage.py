"""Training stage of the length estimator (for the shared :class:`~moscale_cli.training.loop.Trainer`).

Each (caption, length) pair of the dataset is one example: every caption of a clip counts, and the target is
the clip's *natural* length where the corpus records one (``natural_frames`` in a procedural corpus's
``labels.jsonl``: the program's actions at their pace with short margins, so that "four jumping jacks" asks for
room for four whatever length the clip was drawn at), else the clip length (real capture), in tokens
(frames // unit, clamped to the covered range). The pooled text
vector comes from the (cached) text encoder; the loss is cross-entropy. Validation reports the
cross-entropy, the accuracy and the mean absolute error (in frames) of the mode and of the mean.
Export writes ``length.safetensors`` + ``length_config.json`` into the run directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from moscale_cli.models.length import LengthConfig, LengthEstimator
from moscale_cli.text.features import TextFn
from moscale_cli.training.stage import Batch, Collate, Logs, TrainingStage

if TYPE_CHECKING:
    from moscale_cli.data.dataset import MotionDataset


def length_targets(dataset: MotionDataset) -> list[int]:
    """The length target (frames) of every entry of a MotionDataset: the clip's ``natural_frames`` from its
    root's ``labels.jsonl`` when the row has one and the entry is the whole clip, else the entry's length."""
    from moscale_cli.data.synth.corpus import read_natural_frames

    natural = [read_natural_frames(r) for r in getattr(dataset, "roots", [])]
    out = []
    for e in dataset.entries:
        nat = natural[e.root].get(e.key) if e.root < len(natural) and e.key == e.file else None
        out.append(int(nat) if nat else int(e.length))
    return out


class LengthPairs(torch.utils.data.Dataset):
    """(caption, frames) pairs from a MotionDataset's entries (no features are read); frames: the entry's
    length target (:func:`length_targets`)."""

    def __init__(self, dataset: MotionDataset) -> None:
        targets = length_targets(dataset)
        self.pairs: list[tuple[str, int]] = [
            (c.caption, n) for e, n in zip(dataset.entries, targets, strict=True) for c in e.captions
        ]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> tuple[str, int]:
        return self.pairs[i]

    @property
    def captions(self) -> list[str]:
        return [c for c, _ in self.pairs]


def collate_pairs(items: list[tuple[str, int]]) -> Batch:
    return {"captions": [c for c, _ in items], "lengths": torch.tensor([n for _, n in items], dtype=torch.long)}


class LengthStage(TrainingStage):
    """The length estimator's stage for ``Trainer``: trains a :class:`LengthEstimator` on (pooled text, length) pairs."""

    name = "length"
    best_metric = "val_mae_frames"
    best_mode = "min"

    def __init__(
        self,
        cfg: LengthConfig,
        train_set: LengthPairs,
        text_fn: TextFn,
        val_set: LengthPairs | None = None,
        extra_config: dict[str, Any] | None = None,
    ) -> None:
        self.cfg = cfg
        self.model = LengthEstimator(cfg)
        self.train_set = train_set
        self.val_set = val_set
        self.text_fn = text_fn
        self.extra_config = extra_config or {}

    def config_dict(self) -> dict[str, Any]:
        return {"length": self.cfg.to_dict(), **self.extra_config}

    def train_data(self) -> tuple[LengthPairs, Collate]:
        return self.train_set, collate_pairs

    def _pooled(self, captions: list[str], device: torch.device) -> torch.Tensor:
        return self.text_fn(captions).pooled_BE.to(device=device, dtype=torch.float32)

    def training_step(self, model: nn.Module, batch: Batch, step: int) -> tuple[torch.Tensor, Logs]:
        inner = getattr(model, "module", model)
        device = next(inner.parameters()).device
        pooled = self._pooled(batch["captions"], device)
        target = inner.frames_to_class(batch["lengths"].to(device))
        logits = model(pooled).float()
        loss = F.cross_entropy(logits, target)
        acc = (logits.argmax(-1) == target).float().mean()
        return loss, {"acc": float(acc)}

    @torch.no_grad()
    def evaluate(self, model: LengthEstimator, pairs: LengthPairs, batch_size: int = 256) -> dict[str, float]:
        device = next(model.parameters()).device
        n, ce, correct, mae_mode, mae_mean = 0, 0.0, 0, 0.0, 0.0
        classes = model.class_to_frames(torch.arange(model.cfg.num_classes, device=device)).float()
        for i in range(0, len(pairs), batch_size):
            b = collate_pairs([pairs[j] for j in range(i, min(i + batch_size, len(pairs)))])
            pooled = self._pooled(b["captions"], device)
            frames = b["lengths"].to(device)
            target = model.frames_to_class(frames)
            logits = model(pooled).float()
            ce += float(F.cross_entropy(logits, target, reduction="sum"))
            pred = logits.argmax(-1)
            correct += int((pred == target).sum())
            true_frames = model.class_to_frames(target).float()
            mae_mode += float((model.class_to_frames(pred).float() - true_frames).abs().sum())
            mean_frames = torch.softmax(logits, -1) @ classes
            mae_mean += float((mean_frames - true_frames).abs().sum())
            n += len(b["captions"])
        return {"ce": ce / n, "acc": correct / n, "mae_frames": mae_mode / n, "mae_mean_frames": mae_mean / n}

    def validate(self, model: nn.Module) -> dict[str, float] | None:
        if self.val_set is None or len(self.val_set) == 0:
            return None
        assert isinstance(model, LengthEstimator)
        return self.evaluate(model, self.val_set)

    def export(self, run_dir: str | os.PathLike, model: nn.Module) -> None:
        from moscale_cli.checkpoint import save_json, save_module

        run_dir = Path(run_dir)
        save_module(run_dir / "length.safetensors", model)
        save_json(run_dir / "length_config.json", {"length": self.cfg.to_dict(), **self.extra_config})


def load_length_run(run_dir: str | Path) -> LengthEstimator:
    """The exported length estimator of a ``train-length`` run (``length.safetensors`` + ``length_config.json``)."""
    from moscale_cli.checkpoint import load_json, load_module
    from moscale_cli.errors import CheckpointError

    run_dir = Path(run_dir)
    if not (run_dir / "length_config.json").is_file():
        raise CheckpointError(f"{run_dir} holds no trained length estimator (no length_config.json)")
    cfg = LengthConfig.from_dict(load_json(run_dir / "length_config.json")["length"])
    model = LengthEstimator(cfg)
    load_module(run_dir / "length.safetensors", model)
    return model.eval()
