"""Fast sampling path: static KV cache, mask-free self-attention, bf16 weights and CUDA graphs.

Same algorithm and random stream as :func:`moscale_cli.sampling.sampler.sample` (method §4.2, §5); what
changes is how each transformer pass runs:

- **Static KV cache.** One key/value buffer per layer covers the whole sequence (all scales). Every pass
  writes its keys/values at its own positions and attends to ``buffer[:end]``.
- **No attention mask.** The finished scale k-1 is *committed* by its own pass (its positions attend to
  the cache + themselves). Scale k's refinement passes then attend to the cache + scale k. Both are
  mask-free (bidirectional within the scale, the prefix before it), so SDPA can pick flash attention.
  Padded keys are not masked, as in the reference and in the plain path. Only the text cross-attention
  keeps its key-padding mask.
- **Fixed shapes.** The text is padded to ``text_len`` tokens; padded text keys are masked, so this is
  exact. Each (scale, pass kind) has one shape, so ``mode="graphs"`` captures every pass once in a
  ``torch.cuda.CUDAGraph`` and replays it. CFG, top-k/top-p filtering and the softmaxes run inside the
  graph. The multinomial draw runs outside, with the same ``torch.Generator`` as :func:`sample`, so with
  fp32 weights the fast path gives the same ids as the plain path.
- **bf16 weights** (``precision="bf16"``): the trunk is cast to bfloat16 once; the output head stays
  fp32. This avoids autocast's per-pass weight casts, which CUDA graphs cannot cache.

``mode``: ``"eager"`` (any device), ``"graphs"`` (CUDA only) or ``"compile"`` (``torch.compile`` of the
pass function, ``mode="default"``, one compiled graph per pass shape).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from moscale_cli.errors import ConfigError, UsageError
from moscale_cli.models.generator import MASK_ID, PAD_ID, MoScaleTransformer, TextCond
from moscale_cli.models.layers import length_mask
from moscale_cli.sampling.sampler import (
    LOCKED_SCORE,
    SampleResult,
    SamplingConfig,
    check_lengths,
    distributions,
    draw,
    guide,
    mask_counts,
    text_rows,
    torch_generator,
)

MODES = ("eager", "graphs", "compile")
PRECISIONS = ("fp32", "bf16")


@dataclass
class _Static:
    """Fixed-address tensors of one (batch, text length) configuration."""

    text: TextCond  # start tokens, condition, text K/V source (static buffers)
    mods: list[tuple[torch.Tensor, ...]]
    text_kvs: list[tuple[torch.Tensor, torch.Tensor]]
    k_cache: list[torch.Tensor]  # per layer (R, H, seq_len, hd)
    v_cache: list[torch.Tensor]
    ids: list[torch.Tensor]  # per scale (R, L_k) input ids
    ctx: list[torch.Tensor | None]  # per scale (R, C, L_k) coarse context (None for scale 0)


def sampling_dists(logits: torch.Tensor, batch: int, t: float, cfg: SamplingConfig) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(confidence probabilities, draw probabilities or ``None`` for greedy) of a pass, as ``sample_ids``."""
    return distributions(guide(logits.float(), batch, t), cfg)


