"""Speed benchmark of generation and training with random weights (speed does not depend on training).

Every number is for 196-frame motions, the reference refinement schedule (1, 2, 5, 10) with CFG, and random
text features of the MiniLM width (384, 20 valid tokens); no text encoder is needed. On CUDA, timings use
CUDA events after synchronisation; elsewhere ``time.perf_counter``. Each timing is the median over
``repeats`` runs after ``warmup`` runs.

Sections (``run_bench(cfg)`` returns one dict per row):

- ``latency``: one motion (batch 1) through the plain sampler without and with the KV cache, the fast
  path (:mod:`moscale_cli.sampling.fast`) and the next-token baseline (:mod:`moscale_cli.models.next_token`,
  same preset, one pass per token); seconds per motion.
- ``throughput``: ``batch`` motions at once (plain KV-cache sampler, fast path, next-token); motions/s.
- ``train_tokenizer`` / ``train_generator``: samples/s of full optimizer steps (forward, loss, backward,
  clip, AdamW; bf16 autocast and fused AdamW on CUDA). The generator step includes the frozen tokenizer's
  encoding with cross-scale perturbation.
Peak memory per row: ``torch.cuda.max_memory_allocated`` on CUDA, otherwise ``None``. On the CPU every section
is timed once per thread count of ``threads`` (default 1 and 2: on a shared machine two threads can be much
slower than one, see :class:`moscale_cli.utils.device.ThreadGovernor`); each row records its ``threads``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from moscale_cli.config import ConfigBase
from moscale_cli.errors import ConfigError
from moscale_cli.sampling.config import SamplingConfig

PRESETS = ("tiny", "mini", "small", "base", "large")
TOKENIZER_PRESET = {"tiny": "tiny", "mini": "tiny", "small": "small", "base": "base", "large": "base"}
SECTIONS = ("latency", "throughput", "train_tokenizer", "train_generator")
TEXT_DIM = 384  # MiniLM width
TEXT_TOKENS = 20


@dataclass
class BenchConfig(ConfigBase):
    """What to measure. ``None`` fields get device-dependent defaults (see :meth:`resolved`)."""

    preset: str = "small"
    device: str = "auto"
    batch: int | None = None  # throughput batch: 1024 on CUDA, 8 elsewhere
    repeats: int | None = None  # timed runs per row: 10 on CUDA, 2 elsewhere
    warmup: int | None = None  # untimed runs before: 3 on CUDA, 1 elsewhere
    fast: bool = True
    fast_mode: str | None = None  # graphs on CUDA, eager elsewhere; "compile" with compile=True
    compile: bool = False  # torch.compile the fast sampling pass and the training models
    no_cache_latency: bool = True  # also time the plain sampler without the KV cache at batch 1
    next_token: bool = True  # also time the next-token baseline (same preset, token by token, KV cache)
    frames: int = 196
    sampling: SamplingConfig = field(default_factory=SamplingConfig)  # the reference schedule and CFG by default
    tokenizer_batch: int | None = None  # 256 on CUDA, 8 elsewhere
    generator_batch: int | None = None  # 64 on CUDA, 8 elsewhere
    sections: tuple[str, ...] = SECTIONS
    seed: int = 0
    model: str | None = None  # a model directory (or hub id) to time instead of a random preset (sampling only)
    threads: tuple[int, ...] | None = None  # CPU thread counts to time each row with: (1, 2) on the CPU by default

    def __post_init__(self) -> None:
        if self.model is not None and any(s.startswith("train_") for s in self.sections):
            raise ConfigError("the training sections time a random preset; with a model give --sections latency,throughput")
        if self.preset not in PRESETS:
            raise ConfigError(f"unknown preset '{self.preset}' (choose from {', '.join(PRESETS)})")
        self.sections = tuple(self.sections)
        bad = [s for s in self.sections if s not in SECTIONS]
        if bad:
            raise ConfigError(f"unknown bench section(s) {', '.join(bad)} (choose from {', '.join(SECTIONS)})")
        for name in ("batch", "repeats", "tokenizer_batch", "generator_batch"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ConfigError(f"{name} must be >= 1, got {v}")
        if self.warmup is not None and self.warmup < 0:
            raise ConfigError(f"warmup must be >= 0, got {self.warmup}")
        if self.threads is not None:
            self.threads = tuple(int(t) for t in self.threads)
            if not self.threads or any(t < 1 for t in self.threads):
                raise ConfigError(f"threads must be one or more counts >= 1, got {self.threads}")

    def resolved(self, device: torch.device) -> BenchConfig:
        cuda = device.type == "cuda"
        pick = lambda v, gpu, cpu: v if v is not None else (gpu if cuda else cpu)  # noqa: E731
        mode = self.fast_mode or ("compile" if self.compile else ("graphs" if cuda else "eager"))
        threads = self.threads
        if threads is None:
            from moscale_cli.utils.device import available_cpus

            threads = (torch.get_num_threads(),) if cuda else tuple(range(1, min(2, available_cpus()) + 1))
        return self.replace(batch=pick(self.batch, 1024, 8), repeats=pick(self.repeats, 10, 2),
                            warmup=pick(self.warmup, 3, 1), tokenizer_batch=pick(self.tokenizer_batch, 256, 8),
                            generator_batch=pick(self.generator_batch, 64, 8), fast_mode=mode, threads=threads)


@dataclass
class Timing:
    median_s: float
    times_s: list[float] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------- timing
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_fn(fn: Callable[[], Any], device: torch.device, repeats: int, warmup: int) -> Timing:
    """Median wall time of ``fn`` over ``repeats`` runs after ``warmup`` runs (CUDA events on CUDA)."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b) / 1000.0)
        else:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return Timing(statistics.median(times), times)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_mib(device: torch.device) -> float | None:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return None


