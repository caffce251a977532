"""Tokenizer training throughput: samples/s and peak memory per preset, on CPU (and CUDA when available).

    python benchmarks/bench_tokenizer.py [--presets tiny,small,base] [--batch-size 32] [--steps 5] [--devices cpu,cuda]

Each (preset, device) runs in its own subprocess so that the CPU peak (VmHWM) belongs to that preset alone.
A training step = forward (train mode: Gumbel choice, EMA codebook update) + masked loss + backward +
AdamW step, on random smooth 196-frame clips; bf16 autocast on CUDA, fp32 on CPU.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_one(preset: str, device: str, batch_size: int, steps: int, threads: int) -> dict:
    import torch

    from moscale_cli.models.tokenizer import MSTokenizer, TokenizerConfig
    from moscale_cli.training.tokenizer_stage import tokenizer_loss
    from moscale_cli.utils.device import autocast_context

    torch.set_num_threads(threads)
    dev = torch.device(device)
    torch.manual_seed(0)
    model = MSTokenizer(TokenizerConfig.preset(preset)).to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.99))
    x = torch.nn.functional.interpolate(torch.randn(batch_size, 263, 30), size=196, mode="linear").transpose(1, 2).contiguous()
    lengths = torch.randint(10, 50, (batch_size,)) * 4
    batch = {"feats": x.to(dev), "lengths": lengths.to(dev)}

    def step() -> None:
        with autocast_context(dev):
            loss, _ = tokenizer_loss(model, batch, slice(4, 67), 0.5, 0.02)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()

    step()  # warm-up (codebook init, allocator)
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(dev)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else _peak_rss_mb()
    return {"preset": preset, "device": device, "batch_size": batch_size, "steps": steps,
            "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
            "samples_per_s": steps * batch_size / dt, "peak_mem_mb": peak,
            "peak_kind": "cuda max_memory_allocated" if dev.type == "cuda" else "process peak RSS"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="tiny,small,base")
    ap.add_argument("--devices", default="cpu,cuda")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="print one JSON object per line")
    ap.add_argument("--one", nargs=2, metavar=("PRESET", "DEVICE"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(run_one(a.one[0], a.one[1], a.batch_size, a.steps, a.threads)))
        return
    import torch

    devices = [d for d in a.devices.split(",") if d == "cpu" or (d.startswith("cuda") and torch.cuda.is_available())]
    if not a.json:
        print(f"{'preset':<7} {'device':<7} {'params':>8} {'batch':>5} {'samples/s':>10} {'peak MB':>9}  (peak)")
    for dev in devices:
        for preset in a.presets.split(","):
            cmd = [sys.executable, __file__, "--one", preset, dev, "--batch-size", str(a.batch_size),
                   "--steps", str(a.steps), "--threads", str(a.threads)]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                print(f"{preset} {dev}: failed: {p.stderr.strip().splitlines()[-1] if p.stderr else p.returncode}")
                continue
            r = json.loads(p.stdout.strip().splitlines()[-1])
            if a.json:
                print(json.dumps(r))
            else:
                print(f"{r['preset']:<7} {r['device']:<7} {r['params_M']:>7.2f}M {r['batch_size']:>5} "
                      f"{r['samples_per_s']:>10.1f} {r['peak_mem_mb']:>9.0f}  ({r['peak_kind']})")


if __name__ == "__main__":
    main()
