"""The MoScale generator: a next-scale transformer over the tokenizer's multi-scale token maps.

Method spec: docs moscale-method.md §3 (architecture), §4.2 / §5 (inference: the runners of ``sampling/``).

Modules: :class:`TextConditioner` (text norm, MLP, null text, start-token pool), the scale inputs of
:class:`MoScaleTransformer` (context and token streams), :class:`ScaleTrunk` (level embedding, blocks, AdaLN
head, RoPE tables). The next-token baseline (``models/next_token.py``) composes the same conditioner and trunk.

Sequence layout: the token maps of all scales, coarse to fine, concatenated (reference: 6 | 12 | 24 | 49 = 91
positions). Each position gets two input streams, concatenated and projected to the block width:

- the *coarse context*: scale 1 -> the start tokens pooled from the text; scale k > 1 -> a linear projection
  of the tokenizer's area-downsampled accumulated latent of the coarser scales (``tokenizer.coarse_context``);
- the *token stream*: the scale's own token ids through a learned table (ids ``-2`` = [MASK], ``-1`` = [PAD]).

Self-attention is block-causal across scales and full within a scale; RoPE uses scale-normalised positions
(position p of a scale of length L sits at step round(p * N / L) of the finest grid). AdaLN conditions every
block on the max-pooled start tokens; each block also cross-attends to the text tokens.

Weights saved before the conditioner and the trunk became modules (flat keys such as ``blocks.0.qkv.weight``)
load through :func:`rename_legacy_keys`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from moscale_cli.config import ConfigBase
from moscale_cli.errors import ConfigError
from moscale_cli.models.layers import apply_rope, rope_cos_sin

if TYPE_CHECKING:
    from moscale_cli.models.tokenizer import MSTokenizer

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
    def preset(cls, name: str, tokenizer: MSTokenizer | None = None, **overrides: Any) -> GeneratorConfig:
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


def tokenizer_fields(tokenizer: MSTokenizer) -> dict[str, Any]:
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
def block_causal_mask(scale_lengths: tuple[int, ...] | list[int], device: torch.device | str | None = None) -> torch.Tensor:
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


# ----------------------------------------------------------------------------------------------- modules
# The next-scale generator and the next-token baseline (models/next_token.py) compose the same two modules: a
# TextConditioner (text in) and a ScaleTrunk (blocks and head); each adds its own input layers between them.

KV = tuple[torch.Tensor, torch.Tensor]  # one layer's keys and values (B, H, P, head_dim)


@dataclass
class TrunkCond:
    """Per-block inputs that depend only on the text: AdaLN modulations and cross-attention keys/values."""

    mods: list[tuple[torch.Tensor, ...]]
    text_kvs: list[KV]


def trunc_normal(t: torch.Tensor, std: float) -> None:
    nn.init.trunc_normal_(t, std=std, a=-2 * std, b=2 * std)


def trunc_normal_linears(model: nn.Module, std: float) -> None:
    """Method §3.3 init of every Linear/Embedding weight of ``model``: truncated normal (cut at 2 std), zero biases."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            trunc_normal(m.weight, std)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)


def init_std(cfg: GeneratorConfig) -> float:
    """Std of the generator's truncated-normal init: sqrt(1 / (3 latent_dim))."""
    return math.sqrt(1.0 / (3 * cfg.latent_dim))