# ----------------------------------------------------------------------------------------------- models
def build_models(preset: str, device: torch.device, seed: int = 0) -> tuple[Any, Any]:
    """Random-weight (tokenizer, generator) of a preset, eval mode, on ``device``; the codebook is random."""
    from moscale_cli.models.generator import GeneratorConfig, MoScaleTransformer
    from moscale_cli.models.tokenizer import MSTokenizer, TokenizerConfig

    torch.manual_seed(seed)
    tok = MSTokenizer(TokenizerConfig.preset(TOKENIZER_PRESET[preset]))
    with torch.no_grad():
        tok.codebook.normal_()
        tok.codebook_initialized.fill_(True)
    gen = MoScaleTransformer(GeneratorConfig.preset(preset, tokenizer=tok, text_dim=TEXT_DIM))
    return tok.to(device).eval(), gen.to(device).eval()


def random_text(batch: int, device: torch.device, seed: int = 0, tokens: int = TEXT_TOKENS, dim: int = TEXT_DIM) -> Any:
    """Random text features (MiniLM width by default; all ``tokens`` valid)."""
    from moscale_cli.text.encoder import TextFeatures

    g = torch.Generator().manual_seed(seed)
    t = torch.randn(batch, tokens, dim, generator=g).to(device)
    return TextFeatures(tokens_BSE=t, mask_BS=torch.ones(batch, tokens, dtype=torch.bool, device=device),
                        pooled_BE=t.mean(1))


def _adamw(params: Any, device: torch.device) -> torch.optim.Optimizer:
    fused = device.type == "cuda"
    return torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.98), weight_decay=0.05, fused=fused)


