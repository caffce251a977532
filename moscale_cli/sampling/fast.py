"""The static-cache runner of the refinement loop: fixed shapes, mask-free self-attention, bf16 weights, CUDA graphs.

:class:`StaticRunner` implements :class:`~moscale_cli.sampling.sampler.ScaleRunner`, so the one loop of
:func:`~moscale_cli.sampling.sampler.sample` (its schedule, editing, logit hook and random streams) runs on it;
what changes is how each transformer pass runs:

- **Static KV cache.** One key/value buffer per layer covers the whole sequence (all scales). Every pass
  writes its keys/values at its own positions and attends to ``buffer[:end]``.
- **No attention mask.** The finished scale k-1 is *committed* by its own pass (its positions attend to
  the cache + themselves). Scale k's refinement passes then attend to the cache + scale k. Both are
  mask-free (bidirectional within the scale, the prefix before it), so SDPA can pick flash attention.
  Padded keys are not masked, as in the reference and in the eager runner. Only the text cross-attention
  keeps its key-padding mask.
- **Fixed shapes.** The text is padded to ``text_len`` tokens; padded text keys are masked, so this is
  exact. Each (scale, pass kind) has one shape, so ``mode="graphs"`` captures every pass once in a
  ``torch.cuda.CUDAGraph`` and replays it. Without a logit hook the graph also runs CFG, filtering and the
  softmaxes (``fused_distributions``); with one it computes the logits and the loop does the rest. The
  multinomial draws run outside, from the rows' generators, so with fp32 weights the ids are the eager runner's.
- **bf16 weights** (``precision="bf16"``): a copy of the generator is cast to bfloat16 once; the output head
  stays fp32. This avoids autocast's per-pass weight casts, which CUDA graphs cannot cache.

``mode``: ``"eager"`` (any device), ``"graphs"`` (CUDA only) or ``"compile"`` (``torch.compile`` of the
pass function, ``mode="default"``, one compiled graph per pass shape).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from moscale_cli.errors import ConfigError, UsageError
from moscale_cli.models.generator import MASK_ID, MoScaleTransformer, TextCond, TrunkCond
from moscale_cli.models.tokenizer import MSTokenizer
from moscale_cli.sampling.draw import Dists, Seeds, distributions, guide
from moscale_cli.sampling.sampler import EditSpec, Lengths, LogitHook, SampleResult, SamplingConfig, sample

if TYPE_CHECKING:
    from moscale_cli.text.features import TextFeatures

MODES = ("eager", "graphs", "compile")
PRECISIONS = ("fp32", "bf16")


@dataclass
class _Static:
    """Fixed-address tensors of one (rows, guided) configuration."""

    text: TextCond  # text K/V source, mask, start tokens, condition
    cond: TrunkCond  # per-block modulations and text keys/values
    k_cache: list[torch.Tensor]  # per layer (R, H, seq_len, hd)
    v_cache: list[torch.Tensor]
    ids: list[torch.Tensor]  # per scale (R, L_k) input ids
    ctx: list[torch.Tensor | None]  # per scale (R, C, L_k) coarse context (None for scale 0)


class StaticRunner:
    """Static-cache runner for one generator (see the module doc). Buffers and graphs are built per (rows,
    guided) configuration on first use and reused by later batches of that size."""

    def __init__(self, generator: MoScaleTransformer, mode: str = "eager", precision: str = "fp32") -> None:
        if mode not in MODES:
            raise ConfigError(f"unknown fast-sampling mode '{mode}' (choose from {', '.join(MODES)})")
        if precision not in PRECISIONS:
            raise ConfigError(f"unknown precision '{precision}' (choose from {', '.join(PRECISIONS)})")
        if generator.training:
            raise ValueError("put the generator in eval mode before sampling")
        self.device = next(generator.parameters()).device
        if mode == "graphs" and self.device.type != "cuda":
            raise UsageError("CUDA graphs need a CUDA device (use mode='eager' or 'compile')")
        self.mode, self.precision = mode, precision
        self.dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        self.model = generator
        if precision == "bf16":
            self.model = copy.deepcopy(generator).to(torch.bfloat16).eval()
            self.model.trunk.float_head()
        self._static: dict[tuple[int, bool], _Static] = {}
        self._graphs: dict[Hashable, tuple[torch.cuda.CUDAGraph, Dists | torch.Tensor | None]] = {}
        self._compiled: Callable[[_Static, int, bool], torch.Tensor | None] | None = None
        self._pool: tuple[int, int] | None = None
        self.st: _Static | None = None
        self.key: tuple[int, bool] = (0, False)
        self.fused_distributions = self._fused if mode == "graphs" else None

    def autocast(self) -> torch.autocast:
        """bf16 autocast for the tokenizer decode of a bf16 runner on CUDA, else a no-op."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16" and self.device.type == "cuda")

    # ------------------------------------------------------------------ static state
    def _make_static(self, R: int, S: int) -> _Static:
        m, dev, dt = self.model, self.device, self.dtype
        E, W, H, hd, C = m.cfg.latent_dim, m.cfg.width, m.cfg.heads, m.cfg.head_dim, m.cfg.code_dim
        L1, N, depth = m.scale_lengths[0], m.cfg.seq_len, m.cfg.depth
        z = lambda *s, d=dt: torch.zeros(*s, device=dev, dtype=d)  # noqa: E731
        return _Static(
            text=TextCond(kv_BSE=z(R, S, E), mask_BS=torch.ones(R, S, dtype=torch.bool, device=dev),
                          start_BLE=z(R, L1, E), cond_BE=z(R, E)),
            cond=TrunkCond([tuple(z(R, 1, W) for _ in range(6)) for _ in range(depth)],
                           [(z(R, H, S, hd), z(R, H, S, hd)) for _ in range(depth)]),
            k_cache=[z(R, H, N, hd) for _ in range(depth)],
            v_cache=[z(R, H, N, hd) for _ in range(depth)],
            ids=[torch.full((R, L), MASK_ID, dtype=torch.long, device=dev) for L in m.scale_lengths],
            ctx=[None] + [z(R, C, L, d=torch.float32) for L in m.scale_lengths[1:]],
        )

    @torch.no_grad()
    def begin(self, tokens_RSD: torch.Tensor, mask_RS: torch.Tensor, drop_R: torch.Tensor | None) -> None:
        """Load the text rows into the static buffers of their (rows, guided) configuration."""
        m, S = self.model, self.model.cfg.text_len
        if tokens_RSD.shape[1] > S:
            raise ConfigError(f"text has {tokens_RSD.shape[1]} tokens but the generator accepts at most {S}")
        pad = S - tokens_RSD.shape[1]  # fixed shapes: pad the text; padded keys are masked, so this is exact
        tokens, mask = F.pad(tokens_RSD, (0, 0, 0, pad)), F.pad(mask_RS.bool(), (0, pad), value=False)
        self.key = (tokens.shape[0], drop_R is not None)
        if self.key not in self._static:
            self._static[self.key] = self._make_static(tokens.shape[0], S)
        st = self.st = self._static[self.key]
        text = m.prepare_text(tokens.to(self.dtype), mask, drop_R)
        for name in ("kv_BSE", "mask_BS", "start_BLE", "cond_BE"):
            getattr(st.text, name).copy_(getattr(text, name))
        cond = m.trunk.condition(text)
        for dst, src in zip(st.cond.mods + st.cond.text_kvs, cond.mods + cond.text_kvs, strict=True):
            for d, s in zip(dst, src, strict=True):
                d.copy_(s)

    # ------------------------------------------------------------------ one transformer pass
    def _forward(self, st: _Static, k: int, commit: bool) -> torch.Tensor | None:
        """Run scale ``k`` from ``st.ids[k]`` / ``st.ctx[k]``; ``commit`` stores its keys/values (no head)."""
        m = self.model
        x = m.embed_scale(k, st.ids[k], st.ctx[k], st.text)
        s, e = m.offsets[k], m.offsets[k + 1]
        past = None if s == 0 else [(kc[:, :, :s], vc[:, :, :s]) for kc, vc in zip(st.k_cache, st.v_cache, strict=True)]
        out, kv = m.trunk(x, s, st.text, None, past, st.cond, head=not commit)
        if not commit:
            return out
        for kc, vc, (kk, vv) in zip(st.k_cache, st.v_cache, kv, strict=True):
            kc[:, :, s:e].copy_(kk)
            vc[:, :, s:e].copy_(vv)
        return None

    def _run(self, k: int, ids_RL: torch.Tensor, context_RCL: torch.Tensor | None, commit: bool,
             fuse: tuple[int, float, SamplingConfig] | None = None) -> Dists | torch.Tensor | None:
        st = self.st
        if st is None:
            raise ValueError("call begin() with the text rows first")
        st.ids[k].copy_(ids_RL)
        if context_RCL is not None:
            st.ctx[k].copy_(context_RCL)

        def fn() -> Dists | torch.Tensor | None:
            out = self._forward(st, k, commit)
            if fuse is None or out is None:
                return out
            B, t, cfg = fuse
            return distributions(guide(out.float(), B, t), cfg)

        if self.mode == "eager":
            return fn()
        if self.mode == "compile":
            return self._compiled_forward()(st, k, commit)
        f = None if fuse is None else (fuse[0], fuse[1], fuse[2].temperature, fuse[2].top_k, fuse[2].top_p, fuse[2].min_p)
        gkey = (self.key, k, commit, f)
        if gkey not in self._graphs:
            self._graphs[gkey] = self._capture(fn)
        g, out = self._graphs[gkey]
        g.replay()
        return out

    def _compiled_forward(self) -> Callable[[_Static, int, bool], torch.Tensor | None]:
        if self._compiled is None:
            import torch._dynamo

            for name in ("recompile_limit", "cache_size_limit"):  # one compiled graph per pass shape
                if hasattr(torch._dynamo.config, name):
                    setattr(torch._dynamo.config, name, max(getattr(torch._dynamo.config, name), 64))
            self._compiled = torch.compile(self._forward, mode="default", dynamic=False)
        return self._compiled

    def _capture(self, fn: Callable[[], Dists | torch.Tensor | None]) -> tuple[torch.cuda.CUDAGraph, Dists | torch.Tensor | None]:
        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        s = torch.cuda.Stream(device=self.device)
        s.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(s):
            for _ in range(2):
                fn()
        torch.cuda.current_stream(self.device).wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g, pool=self._pool):
            out = fn()
        return g, out

    # ------------------------------------------------------------------ the runner interface
    @torch.no_grad()
    def logits(self, k: int, ids_RL: torch.Tensor, context_RCL: torch.Tensor | None) -> torch.Tensor:
        """Raw logits (R, L_k, K) of scale ``k`` (float32; a graph's output buffer in graphs mode)."""
        out = self._run(k, ids_RL, context_RCL, False)
        assert isinstance(out, torch.Tensor)
        return out.clone() if self.mode == "graphs" else out  # the graph's buffer is rewritten by the next replay

    @torch.no_grad()
    def commit(self, k: int, ids_RL: torch.Tensor, context_RCL: torch.Tensor | None) -> None:
        """Store scale ``k``'s keys/values (its final ids) in the static cache."""
        self._run(k, ids_RL, context_RCL, True)

    @torch.no_grad()
    def _fused(self, k: int, ids_RL: torch.Tensor, context_RCL: torch.Tensor | None, batch: int, t: float,
               cfg: SamplingConfig) -> Dists:
        out = self._run(k, ids_RL, context_RCL, False, (batch, t, cfg))
        assert isinstance(out, tuple)
        return out


