"""Run a micro tokenizer training (used by the resume test in a subprocess): DATA OUT STEPS [--resume]
[--block-at N MARKER]: after logging step N, write MARKER and block until killed (so the test kills at a
known step, whatever the machine's load)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

import moscale_cli.training.loop as loop
from moscale_cli.training.loop import TrainConfig
from moscale_cli.training.tokenizer_stage import TokenizerStageConfig, train_tokenizer
from moscale_cli.utils.console import STATE

MICRO = dict(width=32, code_dim=32, n_codes=64, depth=1, heads=2)


def main() -> None:
    torch.set_num_threads(1)
    STATE.quiet = True
    data, out, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if "--block-at" in sys.argv:
        i = sys.argv.index("--block-at")
        block_at, marker = int(sys.argv[i + 1]), Path(sys.argv[i + 2])
        orig = loop.Trainer._log

        def _log(self, rec):
            orig(self, rec)
            if rec.get("step") == block_at and "loss" in rec:
                marker.write_text(str(block_at))
                time.sleep(3600)  # wait for the SIGKILL

        loop.Trainer._log = _log
    cfg = TrainConfig(steps=steps, batch_size=4, lr=1e-3, warmup=3, save_every=4, val_every=8, keep_last=2, seed=3, device="cpu")
    stage_cfg = TokenizerStageConfig(val_max_items=4)
    train_tokenizer([data], out, "tiny", cfg, stage_cfg, resume="--resume" in sys.argv, **MICRO)


if __name__ == "__main__":
    main()
