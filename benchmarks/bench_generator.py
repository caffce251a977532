"""Generator speed: sampling latency (batch 1), sampling throughput (batch 32) and training steps/s.

    python benchmarks/bench_generator.py                              # tiny and small on CPU
    python benchmarks/bench_generator.py --presets tiny small base large --device cuda
    python benchmarks/bench_generator.py --presets small --batches 1 8 --repeat 5 --json out/bench_gen.json

Random weights (speed does not depend on them); 196 frames, refinement (1, 2, 5, 10) = 18 passes, CFG on
(doubled batch), with and without the KV cache; the time includes the tokenizer's decoding. Training: one
AdamW step of the masked-token objective (tokenizer encode + quantise with perturbation + generator
forward/backward) at ``--train-batch``. On CUDA, bf16 autocast is used for both (as in the package).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import torch

TOKENIZER_FOR = {"tiny": "tiny", "small": "small", "base": "base", "large": "base"}


@dataclass
class Text:
    tokens_BSE: torch.Tensor
    mask_BS: torch.Tensor


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_preset(name: str, device: torch.device, batches: list[int], repeat: int, train_batch: int,
                 train_steps: int, text_tokens: int) -> dict:
    from moscale_cli.models.generator import GeneratorConfig, MoScaleTransformer
    from moscale_cli.models.layers import count_parameters
    from moscale_cli.models.tokenizer import MSTokenizer, TokenizerConfig
    from moscale_cli.sampling.sampler import SamplingConfig, generation_passes, sample
    from moscale_cli.training.generator_stage import generator_param_groups, masked_token_loss
    from moscale_cli.utils.device import autocast_context

    torch.manual_seed(0)
    tok = MSTokenizer(TokenizerConfig.preset(TOKENIZER_FOR[name])).to(device).eval()
    with torch.no_grad():
        tok.codebook.normal_()
    gen = MoScaleTransformer(GeneratorConfig.preset(name, tokenizer=tok)).to(device).eval()
    res: dict = {"preset": name, "params_M": count_parameters(gen) / 1e6, "device": str(device), "sampling": []}
    dim = gen.cfg.text_dim
    for B in batches:
        text = Text(torch.randn(B, text_tokens, dim, device=device), torch.ones(B, text_tokens, dtype=torch.bool, device=device))
        for cache in (True, False):
            cfg = SamplingConfig(use_kv_cache=cache)
            sample(gen, tok, text, [196] * B, cfg, 0)  # warm-up
            _sync(device)
            times = []
            for r in range(repeat):
                t0 = time.perf_counter()
                sample(gen, tok, text, [196] * B, cfg, r)
                _sync(device)
                times.append(time.perf_counter() - t0)
            best = min(times)
            res["sampling"].append({"batch": B, "kv_cache": cache, "passes": generation_passes(cfg), "seconds": best,
                                    "samples_per_s": B / best})
    if train_steps > 0:
        gen.train()
        opt = torch.optim.AdamW(generator_param_groups(gen, 0.05), lr=1e-4)
        feats = torch.randn(train_batch, 196, tok.cfg.feature_dim, device=device)
        lengths = torch.randint(40, 197, (train_batch,), device=device) // 4 * 4
        text = Text(torch.randn(train_batch, text_tokens, dim, device=device),
                    torch.ones(train_batch, text_tokens, dtype=torch.bool, device=device))

        def step() -> None:
            with autocast_context(device):
                loss, _ = masked_token_loss(gen, tok, feats, lengths, text, 0.6, 0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        step()
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(train_steps):
            step()
        _sync(device)
        dt = (time.perf_counter() - t0) / train_steps
        res["training"] = {"batch": train_batch, "steps_per_s": 1 / dt, "samples_per_s": train_batch / dt}
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", nargs="+", default=["tiny", "small"], choices=list(TOKENIZER_FOR))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per setting (best is reported)")
    ap.add_argument("--train-batch", type=int, default=32)
    ap.add_argument("--train-steps", type=int, default=5, help="timed training steps (0 = skip)")
    ap.add_argument("--text-tokens", type=int, default=16)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = leave)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)

    from moscale_cli.utils.device import resolve_device

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    results = []
    for name in args.presets:
        r = bench_preset(name, device, args.batches, args.repeat, args.train_batch, args.train_steps, args.text_tokens)
        results.append(r)
        print(f"{name} ({r['params_M']:.1f} M params, {r['device']})")
        for s in r["sampling"]:
            print(f"  sample batch {s['batch']:3d}  kv_cache={'on ' if s['kv_cache'] else 'off'}  {s['passes']} passes  "
                  f"{s['seconds'] * 1000:9.1f} ms  {s['samples_per_s']:8.2f} samples/s")
        if "training" in r:
            t = r["training"]
            print(f"  train batch {t['batch']:3d}  {t['steps_per_s']:.2f} steps/s  {t['samples_per_s']:.1f} samples/s")
    if args.json:
        from moscale_cli.utils.atomic import write_json_atomic

        write_json_atomic(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

