"""Run a micro tokenizer training (used by the resume test in a subprocess): DATA OUT STEPS [--resume]."""

from __future__ import annotations

import sys

import torch

from moscale_cli.cli.common import STATE
from moscale_cli.training.loop import TrainConfig
from moscale_cli.training.tokenizer_stage import TokenizerStageConfig, train_tokenizer

MICRO = dict(width=32, code_dim=32, n_codes=64, depth=1, heads=2)


def main() -> None:
    torch.set_num_threads(1)
    STATE.quiet = True
    data, out, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cfg = TrainConfig(steps=steps, batch_size=4, lr=1e-3, warmup=3, save_every=4, val_every=8, keep_last=2, seed=3, device="cpu")
    stage_cfg = TokenizerStageConfig(val_max_items=4)
    train_tokenizer([data], out, "tiny", cfg, stage_cfg, resume="--resume" in sys.argv, **MICRO)


if __name__ == "__main__":
    main()