class FastSampler:
    """A :class:`StaticRunner` with its tokenizer and sampling settings: ``sample(text_features, lengths, seed)``
    is :func:`~moscale_cli.sampling.sampler.sample` on the static runner (editing and hooks included)."""

    def __init__(self, generator: MoScaleTransformer, tokenizer: MSTokenizer, cfg: SamplingConfig | None = None,
                 mode: str = "eager", precision: str = "fp32") -> None:
        self.cfg = cfg or SamplingConfig()
        n_scales = len(generator.scale_lengths)
        if len(self.cfg.refine_steps) != n_scales:
            raise ConfigError(f"refine steps {self.cfg.refine_steps} must give one count for each of the {n_scales} scales")
        self.generator, self.tokenizer = generator, tokenizer
        self.runner = StaticRunner(generator, mode, precision)

    @property
    def model(self) -> MoScaleTransformer:
        """The generator the runner runs (a bf16 copy with ``precision="bf16"``)."""
        return self.runner.model

    def sample(self, text_features: TextFeatures | None, lengths_frames: Lengths, generator_seed: Seeds = 0,
               null_tokens: int = 16, batch_size: int | None = None, edit: EditSpec | None = None,
               hook: LogitHook | None = None) -> SampleResult:
        return sample(self.generator, self.tokenizer, text_features, lengths_frames, self.cfg, generator_seed, edit,
                      null_tokens, batch_size, hook, self.runner)


def default_fast(device: torch.device) -> tuple[str, str]:
    """The fast path's defaults on ``device``: CUDA -> (graphs, bf16); otherwise (eager, fp32)."""
    return ("graphs", "bf16") if device.type == "cuda" else ("eager", "fp32")


def fast_sample(generator: MoScaleTransformer, tokenizer: MSTokenizer, text_features: TextFeatures | None,
                lengths_frames: Lengths, cfg: SamplingConfig | None = None, generator_seed: Seeds = 0,
                mode: str | None = None, precision: str | None = None) -> SampleResult:
    """One-shot fast sampling (defaults: :func:`default_fast`)."""
    dm, dp = default_fast(next(generator.parameters()).device)
    return FastSampler(generator, tokenizer, cfg, mode or dm, precision or dp).sample(text_features, lengths_frames, generator_seed)


__all__ = ["MODES", "PRECISIONS", "FastSampler", "StaticRunner", "default_fast", "fast_sample"]
