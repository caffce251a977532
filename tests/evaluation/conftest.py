"""Helpers for evaluation tests: an official-layout evaluator folder built from random weights."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

GLOVE_WORDS = ["sos", "eos", "unk", "a", "person", "walk", "forward", "left", "jump", "the", "run", "arm", "wave"]


def write_glove(d: Path, dim: int = 300, seed: int = 0) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    np.save(d / "our_vab_data.npy", rng.normal(size=(len(GLOVE_WORDS), dim)).astype(np.float32))
    (d / "our_vab_words.pkl").write_bytes(pickle.dumps(list(GLOVE_WORDS)))
    (d / "our_vab_idx.pkl").write_bytes(pickle.dumps({w: i for i, w in enumerate(GLOVE_WORDS)}))
    return d


def official_state(dim_pose: int = 263, seed: int = 0) -> dict:
    from moscale_cli.models.evaluator import OfficialEvaluator

    torch.manual_seed(seed)
    m = OfficialEvaluator(dim_pose)
    return {
        "movement_encoder": m.movement_encoder.state_dict(),
        "text_encoder": m.text_encoder.state_dict(),
        "motion_encoder": m.motion_encoder.state_dict(),
        "opt_text_encoder": {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0, 1]}]},
        "opt_motion_encoder": {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0, 1]}]},
        "epoch": 7,
        "iter": 1234,
    }


def write_official_dir(root: Path, dim_pose: int = 263, state: dict | None = None, meta: bool = True) -> Path:
    """checkpoints/t2m layout + glove/ beside checkpoints (momask-codes layout)."""
    t2m = root / "checkpoints" / "t2m"
    (t2m / "text_mot_match" / "model").mkdir(parents=True)
    torch.save(state if state is not None else official_state(dim_pose), t2m / "text_mot_match" / "model" / "finest.tar")
    if meta:
        (t2m / "Comp_v6_KLD005" / "meta").mkdir(parents=True)
        rng = np.random.default_rng(1)
        np.save(t2m / "Comp_v6_KLD005" / "meta" / "mean.npy", rng.normal(size=dim_pose).astype(np.float32))
        np.save(t2m / "Comp_v6_KLD005" / "meta" / "std.npy", rng.uniform(0.5, 2, size=dim_pose).astype(np.float32))
    write_glove(root / "glove")
    return t2m


@pytest.fixture
def official_dir(tmp_path) -> Path:
    return write_official_dir(tmp_path / "official")
