"""The MoScale generator: a next-scale transformer over the tokenizer's multi-scale token maps.

Method spec: docs moscale-method.md §3 (architecture), §4.2 / §5 (inference through :class:`ScaleDecoder`).

Sequence layout: the token maps of all scales, coarse to fine, concatenated (reference: 6 | 12 | 24 | 49 = 91
positions). Each position gets two input streams, concatenated and projected to the block width:

- the *coarse context*: scale 1 -> the start tokens pooled from the text; scale k > 1 -> a linear projection
  of the tokenizer's area-downsampled accumulated latent of the coarser scales (``tokenizer.coarse_context``);
- the *token stream*: the scale's own token ids through a learned table (ids ``-2`` = [MASK], ``-1`` = [PAD]).

Self-attention is block-causal across scales and full within a scale; RoPE uses scale-normalised positions
(position p of a scale of length L sits at step round(p * N / L) of the finest grid). AdaLN conditions every
block on the max-pooled start tokens; each block also cross-attends to the text tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from moscale_cli.config import ConfigBase
from moscale_cli.errors import ConfigError
from moscale_cli.models.layers import apply_rope, rope_cos_sin

MASK_ID = -2
PAD_ID = -1


@dataclass
class GeneratorConfig(ConfigBase):
    """Generator sizes. ``preset('base')`` is the reference (16 x 768, latent 384, 8 heads)."""

    arch: str = "next-scale"
    latent_dim: int = 384  # width of the condition vector and of the two input streams
    width: int = 768  # width of the transformer blocks
    depth: int = 16
    heads: int = 8
    mlp_ratio: float = 4.0
    dropout: float = 0.1
    attn_dropout: float = 0.0
    drop_path: float = 0.1 * 16 / 24  # linear 0 -> drop_path over the blocks
    attn_scale: float = 0.25  # softmax scale = attn_scale / sqrt(head_dim) (VAR's 0.25)
    rope_base: float = 10000.0
    text_dim: int = 384  # width of the text encoder's token features (MiniLM: 384)
    text_len: int = 32  # most text tokens accepted (= rows of the learned null text)
    pool_heads: int = 3  # heads of the start-token text pool (latent_dim must divide by it)
    cond_drop: float = 0.1  # per-sample probability of the null text in training (CFG)
    codebook_size: int = 512
    code_dim: int = 512
    scale_lengths: tuple[int, ...] = (6, 12, 24, 49)
    n_grid: int = 49

    def __post_init__(self) -> None:
        self.scale_lengths = tuple(int(s) for s in self.scale_lengths)
        if self.arch not in ("next-scale", "next-token"):  # next-token: the baseline of models/next_token.py
            raise ConfigError(f"GeneratorConfig: unknown arch '{self.arch}' (choose next-scale or next-token)")
        if not self.scale_lengths or min(self.scale_lengths) < 1:
            raise ConfigError(f"GeneratorConfig: bad scale_lengths {self.scale_lengths}")
        if self.width % self.heads or (self.width // self.heads) % 2:
            raise ConfigError(f"GeneratorConfig: width {self.width} / heads {self.heads} must give an even head dim")
        if self.latent_dim % self.pool_heads:
            raise ConfigError(f"GeneratorConfig: latent_dim {self.latent_dim} is not divisible by pool_heads {self.pool_heads}")
        if not 0.0 <= self.cond_drop < 1.0:
            raise ConfigError(f"GeneratorConfig: cond_drop must lie in [0, 1), got {self.cond_drop}")

    @property
    def head_dim(self) -> int:
        return self.width // self.heads

    @property
    def seq_len(self) -> int:
        return sum(self.scale_lengths)

    @classmethod
    def preset(cls, name: str, tokenizer: Any = None, **overrides: Any) -> GeneratorConfig:
        """A named size; codebook size / code dim / scales come from ``tokenizer`` (an ``MSTokenizer``) if given."""
        presets: dict[str, dict[str, Any]] = {
            "tiny": dict(latent_dim=64, width=128, depth=2, heads=4, pool_heads=2, drop_path=0.0),
            "mini": dict(latent_dim=96, width=192, depth=4, heads=4, pool_heads=2, drop_path=0.0),
            "small": dict(latent_dim=256, width=384, depth=6, heads=6, pool_heads=4, drop_path=0.05),
            "base": {},
            "large": dict(latent_dim=512, width=1024, depth=24, heads=16, pool_heads=4, drop_path=0.1),
        }
        if name not in presets:
            raise ConfigError(f"unknown generator preset '{name}' (choose from {', '.join(presets)})")
        d = dict(presets[name])
        if tokenizer is not None:
            d.update(tokenizer_fields(tokenizer))
        d.update(overrides)
        return cls(**d)


def tokenizer_fields(tokenizer: Any) -> dict[str, Any]:
    """The generator-config fields fixed by a tokenizer (codebook size, code dim, scale lengths, grid)."""
    K, C = tokenizer.codebook.shape
    return dict(codebook_size=int(K), code_dim=int(C), scale_lengths=tuple(int(s) for s in tokenizer.scale_lengths),
                n_grid=int(tokenizer.n_grid))


@dataclass
class TextCond:
    """Prepared text condition: token features for cross-attention, start tokens and the AdaLN vector."""

    kv_BSE: torch.Tensor  # text tokens after RMSNorm + MLP (latent_dim)
    mask_BS: torch.Tensor  # True = valid token
    start_BLE: torch.Tensor  # start tokens of scale 1 (L_1 x latent_dim)
    cond_BE: torch.Tensor  # max over the start tokens


# ----------------------------------------------------------------------------------------------- helpers
def block_causal_mask(scale_lengths: tuple[int, ...] | list[int], device: Any = None) -> torch.Tensor:
    """Bool (L, L): True where query i may attend key j (scale(j) <= scale(i))."""
    lvl = torch.cat([torch.full((n,), k, dtype=torch.long) for k, n in enumerate(scale_lengths)])
    return (lvl[None, :] <= lvl[:, None]).to(device)


def scale_positions(scale_lengths: tuple[int, ...] | list[int], n_grid: int) -> torch.Tensor:
    """Canonical (finest-grid) step of every sequence position: round(p * N / L_k), clamped to [0, N - 1]."""
    pos = [torch.round(torch.arange(n, dtype=torch.float64) * n_grid / n).clamp(0, n_grid - 1) for n in scale_lengths]
    return torch.cat(pos).long()


def _drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    if p <= 0.0 or not training:
        return x
    keep = torch.empty(x.shape[0], *([1] * (x.dim() - 1)), device=x.device, dtype=x.dtype).bernoulli_(1 - p)
    return x * keep / (1 - p)


class _TextPool(nn.Module):
    """MultiQueryTextPool: ``n_queries`` learned queries cross-attend to the (normed) text tokens."""

    def __init__(self, n_queries: int, text_dim: int, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.queries = nn.Parameter(torch.zeros(n_queries, dim))
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(text_dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, text_BSD: torch.Tensor, mask_BS: torch.Tensor) -> torch.Tensor:
        B, S, _ = text_BSD.shape
        H = self.heads
        q = self.q(self.queries).view(1, -1, H, self.queries.shape[1] // H).transpose(1, 2).expand(B, -1, -1, -1)
        k, v = self.kv(text_BSD).view(B, S, 2, H, -1).permute(2, 0, 3, 1, 4)
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask_BS[:, None, None, :])
        return self.proj(o.transpose(1, 2).reshape(B, -1, self.queries.shape[1]))


class _Block(nn.Module):
    """AdaLN self-attention (block mask + RoPE) -> text cross-attention -> AdaLN FFN (method §3.3)."""

    def __init__(self, cfg: GeneratorConfig, drop_path: float) -> None:
        super().__init__()
        W, E = cfg.width, cfg.latent_dim
        self.heads, self.head_dim = cfg.heads, cfg.head_dim
        self.scale = cfg.attn_scale / math.sqrt(cfg.head_dim)
        self.attn_dropout = cfg.attn_dropout
        self.drop_path = drop_path
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(E, 6 * W))
        self.ln1 = nn.LayerNorm(W, eps=1e-6, elementwise_affine=False)
        self.qkv = nn.Linear(W, 3 * W)
        self.proj = nn.Linear(W, W)
        self.ln_x = nn.LayerNorm(W, eps=1e-6)
        self.xq = nn.Linear(W, W)
        self.xk = nn.Linear(E, W, bias=False)
        self.xv = nn.Linear(E, W)
        self.xproj = nn.Linear(W, W)
        self.ln2 = nn.LayerNorm(W, eps=1e-6, elementwise_affine=False)
        hidden = int(round(W * cfg.mlp_ratio))
        self.fc1 = nn.Linear(W, hidden)
        self.fc2 = nn.Linear(hidden, W)
        self.drop = nn.Dropout(cfg.dropout)

    def modulation(self, cond_BE: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(gamma1, gamma2, scale1, scale2, shift1, shift2), each (B, 1, W)."""
        return tuple(m.unsqueeze(1) for m in self.ada(cond_BE).chunk(6, dim=-1))

    def text_kv(self, text_BSE: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, S, _ = text_BSE.shape
        k = self.xk(text_BSE).view(B, S, self.heads, self.head_dim).transpose(1, 2)
        v = self.xv(text_BSE).view(B, S, self.heads, self.head_dim).transpose(1, 2)
        return k, v

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        B, N, _ = x.shape
        return x.view(B, N, self.heads, self.head_dim).transpose(1, 2)

    def forward(
        self,
        x: torch.Tensor,
        mod: tuple[torch.Tensor, ...],
        cos: torch.Tensor,
        sin: torch.Tensor,
        attn_mask: torch.Tensor | None,
        text_kv: tuple[torch.Tensor, torch.Tensor],
        text_mask: torch.Tensor,
        past: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """``x`` (B, N, W) holds the positions after the ``past`` keys/values (B, H, P, hd).

        Returns the new x and this call's (rotated) keys/values, so the caller can extend a cache."""
        g1, g2, s1, s2, b1, b2 = mod
        B, N, W = x.shape
        h = self.ln1(x) * (1 + s1) + b1
        q, k, v = self.qkv(h).view(B, N, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        kv_new = (k, v)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        drop = self.attn_dropout if self.training else 0.0
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=drop, scale=self.scale)
        a = self.drop(self.proj(a.transpose(1, 2).reshape(B, N, W)))
        x = x + _drop_path(g1 * a, self.drop_path, self.training)

        q = self._heads(self.xq(self.ln_x(x)))
        c = F.scaled_dot_product_attention(q, text_kv[0], text_kv[1], attn_mask=text_mask, dropout_p=drop)
        c = self.drop(self.xproj(c.transpose(1, 2).reshape(B, N, W)))
        x = x + _drop_path(c, self.drop_path, self.training)

        h = self.ln2(x) * (1 + s2) + b2
        f = self.drop(self.fc2(F.gelu(self.fc1(h), approximate="tanh")))
        x = x + _drop_path(g2 * f, self.drop_path, self.training)
        return x, kv_new


# ----------------------------------------------------------------------------------------------- shared parts
# The next-scale generator and the next-token baseline (models/next_token.py) share the text layers, the trunk,
# the head, the RoPE tables and the init; each adds its own input layers between the text layers and the trunk.


def add_text_layers(model: nn.Module, cfg: GeneratorConfig, start_tokens: int) -> None:
    """Register the text layers (norm, MLP, learned null text, pooling into ``start_tokens`` start tokens)."""
    E = cfg.latent_dim
    model.text_norm = nn.RMSNorm(cfg.text_dim, eps=1e-6)
    model.text_mlp = nn.Sequential(nn.Linear(cfg.text_dim, E), nn.GELU(approximate="tanh"), nn.Linear(E, E))
    model.cfg_uncond = nn.Parameter(torch.empty(cfg.text_len, cfg.text_dim))
    model.text_pool = _TextPool(start_tokens, cfg.text_dim, E, cfg.pool_heads)


def add_trunk_and_head(model: nn.Module, cfg: GeneratorConfig) -> None:
    """Register the level embedding, the ``cfg.depth`` blocks and the AdaLN output head."""
    E, W = cfg.latent_dim, cfg.width
    model.lvl_embed = nn.Embedding(len(cfg.scale_lengths), W)
    dpr = torch.linspace(0, cfg.drop_path, cfg.depth).tolist()
    model.blocks = nn.ModuleList([_Block(cfg, p) for p in dpr])
    model.head_ada = nn.Sequential(nn.SiLU(), nn.Linear(E, 2 * W))
    model.head_ln = nn.LayerNorm(W, eps=1e-6, elementwise_affine=False)
    model.head = nn.Linear(W, cfg.codebook_size)


def add_rope(model: nn.Module, cfg: GeneratorConfig) -> None:
    """Register the RoPE tables of every token position (``rope_cos``, ``rope_sin``; not saved)."""
    cos, sin = rope_cos_sin(scale_positions(list(cfg.scale_lengths), cfg.n_grid), cfg.head_dim, cfg.rope_base)
    model.register_buffer("rope_cos", cos, persistent=False)
    model.register_buffer("rope_sin", sin, persistent=False)


def init_weights(model: nn.Module, *extra: nn.Parameter) -> None:
    """Method §3.3 init: truncated normals (std sqrt(1/3E)) for Linear/Embedding weights, zero biases, the null
    text at std 1.2 / sqrt(text_dim), ``extra`` parameters and the pool queries at std, a small head and
    depth-scaled residual projections."""
    cfg = model.cfg
    std = math.sqrt(1.0 / (3 * cfg.latent_dim))
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
    nn.init.trunc_normal_(model.cfg_uncond, std=1.2, a=-2.4, b=2.4)
    for p in (*extra, model.text_pool.queries):
        nn.init.trunc_normal_(p, std=std, a=-2 * std, b=2 * std)
    W = cfg.width
    with torch.no_grad():
        model.cfg_uncond.div_(math.sqrt(cfg.text_dim))
        model.head.weight.mul_(0.02)
        model.head_ada[1].weight.mul_(0.5)
        div = math.sqrt(2 * cfg.depth)
        for b in model.blocks:
            b.proj.weight.div_(div)
            b.xproj.weight.div_(div)
            b.fc2.weight.div_(div)
            # AdaLN rows: gamma1 x 1e-5, everything else x 0.5. The reference intends both gammas small
            # but its slicing only reaches gamma1; we keep what it trains with.
            b.ada[1].weight[:W].mul_(1e-5)
            b.ada[1].weight[W:].mul_(0.5)


def run_trunk(
    model: nn.Module,
    x: torch.Tensor,
    start: int,
    mask_table: torch.Tensor | None,
    text: TextCond,
    mods: list[tuple[torch.Tensor, ...]] | None = None,
    text_kvs: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    past: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
    """Run ``model``'s blocks and head on positions ``[start, start + N)`` of ``x`` (B, N, W); earlier positions
    come from ``past``. ``mask_table``: the full (seq, seq) attention mask, or None for full attention.
    Returns the logits (B, N, K) and every layer's new keys/values (for a cache)."""
    N = x.shape[1]
    end = start + N
    P = 0 if past is None else past[0][0].shape[2]
    if P != start:
        raise ValueError(f"cache holds {P} positions but the input starts at {start}")
    cos, sin = model.rope_cos[start:end], model.rope_sin[start:end]
    attn_mask = None if mask_table is None else mask_table[start:end, :end]
    text_mask = text.mask_BS[:, None, None, :]
    new_kv = []
    for i, blk in enumerate(model.blocks):
        mod = mods[i] if mods is not None else blk.modulation(text.cond_BE)
        tkv = text_kvs[i] if text_kvs is not None else blk.text_kv(text.kv_BSE)
        x, kv = blk(x, mod, cos, sin, attn_mask, tkv, text_mask, None if past is None else past[i])
        new_kv.append(kv)
    return model.head_logits(x, text.cond_BE), new_kv


# ----------------------------------------------------------------------------------------------- model
class MoScaleTransformer(nn.Module):
    """Next-scale masked transformer. Training: :meth:`forward`; inference: :class:`ScaleDecoder`."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        E, W, K, C = cfg.latent_dim, cfg.width, cfg.codebook_size, cfg.code_dim
        L1 = cfg.scale_lengths[0]
        self.scale_lengths = list(cfg.scale_lengths)
        self.offsets = [0]
        for n in self.scale_lengths:
            self.offsets.append(self.offsets[-1] + n)

        add_text_layers(self, cfg, L1)
        self.ctx_proj = nn.Linear(C, E)
        self.token_emb = nn.Embedding(K + 2, C)  # row 0 = [MASK] (-2), row 1 = [PAD] (-1), row 2 + i = code i
        self.tok_proj = nn.Linear(C, E)
        self.in_proj = nn.Linear(2 * E, W)
        self.pos_start = nn.Parameter(torch.empty(L1, W))
        add_trunk_and_head(self, cfg)
        add_rope(self, cfg)
        self.register_buffer("attn_mask", block_causal_mask(self.scale_lengths), persistent=False)
        self.reset_parameters()

    # ------------------------------------------------------------------ init (method §3.3)
    def reset_parameters(self) -> None:
        init_weights(self, self.pos_start)

    # ------------------------------------------------------------------ inputs
    def null_text(self, batch: int, n_tokens: int, device: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The learned null text (``n_tokens`` rows) for unconditional generation: (tokens, mask)."""
        self._check_text_len(n_tokens)
        tok = self.cfg_uncond[:n_tokens].unsqueeze(0).expand(batch, -1, -1)
        return tok.to(device), torch.ones(batch, n_tokens, dtype=torch.bool, device=device)

    def _check_text_len(self, n: int) -> None:
        if n > self.cfg.text_len:
            raise ConfigError(f"text has {n} tokens but the generator accepts at most {self.cfg.text_len}")

    def prepare_text(
        self, tokens_BSD: torch.Tensor, mask_BS: torch.Tensor, drop_B: torch.Tensor | None = None
    ) -> TextCond:
        """Norm + MLP of the text tokens, start tokens and condition; rows with ``drop_B`` use the null text."""
        B, S, D = tokens_BSD.shape
        if D != self.cfg.text_dim:
            raise ConfigError(f"text features have width {D}, the generator expects {self.cfg.text_dim}")
        self._check_text_len(S)
        mask_BS = mask_BS.bool()
        if drop_B is not None:
            tokens_BSD = torch.where(drop_B.view(B, 1, 1), self.cfg_uncond[:S].to(tokens_BSD.dtype), tokens_BSD)
        normed = self.text_norm(tokens_BSD)
        start = self.text_pool(normed, mask_BS)
        return TextCond(kv_BSE=self.text_mlp(normed), mask_BS=mask_BS, start_BLE=start, cond_BE=start.amax(dim=1))

    def embed_scale(self, k: int, ids_BL: torch.Tensor, context_BCL: torch.Tensor | None, text: TextCond) -> torch.Tensor:
        """Block input of scale ``k``: [context stream ; token stream] -> width (+ pos_start, level embedding)."""
        ctx = text.start_BLE if k == 0 else self.ctx_proj(context_BCL.transpose(1, 2).to(self.ctx_proj.weight.dtype))
        tok = self.tok_proj(self.token_emb(ids_BL + 2))
        x = self.in_proj(torch.cat([ctx.to(tok.dtype), tok], dim=-1))
        if k == 0:
            x = x + self.pos_start
        return x + self.lvl_embed.weight[k]

    # ------------------------------------------------------------------ trunk
    def run_blocks(
        self,
        x: torch.Tensor,
        start: int,
        text: TextCond,
        mods: list[tuple[torch.Tensor, ...]] | None = None,
        text_kvs: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
        past: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
        full_attention: bool = False,
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """Run the blocks and the head on positions ``[start, start + N)``; earlier positions come from ``past``.

        Returns the logits (B, N, K) and every layer's new keys/values (for a cache)."""
        return run_trunk(self, x, start, None if full_attention else self.attn_mask, text, mods, text_kvs, past)

    def head_logits(self, x: torch.Tensor, cond_BE: torch.Tensor) -> torch.Tensor:
        scale, shift = self.head_ada(cond_BE).unsqueeze(1).chunk(2, dim=-1)
        return self.head(self.head_ln(x) * (1 + scale) + shift)

    def forward(
        self,
        contexts: list[torch.Tensor | None],
        ids: list[torch.Tensor],
        text_tokens: torch.Tensor,
        text_mask: torch.Tensor,
        drop_B: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Teacher-forced logits (B, sum L_k, K) for all scales at once (training; the no-cache reference).

        ``contexts[k]`` (B, C, L_k) for k >= 1 (``contexts[0]`` is ignored), ``ids[k]`` (B, L_k) with -2 / -1
        for [MASK] / [PAD]."""
        if len(ids) != len(self.scale_lengths):
            raise ValueError(f"expected {len(self.scale_lengths)} scales of ids, got {len(ids)}")
        text = self.prepare_text(text_tokens, text_mask, drop_B)
        x = torch.cat([self.embed_scale(k, ids[k], contexts[k], text) for k in range(len(ids))], dim=1)
        logits, _ = self.run_blocks(x, 0, text)
        return logits


class ScaleDecoder:
    """Scale-by-scale inference state of :class:`MoScaleTransformer` (method §4.2, §5).

    Per scale: call :meth:`logits` once per refinement pass with the current ids, then :meth:`commit` with the
    final ids. With ``use_cache`` the keys/values of finished scales are kept per layer: the first pass of
    scale k feeds [scale k-1 (final ids), scale k] and stores scale k-1's keys/values, later passes feed scale
    k only. This is exact because no position attends to a later scale. The per-block AdaLN modulations and
    text keys/values are computed once. Shapes are fixed per scale and pass kind.
    """

    def __init__(self, model: MoScaleTransformer, text: TextCond, use_cache: bool = True) -> None:
        self.model = model
        self.text = text
        self.use_cache = use_cache
        self.mods = [blk.modulation(text.cond_BE) for blk in model.blocks]
        self.text_kvs = [blk.text_kv(text.kv_BSE) for blk in model.blocks]
        self.done_x: list[torch.Tensor] = []  # block inputs of finished scales (no-cache mode)
        self.cache: list[tuple[torch.Tensor, torch.Tensor]] | None = None
        self.pending: torch.Tensor | None = None  # finished scale whose keys/values are not cached yet
        self.n_done = 0

    @torch.no_grad()
    def logits(self, k: int, ids_BL: torch.Tensor, context_BCL: torch.Tensor | None) -> torch.Tensor:
        """Logits (B, L_k, K) of scale ``k`` given the current ids of scale ``k`` (finished scales < k)."""
        m = self.model
        if k != self.n_done:
            raise ValueError(f"scale {k} requested but {self.n_done} scales are finished")
        x = m.embed_scale(k, ids_BL, context_BCL, self.text)
        L = x.shape[1]
        start = m.offsets[k]
        if not self.use_cache:
            xx = torch.cat([*self.done_x, x], dim=1) if self.done_x else x
            out, _ = m.run_blocks(xx, 0, self.text, self.mods, self.text_kvs)
            return out[:, -L:]
        if self.pending is not None:
            n_prev = self.pending.shape[1]
            xx = torch.cat([self.pending, x], dim=1)
            out, kv = m.run_blocks(xx, start - n_prev, self.text, self.mods, self.text_kvs, past=self.cache)
            new = [(kk[:, :, :n_prev], vv[:, :, :n_prev]) for kk, vv in kv]
            if self.cache is None:
                self.cache = new
            else:
                self.cache = [(torch.cat([c[0], n[0]], 2), torch.cat([c[1], n[1]], 2)) for c, n in zip(self.cache, new, strict=True)]
            self.pending = None
            return out[:, -L:]
        out, _ = m.run_blocks(x, start, self.text, self.mods, self.text_kvs, past=self.cache, full_attention=True)
        return out

    @torch.no_grad()
    def commit(self, k: int, ids_BL: torch.Tensor, context_BCL: torch.Tensor | None) -> None:
        """Finish scale ``k`` with its final ids (they feed the token stream of all later scales)."""
        if k != self.n_done:
            raise ValueError(f"scale {k} committed but {self.n_done} scales are finished")
        x = self.model.embed_scale(k, ids_BL, context_BCL, self.text)
        if self.use_cache:
            self.pending = x
        else:
            self.done_x.append(x)
        self.n_done += 1
