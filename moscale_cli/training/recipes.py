"""The reference training recipes (method spec §2.3 and §8), the one place their numbers live.

``moscale train-tokenizer`` and ``moscale train`` take their option defaults from here, so a user who runs
both with defaults on HumanML3D trains with the reference's settings. Presets ``tiny``/``small`` change the
model size, not the recipe; a small budget shortens the run (``--steps``/``--epochs``) and the warm-up,
cosine horizon and milestones scale as documented in ``TrainConfig``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from moscale_cli.training.loop import TrainConfig

# Tokenizer (HRVQVAE trainer, method §2.3): AdamW (0.9, 0.99), wd 0, lr 3e-4, linear warm-up over the first
# 2000 iterations, MultiStepLR x0.3 at epochs 300 and 700 of 1000, grad-norm clip 0.5, batch 256.
TOKENIZER_REFERENCE: dict[str, Any] = {
    "epochs": 1000,
    "batch_size": 256,
    "lr": 3e-4,
    "betas": (0.9, 0.99),
    "weight_decay": 0.0,
    "warmup": -1,  # min(2000, total // 10): 2000 iterations on any full-size run
    "warmup_start": 0.0,
    "schedule": "step",
    "milestone_fracs": (0.3, 0.7),  # epochs 300 and 700 of 1000
    "gamma": 0.3,
    "grad_clip": 0.5,
    "seed": 10306,
}
TOKENIZER_STAGE_REFERENCE: dict[str, Any] = {"lambda_pos": 0.5, "lambda_commit": 0.02}

# Generator (method §8): batch 64, AdamW (0.9, 0.98), wd 0.05 (not on biases, norms, embeddings), lr 3e-4,
# linear warm-up over 10 epochs from 0.005 x lr, then a cosine towards 0.01 x lr planned over 250 epochs and
# stopped at epoch 120 (the lr is still about 0.57 x peak there), grad-norm clip 2.0.
GENERATOR_REFERENCE: dict[str, Any] = {
    "epochs": 120,
    "batch_size": 64,
    "lr": 3e-4,
    "betas": (0.9, 0.98),
    "weight_decay": 0.05,
    "warmup": -1,
    "warmup_epochs": 10.0,
    "warmup_start": 0.005,
    "schedule": "cosine",
    "horizon_epochs": 250.0,
    "min_lr_ratio": 0.01,
    "grad_clip": 2.0,
    "seed": 10306,
}
GENERATOR_STAGE_REFERENCE: dict[str, Any] = {"perturb_max": 0.6, "cond_drop": 0.1}

RECIPES: dict[str, dict[str, Any]] = {"tokenizer": TOKENIZER_REFERENCE, "generator": GENERATOR_REFERENCE}


def reference_train_config(stage: str, **overrides: Any) -> TrainConfig:
    """The reference :class:`TrainConfig` of ``stage`` ("tokenizer" or "generator") with ``overrides``."""
    from moscale_cli.training.loop import TrainConfig

    return TrainConfig(**{**RECIPES[stage], **overrides})


__all__ = [
    "GENERATOR_REFERENCE",
    "GENERATOR_STAGE_REFERENCE",
    "RECIPES",
    "TOKENIZER_REFERENCE",
    "TOKENIZER_STAGE_REFERENCE",
    "reference_train_config",
]
