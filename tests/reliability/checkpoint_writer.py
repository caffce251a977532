"""A micro tokenizer training for the fault matrix (run in a subprocess, not a test module):
``DATA OUT STEPS [--resume] [--block-in NAME MARKER]``. With ``--block-in``, writing the checkpoint folder NAME's
model.safetensors stops half-way (half the bytes written to the temporary file), MARKER is written and the
process waits to be killed: a kill in the middle of a checkpoint write, whatever the machine's load."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import safetensors.torch
import torch

from moscale_cli.training.loop import TrainConfig
from moscale_cli.training.tokenizer_stage import TokenizerStageConfig, train_tokenizer
from moscale_cli.utils.console import STATE

MICRO = dict(width=32, code_dim=32, n_codes=64, depth=1, heads=2)


def main() -> None:
    torch.set_num_threads(1)
    STATE.quiet = True
    data, out, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if "--block-in" in sys.argv:
        i = sys.argv.index("--block-in")
        folder, marker = sys.argv[i + 1], Path(sys.argv[i + 2])
        real = safetensors.torch.save_file

        def save_file(tensors, filename, metadata=None):  # noqa: ANN001 - the library's signature
            if f".tmp-{folder}" in str(filename) and "model.safetensors" in str(filename):
                real(tensors, filename, metadata=metadata)
                data = Path(filename).read_bytes()
                Path(filename).write_bytes(data[: len(data) // 2])  # half a file under the temporary name
                marker.write_text(str(filename))
                time.sleep(3600)  # wait for the SIGKILL
            return real(tensors, filename, metadata=metadata)

        safetensors.torch.save_file = save_file
    cfg = TrainConfig(steps=steps, batch_size=4, lr=1e-3, warmup=3, save_every=4, val_every=8, keep_last=2, seed=3,
                      device="cpu")
    train_tokenizer([data], out, "tiny", cfg, TokenizerStageConfig(val_max_items=4), resume="--resume" in sys.argv,
                    **MICRO)


if __name__ == "__main__":
    main()
