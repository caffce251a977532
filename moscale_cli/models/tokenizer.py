"""Multi-scale residual VQ tokenizer (HRVQVAE, method spec §2, §4.1) as plain nn.Modules.

Layout: features ``(B, T, D)`` -> encoder (conv, ``down_t`` strided stages with residual dilated convs
and gated RoPE attention) -> latent ``(B, C, N)`` with ``N = max_frames // unit`` (49) -> multi-scale
quantizer (one shared EMA codebook, scales = temporal downsampling factors) -> decoder.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from moscale_cli.config import ConfigBase
from moscale_cli.errors import ConfigError
from moscale_cli.models.layers import GatedAttentionBlock, length_mask


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


@dataclass
class QuantizeAllOut:
    """Result of :meth:`MSTokenizer.quantize_all`; lists are per scale (coarse to fine)."""

    labels: list[torch.Tensor]  # clean ids (B, L_k), -1 at padding
    contexts: list[torch.Tensor | None]  # context input for scale k (B, C, L_k) from the perturbed f_hat of scales < k
    contributions: list[torch.Tensor]  # (B, C, N) perturbed contributions (sum = perturbed f_hat)
    perturbed_ids: list[torch.Tensor] = field(default_factory=list)  # ids actually used (B, L_k), -1 at padding
    gammas: list[float] = field(default_factory=list)  # corruption rate drawn per scale
    fhat: torch.Tensor | None = None  # (B, C, N) perturbed accumulated latent


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


def _dist_on() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


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
        K, C = cfg.n_codes, cfg.code_dim
        self.register_buffer("codebook", torch.zeros(K, C))
        self.register_buffer("ema_count", torch.ones(K))
        self.register_buffer("ema_sum", torch.zeros(K, C))
        self.register_buffer("codebook_initialized", torch.zeros((), dtype=torch.bool))
        self.last_dead_reset = 0  # codes reset by the last EMA update
        self._init_weights()

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
        """Valid tokens per scale: ``(frames // unit) // s``, at least 1."""
        g = torch.as_tensor(lengths_frames_B).long() // self.unit
        return [(g // s).clamp(min=1) for s in self.scales]

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

    # ----------------------------------------------------------------- quantizer pieces
    def _nearest(self, x_MC: torch.Tensor, sample: bool) -> torch.Tensor:
        cb = self.codebook
        d = x_MC.pow(2).sum(-1, keepdim=True) - 2 * x_MC @ cb.t() + cb.pow(2).sum(-1).unsqueeze(0)
        if sample and self.cfg.gumbel_temp > 0:
            u = torch.rand_like(d).clamp_(1e-20, 1.0)
            return (-d / self.cfg.gumbel_temp - torch.log(-torch.log(u))).argmax(-1)
        return d.argmin(-1)

    def _upsample(self, ids_BL: torch.Tensor, tok_mask_BL: torch.Tensor) -> torch.Tensor:
        z = self.codebook[ids_BL.clamp(min=0)] * tok_mask_BL.unsqueeze(-1).to(self.codebook.dtype)  # B L C
        return F.interpolate(z.transpose(1, 2), size=self.n_grid, mode="linear", align_corners=False)

    def ids_to_contribution(self, ids_BL: torch.Tensor, k: int, lengths: torch.Tensor) -> torch.Tensor:
        """Dequantise scale ``k``'s ids (padding -1 -> zero), upsample linearly to N (phi = identity)."""
        vl = self.valid_lengths(torch.as_tensor(lengths, device=ids_BL.device))[k]
        tok_mask = (ids_BL >= 0) & length_mask(vl, ids_BL.shape[1])
        return self._upsample(ids_BL, tok_mask)

    def coarse_context(self, fhat_BCN: torch.Tensor, k: int) -> torch.Tensor:
        """Area-downsample the accumulated latent to scale ``k``'s length -> (B, C, L_k)."""
        return F.interpolate(fhat_BCN, size=self.scale_lengths[k], mode="area")

    def _quantize(
        self,
        latent_BCN: torch.Tensor,
        lengths: torch.Tensor,
        perturb_rate: tuple[float, float] | None = None,
        generator: torch.Generator | None = None,
        collect: bool = False,
    ) -> dict[str, Any]:
        """Coarse-to-fine residual quantisation (fp32). Returns labels, perturbed ids, contexts, contributions,
        f_hat, commit loss, and (if ``collect``) the valid pooled residuals + chosen ids for the EMA update."""
        f = latent_BCN.float()
        B, C, N = f.shape
        lengths = torch.as_tensor(lengths, device=f.device).long().view(-1)
        grid_mask = length_mask(lengths // self.unit, N).unsqueeze(1).float()  # B 1 N
        vls = self.valid_lengths(lengths)
        sample = self.training
        K = self.cfg.n_codes
        r = f * grid_mask
        fhat = torch.zeros_like(f)
        out: dict[str, Any] = {"labels": [], "ids": [], "contexts": [], "contributions": [], "gammas": [], "commit": []}
        xs, cs = [], []
        denom = grid_mask.sum() * C
        for k, L in enumerate(self.scale_lengths):
            tok_mask = length_mask(vls[k], L)
            out["contexts"].append(None if k == 0 else self.coarse_context(fhat, k))
            rk = F.interpolate(r * grid_mask, size=L, mode="area")  # B C L
            flat = rk.transpose(1, 2).reshape(-1, C)
            ids = self._nearest(flat, sample).view(B, L)
            if collect:
                sel = tok_mask.reshape(-1)
                xs.append(flat.detach()[sel])
                cs.append(ids.reshape(-1)[sel])
            used = ids
            gamma = 0.0
            if perturb_rate is not None and perturb_rate[1] > 0:
                lo, hi = float(perturb_rate[0]), float(perturb_rate[1])
                gamma = lo + (hi - lo) * torch.rand((), generator=generator, device=generator.device if generator else "cpu").item()
                dev = generator.device if generator is not None else torch.device("cpu")
                hit = (torch.rand((B, L), generator=generator, device=dev) < gamma).to(ids.device) & tok_mask
                shift = torch.randint(1, K, (B, L), generator=generator, device=dev).to(ids.device)
                used = torch.where(hit, (ids + shift) % K, ids)
            contrib = self._upsample(used, tok_mask)
            r = r - contrib
            fhat = fhat + contrib
            out["labels"].append(ids.masked_fill(~tok_mask, -1))
            out["ids"].append(used.masked_fill(~tok_mask, -1))
            out["contributions"].append(contrib)
            out["gammas"].append(gamma)
            out["commit"].append(((f - fhat.detach()).pow(2) * grid_mask).sum() / denom)
        out["fhat"] = fhat
        out["commit_loss"] = torch.stack(out["commit"]).mean()
        if collect:
            out["ema_x"] = torch.cat(xs)
            out["ema_ids"] = torch.cat(cs)
        return out

    # ----------------------------------------------------------------- codebook (EMA)
    @torch.no_grad()
    def _init_codebook(self, x_MC: torch.Tensor) -> None:
        K, C = self.codebook.shape
        if x_MC.shape[0] < K:
            reps = math.ceil(K / max(1, x_MC.shape[0]))
            x_MC = x_MC.repeat(reps, 1)
            x_MC = x_MC + torch.randn_like(x_MC) * (0.01 / math.sqrt(C))
        idx = torch.randperm(x_MC.shape[0], device=x_MC.device)[:K]
        init = x_MC[idx].float()
        if _dist_on():
            dist.broadcast(init, src=0)
        self.codebook.copy_(init)
        self.ema_sum.copy_(init)
        self.ema_count.fill_(1.0)
        self.codebook_initialized.fill_(True)

    @torch.no_grad()
    def _ema_update(self, x_MC: torch.Tensor, ids_M: torch.Tensor) -> None:
        """EMA codebook update from valid residuals; counts and sums are all-reduced under DDP."""
        K, C = self.codebook.shape
        mu = self.cfg.ema_decay
        x = x_MC.float()
        counts = torch.bincount(ids_M, minlength=K).float()
        sums = torch.zeros(K, C, device=x.device).index_add_(0, ids_M, x)
        if _dist_on():
            dist.all_reduce(counts)
            dist.all_reduce(sums)
        self.ema_count.mul_(mu).add_(counts, alpha=1 - mu)
        self.ema_sum.mul_(mu).add_(sums, alpha=1 - mu)
        self.codebook.copy_(self.ema_sum / self.ema_count.clamp(min=1e-12).unsqueeze(1))
        dead = self.ema_count < self.cfg.dead_code_threshold
        total = counts.sum().item()
        n_dead = int(dead.sum().item())
        if n_dead and total > self.cfg.reset_min_assign_factor * K and x.shape[0] > 0:
            new = x[torch.randint(0, x.shape[0], (n_dead,), device=x.device)]
            if _dist_on():
                dist.broadcast(new, src=0)
            self.codebook[dead] = new
            self.ema_sum[dead] = new
            self.ema_count[dead] = 1.0
        self.last_dead_reset = n_dead if total > self.cfg.reset_min_assign_factor * K else 0

    # ----------------------------------------------------------------- public API
    def encode(self, feats_BTD: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        """Token ids per scale (B, L_k), -1 at padding. Argmin in eval mode (Gumbel choice in train mode)."""
        feats_BTD, lengths = self._check(feats_BTD, lengths)
        latent = self.encode_latent(feats_BTD, lengths)
        with torch.autocast(latent.device.type, enabled=False):
            return self._quantize(latent, lengths)["labels"]

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
    ) -> QuantizeAllOut:
        """Quantise with cross-scale perturbation (§4.1): per scale one gamma ~ U(lo, hi); chosen valid codes
        are replaced by a uniformly random different code. Labels are clean; contexts come from the perturbed
        accumulation of the coarser scales."""
        with torch.autocast(latent_BCN.device.type, enabled=False):
            q = self._quantize(latent_BCN, lengths, perturb_rate=tuple(perturb_rate), generator=generator)
        return QuantizeAllOut(
            labels=q["labels"],
            contexts=q["contexts"],
            contributions=q["contributions"],
            perturbed_ids=q["ids"],
            gammas=q["gammas"],
            fhat=q["fhat"],
        )

    def forward(self, feats_BTD: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        """Reconstruction and aux dict: ``commit`` loss, ``ids`` per scale, ``perplexity``/``usage`` per scale.
        In train mode the EMA codebook is updated from the valid positions (initialised from the first batch)."""
        feats_BTD, lengths = self._check(feats_BTD, lengths)
        latent = self.encode_latent(feats_BTD, lengths)
        train = self.training
        with torch.autocast(latent.device.type, enabled=False):
            if train and not bool(self.codebook_initialized):
                m = length_mask(lengths // self.unit, latent.shape[-1])
                self._init_codebook(latent.detach().float().transpose(1, 2)[m])
            q = self._quantize(latent, lengths, collect=train)
            if train:
                self._ema_update(q["ema_x"], q["ema_ids"])
            f = latent.float()
            # straight-through estimator in train mode; eval mode decodes f_hat itself (bitwise = decode_ids)
            fhat_st = f + (q["fhat"] - f).detach() if train else q["fhat"]
        recon = self.decode_latent(fhat_st.to(latent.dtype), lengths)
        aux: dict[str, Any] = {"commit": q["commit_loss"], "ids": q["labels"]}
        aux.update(code_stats(q["labels"], self.cfg.n_codes))
        return recon, aux


@torch.no_grad()
def code_stats(ids_list: list[torch.Tensor], n_codes: int) -> dict[str, list[float]]:
    """Per-scale perplexity and usage (fraction of codes used) over the valid ids."""
    ppl, usage = [], []
    for ids in ids_list:
        v = ids[ids >= 0]
        if v.numel() == 0:
            ppl.append(0.0)
            usage.append(0.0)
            continue
        p = torch.bincount(v, minlength=n_codes).float() / v.numel()
        nz = p[p > 0]
        ppl.append(float(torch.exp(-(nz * nz.log()).sum())))
        usage.append(float((p > 0).float().mean()))
    return {"perplexity": ppl, "usage": usage}


def tokenizer_config_fields() -> list[str]:
    return [f.name for f in dataclasses.fields(TokenizerConfig)]