class TextConditioner(nn.Module):
    """Text tokens -> :class:`TextCond`: RMSNorm, an MLP to ``latent_dim`` (cross-attention keys/values), the
    learned null text ``cfg_uncond`` (CFG and unconditional generation) and a pool of ``start_tokens`` learned
    queries (the start tokens of scale 1; their max is the AdaLN condition)."""

    def __init__(self, cfg: GeneratorConfig, start_tokens: int) -> None:
        super().__init__()
        E = cfg.latent_dim
        self.text_dim, self.text_len = cfg.text_dim, cfg.text_len
        self.norm = nn.RMSNorm(cfg.text_dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(cfg.text_dim, E), nn.GELU(approximate="tanh"), nn.Linear(E, E))
        self.cfg_uncond = nn.Parameter(torch.empty(cfg.text_len, cfg.text_dim))
        self.pool = _TextPool(start_tokens, cfg.text_dim, E, cfg.pool_heads)

    def reset_null_text(self) -> None:
        """The null text's init: truncated normal at std 1.2 (cut at 2.4), divided by sqrt(text_dim)."""
        nn.init.trunc_normal_(self.cfg_uncond, std=1.2, a=-2.4, b=2.4)
        with torch.no_grad():
            self.cfg_uncond.div_(math.sqrt(self.text_dim))

    def check_length(self, n: int) -> None:
        if n > self.text_len:
            raise ConfigError(f"text has {n} tokens but the generator accepts at most {self.text_len}")

    def null_text(self, batch: int, n_tokens: int, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The learned null text (``n_tokens`` rows) for unconditional generation: (tokens, mask)."""
        self.check_length(n_tokens)
        tok = self.cfg_uncond[:n_tokens].unsqueeze(0).expand(batch, -1, -1)
        return tok.to(device), torch.ones(batch, n_tokens, dtype=torch.bool, device=device)

    def forward(self, tokens_BSD: torch.Tensor, mask_BS: torch.Tensor, drop_B: torch.Tensor | None = None) -> TextCond:
        """Norm + MLP of the text tokens, start tokens and condition; rows with ``drop_B`` use the null text."""
        B, S, D = tokens_BSD.shape
        if D != self.text_dim:
            raise ConfigError(f"text features have width {D}, the generator expects {self.text_dim}")
        self.check_length(S)
        mask_BS = mask_BS.bool()
        if drop_B is not None:
            tokens_BSD = torch.where(drop_B.view(B, 1, 1), self.cfg_uncond[:S].to(tokens_BSD.dtype), tokens_BSD)
        normed = self.norm(tokens_BSD)
        start = self.pool(normed, mask_BS)
        return TextCond(kv_BSE=self.mlp(normed), mask_BS=mask_BS, start_BLE=start, cond_BE=start.amax(dim=1))


class ScaleTrunk(nn.Module):
    """The level embedding, ``cfg.depth`` blocks, the AdaLN output head and the RoPE tables of every sequence
    position (scale-normalised positions, :func:`scale_positions`; buffers, not saved)."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        E, W = cfg.latent_dim, cfg.width
        self.width, self.depth = W, cfg.depth
        self.lvl_embed = nn.Embedding(len(cfg.scale_lengths), W)
        dpr = torch.linspace(0, cfg.drop_path, cfg.depth).tolist()
        self.blocks = nn.ModuleList([_Block(cfg, p) for p in dpr])
        self.head_ada = nn.Sequential(nn.SiLU(), nn.Linear(E, 2 * W))
        self.head_ln = nn.LayerNorm(W, eps=1e-6, elementwise_affine=False)
        self.head = nn.Linear(W, cfg.codebook_size)
        cos, sin = rope_cos_sin(scale_positions(list(cfg.scale_lengths), cfg.n_grid), cfg.head_dim, cfg.rope_base)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def rescale_init(self) -> None:
        """After the truncated-normal init: a small head, depth-scaled residual projections, small AdaLN gates."""
        W = self.width
        with torch.no_grad():
            self.head.weight.mul_(0.02)
            self.head_ada[1].weight.mul_(0.5)
            div = math.sqrt(2 * self.depth)
            for b in self.blocks:
                b.proj.weight.div_(div)
                b.xproj.weight.div_(div)
                b.fc2.weight.div_(div)
                # AdaLN rows: gamma1 x 1e-5, everything else x 0.5. The reference intends both gammas small
                # but its slicing only reaches gamma1; we keep what it trains with.
                b.ada[1].weight[:W].mul_(1e-5)
                b.ada[1].weight[W:].mul_(0.5)

    def float_head(self) -> None:
        """Keep the output head (and its AdaLN) in float32 when the rest is cast to a lower precision."""
        self.head.float()
        self.head_ada.float()

    def condition(self, text: TextCond) -> TrunkCond:
        """Every block's AdaLN modulation and text keys/values (computed once per text for many passes)."""
        return TrunkCond([b.modulation(text.cond_BE) for b in self.blocks], [b.text_kv(text.kv_BSE) for b in self.blocks])

    def head_logits(self, x: torch.Tensor, cond_BE: torch.Tensor) -> torch.Tensor:
        """AdaLN head: logits (B, N, K) in the head's dtype (float32 when the blocks run in bf16)."""
        dt = self.head.weight.dtype
        scale, shift = self.head_ada(cond_BE.to(dt)).unsqueeze(1).chunk(2, dim=-1)
        return self.head(self.head_ln(x.to(dt)) * (1 + scale) + shift)

    def forward(
        self,
        x: torch.Tensor,
        start: int,
        text: TextCond,
        mask: torch.Tensor | None = None,
        past: list[KV] | None = None,
        cond: TrunkCond | None = None,
        head: bool = True,
    ) -> tuple[torch.Tensor, list[KV]]:
        """Run the blocks on positions ``[start, start + N)`` of ``x`` (B, N, W); earlier positions come from
        ``past`` (one (keys, values) per layer). ``mask``: the full (seq, seq) attention mask (True = attend),
        or None for full attention; ``cond``: :meth:`condition` of ``text`` if already computed.

        Returns the logits (B, N, K) (the block output (B, N, W) with ``head=False``) and every layer's new
        keys/values, so that a caller can extend a cache."""
        N = x.shape[1]
        end = start + N
        P = 0 if past is None else past[0][0].shape[2]
        if P != start:
            raise ValueError(f"cache holds {P} positions but the input starts at {start}")
        cos, sin = self.rope_cos[start:end], self.rope_sin[start:end]
        attn_mask = None if mask is None else mask[start:end, :end]
        text_mask = text.mask_BS[:, None, None, :]
        new_kv = []
        for i, blk in enumerate(self.blocks):
            mod = cond.mods[i] if cond is not None else blk.modulation(text.cond_BE)
            tkv = cond.text_kvs[i] if cond is not None else blk.text_kv(text.kv_BSE)
            x, kv = blk(x, mod, cos, sin, attn_mask, tkv, text_mask, None if past is None else past[i])
            new_kv.append(kv)
        return (self.head_logits(x, text.cond_BE) if head else x), new_kv


# old (flat) state-dict prefixes -> the modules' ones; weights saved before the modules load through it
LEGACY_PREFIXES = {
    "text_norm.": "conditioner.norm.", "text_mlp.": "conditioner.mlp.", "cfg_uncond": "conditioner.cfg_uncond",
    "text_pool.": "conditioner.pool.", "lvl_embed.": "trunk.lvl_embed.", "blocks.": "trunk.blocks.",
    "head_ada.": "trunk.head_ada.", "head.": "trunk.head.",
}


def rename_legacy_keys(state_dict: dict[str, torch.Tensor], prefix: str = "") -> dict[str, torch.Tensor]:
    """Rename (in place) the keys of a generator state dict saved before :class:`TextConditioner` and
    :class:`ScaleTrunk` became modules (``blocks.0.qkv.weight`` -> ``trunk.blocks.0.qkv.weight``, ...)."""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        rest = key[len(prefix):]
        for old, new in LEGACY_PREFIXES.items():
            if rest.startswith(old) and (old.endswith(".") or rest == old):
                target = prefix + new + rest[len(old):]
                if target not in state_dict:
                    state_dict[target] = state_dict.pop(key)
                break
    return state_dict


def upgrade_state_dict(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A copy of ``sd`` with the old flat keys renamed (``checkpoint.load_module`` calls it before loading)."""
    return rename_legacy_keys(dict(sd))


# ----------------------------------------------------------------------------------------------- model
class MoScaleTransformer(nn.Module):
    """Next-scale masked transformer. Training: :meth:`forward`; inference: the runners of ``sampling/``
    (:class:`~moscale_cli.sampling.decoder.ScaleDecoder`, :class:`~moscale_cli.sampling.fast.StaticRunner`)."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        E, W, K, C = cfg.latent_dim, cfg.width, cfg.codebook_size, cfg.code_dim
        L1 = cfg.scale_lengths[0]
        self.scale_lengths = list(cfg.scale_lengths)
        self.offsets = [0]
        for n in self.scale_lengths:
            self.offsets.append(self.offsets[-1] + n)

        self.conditioner = TextConditioner(cfg, L1)
        self.ctx_proj = nn.Linear(C, E)
        self.token_emb = nn.Embedding(K + 2, C)  # row 0 = [MASK] (-2), row 1 = [PAD] (-1), row 2 + i = code i
        self.tok_proj = nn.Linear(C, E)
        self.in_proj = nn.Linear(2 * E, W)
        self.pos_start = nn.Parameter(torch.empty(L1, W))
        self.trunk = ScaleTrunk(cfg)
        self.register_buffer("attn_mask", block_causal_mask(self.scale_lengths), persistent=False)
        self._register_load_state_dict_pre_hook(lambda sd, prefix, *_: rename_legacy_keys(sd, prefix))
        self.reset_parameters()

    upgrade_state_dict = staticmethod(upgrade_state_dict)

    def reset_parameters(self) -> None:
        """Method §3.3 init: truncated normals (std sqrt(1/3E)) for Linear/Embedding weights, zero biases, the
        null text at std 1.2 / sqrt(text_dim), the start positions and pool queries at std, a small head and
        depth-scaled residual projections (the order of the draws is part of the seed's meaning)."""
        std = init_std(self.cfg)
        trunc_normal_linears(self, std)
        self.conditioner.reset_null_text()
        for p in (self.pos_start, self.conditioner.pool.queries):
            trunc_normal(p, std)
        self.trunk.rescale_init()

    # ------------------------------------------------------------------ inputs
    def null_text(self, batch: int, n_tokens: int, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.conditioner.null_text(batch, n_tokens, device)

    def prepare_text(self, tokens_BSD: torch.Tensor, mask_BS: torch.Tensor, drop_B: torch.Tensor | None = None) -> TextCond:
        return self.conditioner(tokens_BSD, mask_BS, drop_B)

    def embed_scale(self, k: int, ids_BL: torch.Tensor, context_BCL: torch.Tensor | None, text: TextCond) -> torch.Tensor:
        """Block input of scale ``k``: [context stream ; token stream] -> width (+ pos_start, level embedding)."""
        ctx = text.start_BLE if k == 0 else self.ctx_proj(context_BCL.transpose(1, 2).to(self.ctx_proj.weight.dtype))
        tok = self.tok_proj(self.token_emb(ids_BL + 2))
        x = self.in_proj(torch.cat([ctx.to(tok.dtype), tok], dim=-1))
        if k == 0:
            x = x + self.pos_start
        return x + self.trunk.lvl_embed.weight[k]

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
        logits, _ = self.trunk(x, 0, text, self.attn_mask)
        return logits