# ----------------------------------------------------------------------------------------------- sections
def _sampling_rows(cfg: BenchConfig, device: torch.device, tok: Any, gen: Any, batch: int, section: str,
                   log: Callable[[str], None]) -> list[dict[str, Any]]:
    from moscale_cli.sampling.fast import FastSampler
    from moscale_cli.sampling.sampler import sample

    text = random_text(batch, device, cfg.seed, tokens=min(TEXT_TOKENS, int(gen.cfg.text_len)), dim=int(gen.cfg.text_dim))
    lengths = [cfg.frames] * batch
    rows = []
    variants: list[tuple[str, Callable[[], Any]]] = []
    next_scale = gen.cfg.arch == "next-scale"
    label = "plain" if next_scale else "next-token"
    if section == "latency" and cfg.no_cache_latency:
        nc = cfg.sampling.replace(use_kv_cache=False)
        variants.append((f"{label}, no cache", lambda: sample(gen, tok, text, lengths, nc, cfg.seed)))
    sc = cfg.sampling
    variants.append((f"{label}, KV cache", lambda: sample(gen, tok, text, lengths, sc, cfg.seed)))
    if cfg.fast and next_scale:
        precision = "bf16" if device.type == "cuda" else "fp32"
        fs = FastSampler(gen, tok, sc, mode=cfg.fast_mode or "eager", precision=precision)
        variants.append((f"fast {cfg.fast_mode} {precision}", lambda: fs.sample(text, lengths, cfg.seed)))
    if cfg.next_token and cfg.model is None:
        from moscale_cli.models.generator import GeneratorConfig
        from moscale_cli.models.next_token import NextTokenTransformer
        from moscale_cli.sampling.next_token import sample_next_token

        torch.manual_seed(cfg.seed)
        ntp = NextTokenTransformer(GeneratorConfig.preset(cfg.preset, tokenizer=tok, text_dim=TEXT_DIM, arch="next-token"))
        ntp = ntp.to(device).eval()
        variants.append(("next-token (KV)", lambda: sample_next_token(ntp, tok, text, lengths, sc, cfg.seed)))
    for name, fn in variants:
        reset_peak(device)
        t = time_fn(fn, device, cfg.repeats or 1, cfg.warmup or 0)
        row = {"section": section, "variant": name, "batch": batch, "median_s": t.median_s, "times_s": t.times_s,
               "motions_per_s": batch / t.median_s, "peak_mib": peak_mib(device)}
        log(f"{section:<16} {name:<28} batch {batch:>5}: {t.median_s * 1000:9.2f} ms  {batch / t.median_s:10.1f} motions/s")
        rows.append(row)
    return rows


