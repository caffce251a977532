"""Overfit: a micro tokenizer learns to reconstruct 8 windows of a real clip (val MPJPE 3x lower than after 100
steps and under 25 mm after 500; about 30 s on one idle core)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from moscale_cli.model_dir import load_tokenizer_run
from moscale_cli.training.loop import TrainConfig
from moscale_cli.training.tokenizer_stage import TokenizerStageConfig, train_tokenizer

STEPS = int(os.environ.get("MOSCALE_OVERFIT_STEPS", "500"))
MICRO = dict(width=32, code_dim=32, n_codes=64, depth=1, heads=2)


@pytest.fixture
def eight_windows(hml_fixture_dir: Path, tmp_path: Path) -> Path:
    import numpy as np
    from tests_training_helpers import make_window_dataset

    feats = np.load(hml_fixture_dir / "new_joint_vecs" / "012314.npy")
    return make_window_dataset(tmp_path / "data", feats, hml_fixture_dir, n=8, length=48)


@pytest.mark.slow
def test_micro_tokenizer_overfits_8_windows(eight_windows: Path, tmp_path: Path, quiet) -> None:
    run = tmp_path / "run"
    cfg = TrainConfig(steps=STEPS, batch_size=8, lr=3e-3, warmup=20, schedule="cosine", grad_clip=1.0,
                      val_every=100, save_every=STEPS, seed=0, device="cpu")
    res = train_tokenizer([str(eight_windows)], str(run), "tiny", cfg, TokenizerStageConfig(), **MICRO)
    vals = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines() if "val_mpjpe_mm" in x]
    curve = [(v["step"], round(v["val_mpjpe_mm"], 2)) for v in vals]
    print("val MPJPE (mm) per step:", curve)
    assert res["best"] < 25.0, curve
    assert vals[0]["val_mpjpe_mm"] > 3 * res["best"], curve  # it really learned
    # the exported tokenizer is the best one
    tok, norm = load_tokenizer_run(run)
    assert tok.cfg.n_codes == 64 and norm.dim == 263
