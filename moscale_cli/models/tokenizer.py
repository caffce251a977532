"""Multi-scale residual VQ tokenizer (HRVQVAE, method spec §2, §4.1) as plain nn.Modules.

Layout: features ``(B, T, D)`` -> encoder (conv, ``down_t`` strided stages with residual dilated convs
and gated RoPE attention) -> latent ``(B, C, N)`` with ``N = max_frames // unit`` (49) -> multi-scale
quantizer (one shared EMA codebook, scales = temporal downsampling factors) -> decoder.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from moscale_cli.config import ConfigBase
from moscale_cli.errors import ConfigError
from moscale_cli.models.layers import GatedAttentionBlock, length_mask
from moscale_cli.models.quantizer import MultiScaleQuantizer, QuantizerOutput, code_stats


@dataclass
class TokenizerConfig(ConfigBase):
    """Tokenizer sizes and quantizer settings. ``preset('base')`` is the reference configuration."""

    feature_dim: int = 263
    width: int = 512
    code_dim: int = 512
    n_codes: int = 512
    depth: int = 3
    dilation_growth: int = 3
    down_t: int = 2
    scales: tuple[int, ...] = (8, 4, 2, 1)
    max_frames: int = 196
    heads: int = 8
    use_attn: bool = True
    dropout: float = 0.2
    attn_dropout: float = 0.1
    ffn_dropout: float = 0.1
    rope_base: float = 10000.0
    ema_decay: float = 0.99
    gumbel_temp: float = 0.5
    dead_code_threshold: float = 1.0
    reset_min_assign_factor: float = 5.0

    def __post_init__(self) -> None:
        self.scales = tuple(int(s) for s in self.scales)
        if not self.scales or any(s < 1 for s in self.scales):
            raise ConfigError(f"TokenizerConfig: scales must be positive integers, got {self.scales}")
        if self.max_frames % self.unit:
            raise ConfigError(f"TokenizerConfig: max_frames {self.max_frames} is not a multiple of {self.unit}")
        if self.width % self.heads:
            raise ConfigError(f"TokenizerConfig: width {self.width} is not divisible by heads {self.heads}")
        if (self.width // self.heads) % 2:
            raise ConfigError("TokenizerConfig: head dim (width / heads) must be even for RoPE")

    @property
    def unit(self) -> int:
        return 2**self.down_t

    @property
    def n_grid(self) -> int:
        return self.max_frames // self.unit

    @property
    def scale_lengths(self) -> list[int]:
        return [max(1, self.n_grid // s) for s in self.scales]

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> TokenizerConfig:
        presets: dict[str, dict[str, Any]] = {
            "base": {},
            "small": dict(width=256, code_dim=256, n_codes=512, heads=4, depth=3, dropout=0.1),
            "tiny": dict(width=64, code_dim=64, n_codes=128, heads=2, depth=2, dropout=0.0, attn_dropout=0.0, ffn_dropout=0.0,
                         reset_min_assign_factor=1.0),
        }
        if name not in presets:
            raise ConfigError(f"unknown tokenizer preset '{name}' (choose from {', '.join(presets)})")
        return cls(**{**presets[name], **overrides})


class ResBlock(nn.Module):
    def __init__(self, width: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(width, width, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.relu(x))
        h = self.drop(self.conv2(F.relu(h)))
        return x + h


class Resnet1D(nn.Module):
    def __init__(self, width: int, depth: int, growth: int, dropout: float) -> None:
        super().__init__()
        dilations = [growth**i for i in range(depth)][::-1]  # reverse dilation: 9, 3, 1
        self.blocks = nn.Sequential(*[ResBlock(width, d, dropout) for d in dilations])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


def _attn(cfg: TokenizerConfig) -> nn.Module | None:
    if not cfg.use_attn:
        return None
    return GatedAttentionBlock(cfg.width, cfg.heads, cfg.attn_dropout, cfg.ffn_dropout, rope_base=cfg.rope_base)


class Encoder(nn.Module):
    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        w = cfg.width
        self.conv_in = nn.Conv1d(cfg.feature_dim, w, 3, padding=1)
        self.downs = nn.ModuleList([nn.Conv1d(w, w, 4, stride=2, padding=1) for _ in range(cfg.down_t)])
        self.res = nn.ModuleList([Resnet1D(w, cfg.depth, cfg.dilation_growth, cfg.dropout) for _ in range(cfg.down_t)])
        self.attn = nn.ModuleList([a for a in (_attn(cfg) for _ in range(cfg.down_t)) if a is not None])
        self.conv_out = nn.Conv1d(w, cfg.code_dim, 3, padding=1)

    def forward(self, x_BDT: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv_in(x_BDT))
        for i in range(len(self.downs)):
            h = self.res[i](self.downs[i](h))
            if len(self.attn):
                h = self.attn[i](h, length_mask(lengths // 2 ** (i + 1), h.shape[-1]))
        return self.conv_out(h)


class Decoder(nn.Module):
    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        w = cfg.width
        self.down_t = cfg.down_t
        self.conv_in = nn.Conv1d(cfg.code_dim, w, 3, padding=1)
        self.res = nn.ModuleList([Resnet1D(w, cfg.depth, cfg.dilation_growth, cfg.dropout) for _ in range(cfg.down_t)])
        self.ups = nn.ModuleList([nn.Conv1d(w, w, 3, padding=1) for _ in range(cfg.down_t)])
        self.attn = nn.ModuleList([a for a in (_attn(cfg) for _ in range(cfg.down_t)) if a is not None])
        self.conv_mid = nn.Conv1d(w, w, 3, padding=1)
        self.conv_out = nn.Conv1d(w, cfg.feature_dim, 3, padding=1)

    def forward(self, z_BCN: torch.Tensor, grid_len: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv_in(z_BCN))
        for i in range(self.down_t):
            h = self.res[i](h)
            h = self.ups[i](F.interpolate(h, scale_factor=2.0, mode="nearest"))
            if len(self.attn):
                h = self.attn[i](h, length_mask(grid_len * 2 ** (i + 1), h.shape[-1]))
        return self.conv_out(F.relu(self.conv_mid(h)))


class MSTokenizer(nn.Module):
    """Encoder + multi-scale residual quantizer (shared EMA codebook) + decoder. See docs/internals.md."""

    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.scales = cfg.scales
        self.unit = cfg.unit
        self.max_frames = cfg.max_frames
        self.n_grid = cfg.n_grid
        self.scale_lengths = cfg.scale_lengths
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.quantizer = MultiScaleQuantizer(
            cfg.n_codes, cfg.code_dim, cfg.scales, cfg.n_grid, ema_decay=cfg.ema_decay, gumbel_temp=cfg.gumbel_temp,
            dead_code_threshold=cfg.dead_code_threshold, reset_min_assign_factor=cfg.reset_min_assign_factor,
        )
        self._init_weights()
        self._register_load_state_dict_pre_hook(lambda sd, prefix, *_: _legacy_quantizer_keys(sd, prefix))

    @staticmethod
    def upgrade_state_dict(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Weights saved before the quantizer became its own module keep its buffers at the top level."""
        sd = dict(sd)
        _legacy_quantizer_keys(sd, "")
        return sd

    @property
    def codebook(self) -> torch.Tensor:
        return self.quantizer.codebook

    @property
    def codebook_initialized(self) -> torch.Tensor:
        return self.quantizer.codebook_initialized

    @property
    def last_dead_reset(self) -> int:
        return self.quantizer.last_dead_reset

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.Linear)):
                nn.init.xavier_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    # ----------------------------------------------------------------- lengths
    def _check(self, feats_BTD: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if feats_BTD.dim() != 3 or feats_BTD.shape[-1] != self.cfg.feature_dim:
            raise ValueError(f"expected features (B, T, {self.cfg.feature_dim}), got {tuple(feats_BTD.shape)}")
        T = feats_BTD.shape[1]
        if T > self.max_frames:
            raise ValueError(f"{T} frames exceed the tokenizer's maximum {self.max_frames}")
        lengths = torch.as_tensor(lengths, device=feats_BTD.device).long().view(-1)
        if lengths.numel() != feats_BTD.shape[0]:
            raise ValueError("one length per batch item is needed")
        if (lengths < self.unit).any() or (lengths > T).any():
            raise ValueError(f"lengths must lie in [{self.unit}, {T}], got {lengths.tolist()}")
        lengths = (lengths // self.unit) * self.unit
        if T < self.max_frames:
            feats_BTD = F.pad(feats_BTD, (0, 0, 0, self.max_frames - T))
        return feats_BTD, lengths

    def valid_lengths(self, lengths_frames_B: torch.Tensor) -> list[torch.Tensor]:
        """Valid tokens per scale: ``(frames // unit) // s`` (as the reference: 0 for a motion shorter than the
        scale's token span, e.g. under 32 frames at the coarsest scale of (8, 4, 2, 1))."""
        g = torch.as_tensor(lengths_frames_B).long() // self.unit
        return [g // s for s in self.scales]

    # ----------------------------------------------------------------- encoder / decoder
    def encode_latent(self, feats_BTD: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        feats_BTD, lengths = self._check(feats_BTD, lengths)
        x = feats_BTD * length_mask(lengths, self.max_frames).unsqueeze(-1).to(feats_BTD.dtype)
        return self.encoder(x.transpose(1, 2), lengths)

    def decode_latent(self, fhat_BCN: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        lengths = torch.as_tensor(lengths, device=fhat_BCN.device).long().view(-1)
        grid = lengths // self.unit
        z = fhat_BCN * length_mask(grid, fhat_BCN.shape[-1]).unsqueeze(1).to(fhat_BCN.dtype)
        out = self.decoder(z, grid).transpose(1, 2)  # B T D
        return out * length_mask(grid * self.unit, out.shape[1]).unsqueeze(-1).to(out.dtype)

    # ----------------------------------------------------------------- quantizer views
    def ids_to_contribution(self, ids_BL: torch.Tensor, k: int, lengths: torch.Tensor) -> torch.Tensor:
        """Dequantise scale ``k``'s ids (padding -1 -> zero), upsample linearly to N (phi = identity)."""
        return self.quantizer.contribution(ids_BL, k, torch.as_tensor(lengths, device=ids_BL.device).long() // self.unit)

    def coarse_context(self, fhat_BCN: torch.Tensor, k: int) -> torch.Tensor:
        """Area-downsample the accumulated latent to scale ``k``'s length -> (B, C, L_k)."""
        return self.quantizer.coarse_context(fhat_BCN, k)

    def quantize(
        self, latent_BCN: torch.Tensor, lengths: torch.Tensor, perturb_rate: tuple[float, float] | None = None,
        generator: torch.Generator | None = None, collect: bool = False,
    ) -> QuantizerOutput:
        """Quantise a latent for motion ``lengths`` (frames) in fp32; see :class:`MultiScaleQuantizer`."""
        lengths = torch.as_tensor(lengths, device=latent_BCN.device).long().view(-1)
        with torch.autocast(latent_BCN.device.type, enabled=False):
            return self.quantizer(latent_BCN, lengths // self.unit, perturb_rate, generator, collect)

    # ----------------------------------------------------------------- public API
    def encode(self, feats_BTD: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        """Token ids per scale (B, L_k), -1 at padding. Argmin in eval mode (Gumbel choice in train mode)."""
        feats_BTD, lengths = self._check(feats_BTD, lengths)
        return self.quantize(self.encode_latent(feats_BTD, lengths), lengths).labels

    def decode_ids(self, ids_list: list[torch.Tensor], lengths: torch.Tensor) -> torch.Tensor:
        lengths = torch.as_tensor(lengths, device=ids_list[0].device).long().view(-1)
        fhat = sum(self.ids_to_contribution(ids, k, lengths) for k, ids in enumerate(ids_list))
        return self.decode_latent(fhat, lengths)

    def quantize_all(
        self,
        latent_BCN: torch.Tensor,
        lengths: torch.Tensor,
        perturb_rate: tuple[float, float] = (0.0, 0.6),
        generator: torch.Generator | None = None,
    ) -> QuantizerOutput:
        """Quantise with cross-scale perturbation (§4.1): per scale one gamma ~ U(lo, hi); chosen valid codes
        are replaced by a uniformly random different code. Labels are clean; contexts come from the perturbed
        accumulation of the coarser scales."""
        return self.quantize(latent_BCN, lengths, tuple(perturb_rate), generator)

    def forward(self, feats_BTD: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        """Reconstruction and aux dict: ``commit`` loss, ``ids`` per scale, ``perplexity``/``usage`` per scale.
        In train mode the EMA codebook is updated from the valid positions (initialised from the first batch)."""
        feats_BTD, lengths = self._check(feats_BTD, lengths)
        latent = self.encode_latent(feats_BTD, lengths)
        train = self.training
        q_mod = self.quantizer
        if train and not bool(q_mod.codebook_initialized):
            m = length_mask(lengths // self.unit, latent.shape[-1])
            q_mod.init_codebook(latent.detach().float().transpose(1, 2)[m])
        q = self.quantize(latent, lengths, collect=train)
        if train:
            q_mod.ema_update(q.residuals, q.residual_ids)
        f = latent.float()
        # straight-through estimator in train mode; eval mode decodes f_hat itself (bitwise = decode_ids)
        fhat_st = f + (q.fhat - f).detach() if train else q.fhat
        recon = self.decode_latent(fhat_st.to(latent.dtype), lengths)
        aux: dict[str, Any] = {"commit": q.commit, "ids": q.labels}
        aux.update(code_stats(q.labels, self.cfg.n_codes))
        return recon, aux


_LEGACY_KEYS = ("codebook", "ema_count", "ema_sum", "codebook_initialized")


def _legacy_quantizer_keys(state_dict: dict[str, Any], prefix: str) -> None:
    for k in _LEGACY_KEYS:
        if prefix + k in state_dict and prefix + "quantizer." + k not in state_dict:
            state_dict[prefix + "quantizer." + k] = state_dict.pop(prefix + k)


def tokenizer_config_fields() -> list[str]:
    return [f.name for f in dataclasses.fields(TokenizerConfig)]
