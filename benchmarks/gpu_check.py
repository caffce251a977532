"""One-shot GPU check of the speed work: run everything GPU-related once, print as it goes.

    python benchmarks/gpu_check.py                      # CUDA, presets base + small, ~6 min on an H100
    python benchmarks/gpu_check.py --device cpu --quick # smoke test of the script itself

Sections (each in try/except with its own time cap; a failed or timed-out section prints the error and the
script goes on): environment; fast-vs-plain agreement (ids with the same seed, fp32 and bf16, fp32 with a
logit hook, which moves guidance and filtering out of the CUDA graph; logits of fp32 vs bf16); batch-1
latency (plain without / with KV cache, fast eager, fast CUDA graphs, next-token baseline); throughput at batch 256 / 1024; tokenizer training (batch 256, bf16) and generator training (batch 64, bf16, fused
AdamW, tokenizer perturbation); a torch.profiler top-10 of one batch-1 sampling (plain and fast); the
torch.compile fast path last (slowest to warm up). ``--json OUT`` writes all results.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
import traceback
from contextlib import contextmanager
from typing import Any

import torch

from moscale_cli.bench import (
    BenchConfig,
    build_models,
    random_text,
    time_fn,
    train_generator_rows,
    train_tokenizer_rows,
)
from moscale_cli.models.generator import GeneratorConfig
from moscale_cli.models.next_token import NextTokenTransformer
from moscale_cli.sampling.fast import FastSampler
from moscale_cli.sampling.next_token import sample_next_token
from moscale_cli.sampling.sampler import SamplingConfig, sample

RESULTS: dict[str, Any] = {}
T0 = time.perf_counter()


def say(*a: Any) -> None:
    print(*a, flush=True)


class SectionTimeout(Exception):
    pass


@contextmanager
def section(name: str, cap_s: float, budget_s: float):
    """Run a section with a SIGALRM cap; skip it when the global budget is spent; never raise."""
    left = budget_s - (time.perf_counter() - T0)
    say(f"\n=== {name} (cap {cap_s:.0f} s, {left:.0f} s of budget left) ===")
    if left < 5:
        say("  skipped: budget spent")
        yield False
        return
    cap = max(1, int(min(cap_s, left)))

    def on_alarm(signum: int, frame: Any) -> None:
        raise SectionTimeout(f"section '{name}' hit its {cap} s cap")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(cap)
    t = time.perf_counter()
    try:
        yield True
    except SectionTimeout as e:
        say(f"  TIMEOUT: {e}")
        RESULTS.setdefault("errors", []).append(str(e))
    except Exception as e:  # noqa: BLE001 - report and continue with the next section
        say(f"  ERROR in {name}: {type(e).__name__}: {e}")
        traceback.print_exc(limit=6, file=sys.stdout)
        RESULTS.setdefault("errors", []).append(f"{name}: {type(e).__name__}: {e}")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
        say(f"  ({time.perf_counter() - t:.1f} s)")


def peaky(gen: torch.nn.Module) -> torch.nn.Module:
    """Random weights give near-uniform logits; sharpen them so that id agreement means something."""
    with torch.no_grad():
        for b in gen.trunk.blocks:
            b.ada[1].bias.normal_(0, 0.5)
        gen.trunk.head.weight.mul_(30)
    return gen


def agreement(device: torch.device, preset: str, quick: bool) -> None:
    tok, gen = build_models(preset, device, 0)
    peaky(gen)
    B = 2 if quick else 8
    text = random_text(B, device, 1)
    lengths = [196, 120] * (B // 2)
    fp32 = SamplingConfig(autocast=False)
    ref = sample(gen, tok, text, lengths, fp32, 7)
    modes = ["eager"] + (["graphs"] if device.type == "cuda" else [])
    for mode in modes:
        out = FastSampler(gen, tok, fp32, mode=mode, precision="fp32").sample(text, lengths, 7)
        same = [bool(torch.equal(a, b)) for a, b in zip(ref.ids, out.ids, strict=True)]
        rate = [float((a == b).float().mean()) for a, b in zip(ref.ids, out.ids, strict=True)]
        say(f"  fp32 fast[{mode}] vs plain fp32: identical ids per scale {same}, agreement {[f'{r:.3f}' for r in rate]}")
        RESULTS[f"agree_fp32_{mode}"] = rate
        hooked = FastSampler(gen, tok, fp32, mode=mode, precision="fp32").sample(text, lengths, 7, hook=lambda p: None)
        same = [bool(torch.equal(a, b)) for a, b in zip(ref.ids, hooked.ids, strict=True)]
        say(f"  fp32 fast[{mode}] with a (no-op) logit hook vs plain fp32: identical ids per scale {same}")
        RESULTS[f"agree_fp32_{mode}_hook"] = same
    if device.type == "cuda":
        plain_bf16 = sample(gen, tok, text, lengths, SamplingConfig(), 7)
        for mode in modes:
            out = FastSampler(gen, tok, SamplingConfig(), mode=mode, precision="bf16").sample(text, lengths, 7)
            rate = [float((a == b).float().mean()) for a, b in zip(ref.ids, out.ids, strict=True)]
            rate2 = [float((a == b).float().mean()) for a, b in zip(plain_bf16.ids, out.ids, strict=True)]
            say(f"  bf16 fast[{mode}] vs plain fp32 agreement {[f'{r:.3f}' for r in rate]}; vs plain bf16 autocast {[f'{r:.3f}' for r in rate2]}")
            RESULTS[f"agree_bf16_{mode}"] = rate
        rate = [float((a == b).float().mean()) for a, b in zip(ref.ids, plain_bf16.ids, strict=True)]
        say(f"  plain bf16 autocast vs plain fp32 agreement {[f'{r:.3f}' for r in rate]}")
        RESULTS["agree_plain_bf16_vs_fp32"] = rate
    # logits: one teacher-forced pass, fp32 vs bf16 autocast vs bf16 weights (fast path's precision)
    g = torch.Generator(device="cpu").manual_seed(3)
    ids = [torch.randint(0, gen.cfg.codebook_size, (B, n), generator=g).to(device) for n in gen.scale_lengths]
    ctx = [None] + [torch.randn(B, gen.cfg.code_dim, n, generator=g).to(device) for n in gen.scale_lengths[1:]]
    with torch.no_grad():
        l32 = gen(ctx, ids, text.tokens_BSE, text.mask_BS).float()
        variants = {}
        if device.type == "cuda":
            with torch.autocast("cuda", dtype=torch.bfloat16):
                variants["bf16 autocast"] = gen(ctx, ids, text.tokens_BSE, text.mask_BS).float()
        fs = FastSampler(gen, tok, SamplingConfig(), mode="eager", precision="bf16")
        variants["bf16 weights (fast path)"] = fs.model(ctx, ids, text.tokens_BSE.bfloat16(), text.mask_BS).float()
    for name, lv in variants.items():
        d = (lv - l32).abs()
        am = float((lv.argmax(-1) == l32.argmax(-1)).float().mean())
        say(f"  logits {name} vs fp32: max |diff| {float(d.max()):.4f}, mean {float(d.mean()):.5f}, "
            f"logit std {float(l32.std()):.3f}, argmax agreement {am:.4f}")
        RESULTS[f"logits_{name}"] = {"max_abs": float(d.max()), "mean_abs": float(d.mean()), "argmax_agree": am}


def sampling_speed(device: torch.device, preset: str, batches: list[int], quick: bool, with_compile: bool = False) -> None:
    tok, gen = build_models(preset, device, 0)
    ntp = NextTokenTransformer(GeneratorConfig.preset(preset, tokenizer=tok, arch="next-token")).to(device).eval()
    for B in batches:
        text = random_text(B, device, 0)
        lengths = [196] * B
        rep, warm = (1, 1) if quick else ((10, 3) if B == 1 else (3, 1))
        variants: list[tuple[str, Any]] = []
        if B == 1 and not with_compile:
            nc = SamplingConfig(use_kv_cache=False)
            variants.append(("plain no-cache", lambda nc=nc, text=text, lengths=lengths: sample(gen, tok, text, lengths, nc, 0)))
        sc = SamplingConfig()
        if not with_compile:
            variants.append(("plain KV cache", lambda sc=sc, text=text, lengths=lengths: sample(gen, tok, text, lengths, sc, 0)))
        prec = "bf16" if device.type == "cuda" else "fp32"
        if with_compile:
            modes = ["compile"]
        elif device.type == "cuda":
            modes = ["eager", "graphs"] if B == 1 else ["graphs"]
        else:
            modes = ["eager"]
        for mode in modes:
            fs = FastSampler(gen, tok, sc, mode=mode, precision=prec)
            variants.append((f"fast {mode} {prec}", lambda fs=fs, text=text, lengths=lengths: fs.sample(text, lengths, 0)))
        if not with_compile:
            variants.append(("next-token KV cache", lambda sc=sc, text=text, lengths=lengths: sample_next_token(ntp, tok, text, lengths, sc, 0)))
        for name, fn in variants:
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            t0 = time.perf_counter()
            t = time_fn(fn, device, rep, warm)
            mem = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else float("nan")
            say(f"  {preset:<5} batch {B:>5} {name:<22} {t.median_s * 1000:9.2f} ms  {B / t.median_s:10.1f} motions/s  "
                f"peak {mem:8.0f} MiB  (total {time.perf_counter() - t0:.1f} s incl. warm-up/capture)")
            RESULTS.setdefault("sampling", []).append({"preset": preset, "batch": B, "variant": name, "median_s": t.median_s,
                                                       "motions_per_s": B / t.median_s, "peak_mib": mem})


def training_speed(device: torch.device, preset: str, quick: bool) -> None:
    cuda = device.type == "cuda"
    cfg = BenchConfig(preset=preset, device=str(device), repeats=1 if quick else 5, warmup=1 if quick else 2,
                      tokenizer_batch=256 if cuda else 4, generator_batch=64 if cuda else 4).resolved(device)
    rows = train_tokenizer_rows(cfg, device, lambda s: say("  " + s))
    tok, _ = build_models(preset, device, 0)
    rows += train_generator_rows(cfg, device, tok, lambda s: say("  " + s))
    for r in rows:
        say(f"    peak memory {r['peak_mib']} MiB" if r["peak_mib"] is not None else "    (no CUDA memory stats)")
    RESULTS.setdefault("training", []).extend({k: v for k, v in r.items() if k != "times_s"} | {"preset": preset} for r in rows)


def profile(device: torch.device, preset: str) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as tprofile

    tok, gen = build_models(preset, device, 0)
    text = random_text(1, device, 0)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    sort = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
    runs = [("plain KV cache", lambda: sample(gen, tok, text, [196], SamplingConfig(), 0))]
    if device.type == "cuda":
        fs = FastSampler(gen, tok, SamplingConfig(), mode="graphs", precision="bf16")
        runs.append(("fast graphs bf16", lambda: fs.sample(text, [196], 0)))
    for name, fn in runs:
        fn()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        with tprofile(activities=acts) as prof:
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
        say(f"  --- {name}: top 10 by {sort} ---")
        say(prof.key_averages().table(sort_by=sort, row_limit=10, max_name_column_width=50))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--quick", action="store_true", help="tiny preset, batch <= 8, one repeat (smoke test)")
    ap.add_argument("--budget", type=float, default=360.0, help="total seconds; later sections are skipped past it")
    ap.add_argument("--presets", default="base,small")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        say("CUDA requested but not available")
        return 2
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    if device.type == "cpu":
        torch.set_num_threads(1)  # intra-op threads stall on a shared machine
    presets = ["tiny"] if args.quick else [p.strip() for p in args.presets.split(",") if p.strip()]
    big = presets[0]
    budget = args.budget
    f = 0.1 if args.quick else 1.0  # quick caps scale with the work

    with section("environment", 30, budget) as ok:
        if ok:
            info = {"python": sys.version.split()[0], "torch": torch.__version__, "cuda": torch.version.cuda,
                    "device": str(device)}
            if device.type == "cuda":
                p = torch.cuda.get_device_properties(device)
                info |= {"gpu": p.name, "capability": f"{p.major}.{p.minor}", "memory_gib": round(p.total_memory / 2**30, 1),
                         "cudnn": torch.backends.cudnn.version(), "flash_sdp": torch.backends.cuda.flash_sdp_enabled(),
                         "mem_efficient_sdp": torch.backends.cuda.mem_efficient_sdp_enabled()}
            else:
                info["threads"] = torch.get_num_threads()
            for k, v in info.items():
                say(f"  {k}: {v}")
            RESULTS["env"] = info

    with section(f"agreement fast vs plain ({big})", 45, budget) as ok:
        if ok:  # TF32 off: fp32 paths with different matmul shapes must agree exactly
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
            try:
                agreement(device, big, args.quick)
            finally:
                torch.backends.cuda.matmul.allow_tf32 = True
                torch.backends.cudnn.allow_tf32 = True

    for preset in presets:
        with section(f"batch-1 latency ({preset})", 50 if preset == big else 30, budget) as ok:
            if ok:
                sampling_speed(device, preset, [1], args.quick)
    batches = [8] if args.quick or device.type != "cuda" else [256, 1024]
    with section(f"throughput ({big}, batch {batches})", 90, budget) as ok:
        if ok:
            sampling_speed(device, big, batches, args.quick)
    with section(f"training speed ({big})", 60, budget) as ok:
        if ok:
            training_speed(device, big, args.quick)
    with section(f"profile batch-1 sampling ({big})", 40, budget) as ok:
        if ok:
            profile(device, big)
    if len(presets) > 1:
        with section(f"throughput ({presets[1]}, batch {batches[-1:]})", 30, budget) as ok:
            if ok:
                sampling_speed(device, presets[1], batches[-1:], args.quick)
    with section(f"torch.compile fast path, batch 1 ({big})", max(20, 120 * f), budget) as ok:
        if ok:
            sampling_speed(device, big, [1], args.quick, with_compile=True)

    say(f"\ntotal {time.perf_counter() - T0:.1f} s; errors: {len(RESULTS.get('errors', []))}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(RESULTS, fh, indent=2, default=str)
        say(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
