"""Overfit: the tiny tokenizer reconstructs 16 clips to under 10 mm MPJPE (slow: ~90 s on 4 idle CPU cores)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from moscale_cli.cli.common import STATE
from moscale_cli.training.loop import TrainConfig
from moscale_cli.training.tokenizer_stage import TokenizerStageConfig, load_tokenizer_run, train_tokenizer

STEPS = int(os.environ.get("MOSCALE_OVERFIT_STEPS", "1200"))


@pytest.mark.slow
def test_tiny_tokenizer_overfits_16_clips(window_dataset: Path, tmp_path: Path) -> None:
    import torch

    torch.set_num_threads(min(4, os.cpu_count() or 1))
    STATE.quiet = True
    run = tmp_path / "run"
    cfg = TrainConfig(steps=STEPS, batch_size=16, lr=3e-3, warmup=20, schedule="cosine", grad_clip=1.0,
                      val_every=100, save_every=STEPS, seed=0, device="cpu")
    res = train_tokenizer([str(window_dataset)], str(run), "tiny", cfg, TokenizerStageConfig())
    vals = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines() if "val_mpjpe_mm" in x]
    curve = [(v["step"], round(v["val_mpjpe_mm"], 2)) for v in vals]
    print("val MPJPE (mm) per step:", curve)
    assert res["best"] < 10.0, curve
    assert vals[0]["val_mpjpe_mm"] > 2 * res["best"]  # it really learned
    # the exported tokenizer is the best one
    tok, norm = load_tokenizer_run(run)
    assert tok.cfg.n_codes == 128 and norm.dim == 263