def _inputs_to_fp32(module: torch.nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(a.float() if torch.is_tensor(a) and a.is_floating_point() else a for a in args)


class FastSampler:
    """Reusable fast sampler for one generator/tokenizer pair (see the module doc).

    ``sample(text_features, lengths_frames, seed)`` returns a :class:`SampleResult` like :func:`sample`.
    Static buffers and graphs are built per (batch, guided) configuration on first use and reused."""

    def __init__(
        self,
        generator: MoScaleTransformer,
        tokenizer: Any,
        cfg: SamplingConfig | None = None,
        mode: str = "eager",
        precision: str = "fp32",
    ) -> None:
        if mode not in MODES:
            raise ConfigError(f"unknown fast-sampling mode '{mode}' (choose from {', '.join(MODES)})")
        if precision not in PRECISIONS:
            raise ConfigError(f"unknown precision '{precision}' (choose from {', '.join(PRECISIONS)})")
        if generator.training:
            raise ValueError("put the generator in eval mode before sampling")
        self.device = next(generator.parameters()).device
        if mode == "graphs" and self.device.type != "cuda":
            raise UsageError("CUDA graphs need a CUDA device (use mode='eager' or 'compile')")
        self.cfg = cfg or SamplingConfig()
        n_scales = len(generator.scale_lengths)
        if len(self.cfg.refine_steps) != n_scales:
            raise ConfigError(f"refine steps {self.cfg.refine_steps} must give one count for each of the {n_scales} scales")
        self.mode = mode
        self.precision = precision
        self.tokenizer = tokenizer
        self.model = self._prepare_model(generator, precision)
        self.dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        self._static: dict[tuple[int, bool], _Static] = {}
        self._graphs: dict[tuple[int, bool], dict[tuple[str, int], tuple[Any, Any]]] = {}
        self._compiled: Callable[..., Any] | None = None
        self._pool: Any = None

    @staticmethod
    def _prepare_model(model: MoScaleTransformer, precision: str) -> MoScaleTransformer:
        if precision == "fp32":
            return model
        m = copy.deepcopy(model).to(torch.bfloat16)
        for mod in (m.head, m.head_ada):  # the output head stays fp32 (also in m.forward / m.run_blocks)
            mod.float()
            mod.register_forward_pre_hook(_inputs_to_fp32)
        return m.eval()

    # ------------------------------------------------------------------ static state
    def _make_static(self, R: int, S: int) -> _Static:
        m, dev, dt = self.model, self.device, self.dtype
        E, W, H, hd, C = m.cfg.latent_dim, m.cfg.width, m.cfg.heads, m.cfg.head_dim, m.cfg.code_dim
        L1, N = m.scale_lengths[0], m.cfg.seq_len
        z = lambda *s, d=dt: torch.zeros(*s, device=dev, dtype=d)  # noqa: E731
        text = TextCond(kv_BSE=z(R, S, E), mask_BS=torch.ones(R, S, dtype=torch.bool, device=dev),
                        start_BLE=z(R, L1, E), cond_BE=z(R, E))
        depth = len(m.blocks)
        return _Static(
            text=text,
            mods=[tuple(z(R, 1, W) for _ in range(6)) for _ in range(depth)],
            text_kvs=[(z(R, H, S, hd), z(R, H, S, hd)) for _ in range(depth)],
            k_cache=[z(R, H, N, hd) for _ in range(depth)],
            v_cache=[z(R, H, N, hd) for _ in range(depth)],
            ids=[torch.full((R, L), MASK_ID, dtype=torch.long, device=dev) for L in m.scale_lengths],
            ctx=[None] + [z(R, C, L, d=torch.float32) for L in m.scale_lengths[1:]],
        )

    @torch.no_grad()
    def _load_text(self, st: _Static, tokens: torch.Tensor, mask: torch.Tensor, drop: torch.Tensor | None) -> None:
        m = self.model
        text = m.prepare_text(tokens.to(self.dtype), mask, drop)
        st.text.kv_BSE.copy_(text.kv_BSE)
        st.text.mask_BS.copy_(text.mask_BS)
        st.text.start_BLE.copy_(text.start_BLE)
        st.text.cond_BE.copy_(text.cond_BE)
        for i, blk in enumerate(m.blocks):
            for dst, src in zip(st.mods[i], blk.modulation(text.cond_BE), strict=True):
                dst.copy_(src)
            for dst, src in zip(st.text_kvs[i], blk.text_kv(text.kv_BSE), strict=True):
                dst.copy_(src)

    # ------------------------------------------------------------------ one transformer pass
    def _forward(self, st: _Static, k: int, commit: bool) -> torch.Tensor | None:
        """Run scale ``k`` from ``st.ids[k]`` / ``st.ctx[k]``; ``commit`` stores its keys/values (no head)."""
        m = self.model
        x = m.embed_scale(k, st.ids[k], st.ctx[k], st.text)
        s, e = m.offsets[k], m.offsets[k + 1]
        cos, sin = m.rope_cos[s:e], m.rope_sin[s:e]
        tmask = st.text.mask_BS[:, None, None, :]
        for i, blk in enumerate(m.blocks):
            past = None if s == 0 else (st.k_cache[i][:, :, :s], st.v_cache[i][:, :, :s])
            x, (kk, vv) = blk(x, st.mods[i], cos, sin, None, st.text_kvs[i], tmask, past)
            if commit:
                st.k_cache[i][:, :, s:e].copy_(kk)
                st.v_cache[i][:, :, s:e].copy_(vv)
        if commit:
            return None
        return m.head_logits(x.float(), st.text.cond_BE.float())  # the head stays fp32

    def _pass_fn(self, st: _Static, k: int, commit: bool, batch: int) -> Callable[[], Any]:
        t = self.cfg.guidance(k)

        def fn() -> Any:
            out = self._forward(st, k, commit)
            if commit:
                return None
            return sampling_dists(out, batch, t, self.cfg)

        return fn

    def _runner(self, key: tuple[int, bool], st: _Static, k: int, commit: bool, batch: int) -> Callable[[], Any]:
        fn = self._pass_fn(st, k, commit, batch)
        if self.mode == "eager":
            return fn
        if self.mode == "compile":
            if self._compiled is None:
                import torch._dynamo

                for name in ("recompile_limit", "cache_size_limit"):  # one compiled graph per pass shape
                    if hasattr(torch._dynamo.config, name):
                        setattr(torch._dynamo.config, name, max(getattr(torch._dynamo.config, name), 64))
                self._compiled = torch.compile(self._forward, mode="default", dynamic=False)
            t = self.cfg.guidance(k)
            comp = self._compiled

            def cfn() -> Any:
                out = comp(st, k, commit)
                return None if commit else sampling_dists(out, batch, t, self.cfg)

            return cfn
        graphs = self._graphs.setdefault(key, {})
        gkey = ("commit" if commit else "pass", k)
        if gkey not in graphs:
            graphs[gkey] = self._capture(fn)
        g, out = graphs[gkey]

        def replay() -> Any:
            g.replay()
            return out

        return replay

    def _capture(self, fn: Callable[[], Any]) -> tuple[Any, Any]:
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

    # ------------------------------------------------------------------ the sampling loop
    @torch.no_grad()
    def sample(
        self,
        text_features: Any,
        lengths_frames: Any,
        generator_seed: int | torch.Generator = 0,
        null_tokens: int = 16,
        batch_size: int | None = None,
    ) -> SampleResult:
        """Generate token maps and normalised features (same contract as :func:`sample`, no editing)."""
        m, cfg, dev, tok = self.model, self.cfg, self.device, self.tokenizer
        S = m.cfg.text_len
        tokens, mask, drop, B = text_rows(m, text_features, lengths_frames, cfg, null_tokens, batch_size, dev)
        if text_features is not None:
            mask = mask.bool()
        guided = drop is not None
        if tokens.shape[1] > S:
            raise ConfigError(f"text has {tokens.shape[1]} tokens but the generator accepts at most {S}")
        if tokens.shape[1] < S:  # fixed shapes: pad the text; padded keys are masked, so this is exact
            pad = S - tokens.shape[1]
            tokens = F.pad(tokens, (0, 0, 0, pad))
            mask = F.pad(mask, (0, pad), value=False)
        lengths = check_lengths(lengths_frames, tok, B, dev)
        gen = torch_generator(generator_seed, dev)

        rep = 2 if guided else 1
        key = (B, guided)
        if key not in self._static:
            self._static[key] = self._make_static(rep * B, S)
        st = self._static[key]
        self._load_text(st, tokens, mask, drop)

        valid = tok.valid_lengths(lengths)
        fhat = None
        out_ids: list[torch.Tensor] = []
        n_scales = len(m.scale_lengths)
        for k, L in enumerate(m.scale_lengths):
            pad_k = ~length_mask(valid[k].to(dev), L)
            ids = torch.full((B, L), MASK_ID, dtype=torch.long, device=dev).masked_fill(pad_k, PAD_ID)
            scores = torch.zeros(B, L, device=dev).masked_fill(pad_k, LOCKED_SCORE)
            run = self._runner(key, st, k, False, B)
            for n in mask_counts(cfg.refine_steps[k], L):
                ranks = scores.argsort(dim=1, stable=True).argsort(dim=1)
                remask = (ranks < n) & (scores < LOCKED_SCORE)
                in_ids = ids.masked_fill(remask, MASK_ID)
                st.ids[k].copy_(in_ids.repeat(rep, 1))
                probs, draw_probs = run()
                new, prob = draw(probs, draw_probs, gen)
                ids = torch.where(remask, new, ids)
                scores = torch.where(remask, prob, torch.full_like(prob, LOCKED_SCORE))
            out_ids.append(ids)
            contrib = tok.ids_to_contribution(ids, k, lengths).float()
            fhat = contrib if fhat is None else fhat + contrib
            if k + 1 < n_scales:
                st.ids[k].copy_(ids.repeat(rep, 1))
                self._runner(key, st, k, True, B)()
                st.ctx[k + 1].copy_(tok.coarse_context(fhat, k + 1).repeat(rep, 1, 1))
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=self.precision == "bf16" and dev.type == "cuda"):
            feats = tok.decode_latent(fhat, lengths)
        return SampleResult(ids=out_ids, feats=feats.float(), lengths=lengths, fhat=fhat)


def fast_sample(
    generator: MoScaleTransformer,
    tokenizer: Any,
    text_features: Any,
    lengths_frames: Any,
    cfg: SamplingConfig | None = None,
    generator_seed: int | torch.Generator = 0,
    mode: str | None = None,
    precision: str | None = None,
) -> SampleResult:
    """One-shot fast sampling. Defaults: CUDA -> graphs + bf16; otherwise eager + fp32."""
    dev = next(generator.parameters()).device
    mode = mode or ("graphs" if dev.type == "cuda" else "eager")
    precision = precision or ("bf16" if dev.type == "cuda" else "fp32")
    return FastSampler(generator, tokenizer, cfg, mode=mode, precision=precision).sample(
        text_features, lengths_frames, generator_seed)


__all__ = ["MODES", "PRECISIONS", "FastSampler", "fast_sample", "sampling_dists"]
