"""The contract between the training loop (:class:`moscale_cli.training.loop.Trainer`) and a model's stage.

A stage subclasses :class:`TrainingStage`. It must give ``name``, ``model``, :meth:`~TrainingStage.config_dict`,
:meth:`~TrainingStage.train_data` and :meth:`~TrainingStage.training_step`; it may override
:meth:`~TrainingStage.param_groups`, :meth:`~TrainingStage.validate` (with ``best_metric``/``best_mode``) and
:meth:`~TrainingStage.export`, whose defaults are: every trainable parameter in one group, no validation, nothing
to export. The four stages: ``tokenizer_stage``, ``generator_stage``, ``length_stage``, ``evaluator_stage``.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, Literal, Protocol, TypeVar

import torch
from torch import nn

Item_co = TypeVar("Item_co", covariant=True)

# a collated batch: tensors ("feats", "lengths", ...) and lists ("captions", ...) by name
Batch = dict[str, Any]
# what a training step or a validation reports: numbers, tensors or lists of them, by name
Logs = dict[str, Any]
# AdamW parameter groups: {"params": [...], "weight_decay": ...}
ParamGroups = list[dict[str, Any]] | list[nn.Parameter]


class MapDataset(Protocol[Item_co]):
    """What the Trainer needs of a training set: its length and its items by index (the Trainer owns the order).
    A dataset may also have ``set_epoch(epoch)`` for per-epoch randomness (crops, caption choice)."""

    def __len__(self) -> int: ...

    def __getitem__(self, i: int) -> Item_co: ...


Collate = Callable[[list[Any]], Batch]


class TrainingStage(ABC):
    """One model's part of training, for the shared Trainer (see the module docstring)."""

    name: ClassVar[str]  # run label (progress bar, run config)
    model: nn.Module  # the module trained (the Trainer moves it to the device and wraps it for DDP)
    best_metric: ClassVar[str | None] = None  # validation key that selects best/ (e.g. "val_mpjpe_mm")
    best_mode: ClassVar[Literal["min", "max"]] = "min"

    @abstractmethod
    def config_dict(self) -> dict[str, Any]:
        """The configuration that must match when a run is resumed (JSON-able)."""

    @abstractmethod
    def train_data(self) -> tuple[MapDataset[Any], Collate]:
        """The training set and its collate function."""

    @abstractmethod
    def training_step(self, model: nn.Module, batch: Batch, step: int) -> tuple[torch.Tensor, Logs]:
        """The loss of one batch (``model`` may be wrapped by DDP or compile) and what to log."""

    def param_groups(self, model: nn.Module) -> ParamGroups:
        """The optimizer's parameter groups (default: every trainable parameter)."""
        return [p for p in model.parameters() if p.requires_grad]

    def validate(self, model: nn.Module) -> Logs | None:
        """Validation metrics of ``model`` (in eval mode, no gradients); None: the stage does not validate."""
        return None

    def export(self, run_dir: str | os.PathLike, model: nn.Module) -> None:
        """Write the stage's deliverable files from the best (or, without validation, the final) weights."""
        return None


__all__ = ["Batch", "Collate", "Logs", "MapDataset", "ParamGroups", "TrainingStage"]