def _train_step_rows(
    section: str, loss_fn: Callable[[], torch.Tensor], model: torch.nn.Module, opt: torch.optim.Optimizer,
    clip: float, B: int, cfg: BenchConfig, device: torch.device, log: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Time one AdamW training step (loss under autocast, backward, clip to ``clip``, step); log and return its row."""
    from moscale_cli.utils.device import autocast_context

    def step() -> None:
        with autocast_context(device):
            loss = loss_fn()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()

    reset_peak(device)
    t = time_fn(step, device, cfg.repeats or 1, max(1, cfg.warmup or 0))
    log(f"{section:<16} {'bf16' if device.type == 'cuda' else 'fp32':<28} batch {B:>5}: "
        f"{t.median_s * 1000:9.2f} ms/step {B / t.median_s:10.1f} samples/s")
    return [{"section": section, "variant": "AdamW step", "batch": B, "median_s": t.median_s, "times_s": t.times_s,
             "samples_per_s": B / t.median_s, "peak_mib": peak_mib(device)}]


def train_tokenizer_rows(cfg: BenchConfig, device: torch.device, log: Callable[[str], None]) -> list[dict[str, Any]]:
    from moscale_cli.models.tokenizer import MSTokenizer, TokenizerConfig
    from moscale_cli.motion.skeleton import skeleton_for_dim
    from moscale_cli.training.tokenizer_stage import tokenizer_loss

    torch.manual_seed(cfg.seed)
    tcfg = TokenizerConfig.preset(TOKENIZER_PRESET[cfg.preset])
    model = MSTokenizer(tcfg).to(device).train()
    step_model: Any = torch.compile(model) if cfg.compile else model
    opt = _adamw(model.parameters(), device)
    B = int(cfg.tokenizer_batch or 1)
    feats = torch.randn(B, tcfg.max_frames, tcfg.feature_dim, device=device)
    lengths = torch.full((B,), cfg.frames, device=device, dtype=torch.long)
    batch = {"feats": feats, "lengths": lengths}
    ric = skeleton_for_dim(tcfg.feature_dim).feature_slices()["ric"]

    return _train_step_rows(
        "train_tokenizer", lambda: tokenizer_loss(step_model, batch, ric, 0.5, 0.02)[0], model, opt, 1.0, B, cfg, device, log
    )


def train_generator_rows(cfg: BenchConfig, device: torch.device, tok: Any, log: Callable[[str], None]) -> list[dict[str, Any]]:
    from moscale_cli.models.generator import GeneratorConfig, MoScaleTransformer
    from moscale_cli.training.generator_stage import generator_param_groups, masked_token_loss

    torch.manual_seed(cfg.seed)
    model = MoScaleTransformer(GeneratorConfig.preset(cfg.preset, tokenizer=tok, text_dim=TEXT_DIM)).to(device).train()
    step_model: Any = torch.compile(model) if cfg.compile else model
    opt = _adamw(generator_param_groups(model, 0.05), device)
    B = int(cfg.generator_batch or 1)
    feats = torch.randn(B, tok.max_frames, tok.cfg.feature_dim, device=device)
    lengths = torch.full((B,), cfg.frames, device=device, dtype=torch.long)
    text = random_text(B, device, cfg.seed)

    return _train_step_rows(
        "train_generator",
        lambda: masked_token_loss(step_model, tok, feats, lengths, text, perturb_rate=0.6, cond_drop=0.1)[0],
        model, opt, 2.0, B, cfg, device, log,
    )


def environment(device: torch.device) -> dict[str, Any]:
    env: dict[str, Any] = {"torch": torch.__version__, "device": str(device), "threads": torch.get_num_threads()}
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
        env["cuda"] = torch.version.cuda
    return env


def run_bench(cfg: BenchConfig, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the selected sections; returns ``{"config", "env", "params", "rows"}`` (JSON-serialisable)."""
    from moscale_cli.models.layers import count_parameters
    from moscale_cli.utils.device import resolve_device

    log = log or (lambda s: None)
    device = resolve_device(cfg.device)
    cfg = cfg.resolved(device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if cfg.model is not None:
        from moscale_cli.model_dir import load_model_dir, resolve_model

        lm = load_model_dir(resolve_model(cfg.model), device=device, with_length=False)
        tok, gen = lm.tokenizer, lm.generator
        cfg = cfg.replace(sampling=cfg.sampling.for_model(lm.config.get("sampling")))
    else:
        tok, gen = build_models(cfg.preset, device, cfg.seed)
    rows: list[dict[str, Any]] = []
    before = torch.get_num_threads()
    try:
        for n in cfg.threads or (before,):
            torch.set_num_threads(n)
            if len(cfg.threads or ()) > 1:
                log(f"{n} thread{'s' if n > 1 else ''}:")
            new: list[dict[str, Any]] = []
            if "latency" in cfg.sections:
                new += _sampling_rows(cfg, device, tok, gen, 1, "latency", log)
            if "throughput" in cfg.sections:
                new += _sampling_rows(cfg.replace(no_cache_latency=False), device, tok, gen, int(cfg.batch or 1),
                                      "throughput", log)
            if "train_tokenizer" in cfg.sections:
                new += train_tokenizer_rows(cfg, device, log)
            if "train_generator" in cfg.sections:
                new += train_generator_rows(cfg, device, tok, log)
            rows += [{**r, "threads": n} for r in new]
    finally:
        torch.set_num_threads(before)
    return {"config": cfg.to_dict(), "env": environment(device),
            "params": {"generator": count_parameters(gen), "tokenizer": count_parameters(tok)},
            "rows": rows}


__all__ = ["BenchConfig", "PRESETS", "SECTIONS", "build_models", "random_text", "run_bench", "time_fn"]
