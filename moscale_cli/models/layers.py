"""Shared building blocks: rotary position embedding (RoPE) and the gated attention block.

RoPE uses the half-split rotation: a head vector ``x = [x1, x2]`` (two halves of ``head_dim/2``)
is rotated pairwise ``(x1[i], x2[i])`` by the angle ``pos * base^(-2i/head_dim)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def rope_cos_sin(positions: torch.Tensor, head_dim: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Cos/sin tables for the given positions (any shape ``P``, int or float) -> two tensors ``(*P, head_dim)``.

    The angle table is computed in float32; ``apply_rope`` casts it to the input's dtype.
    """
    if head_dim % 2:
        raise ValueError(f"RoPE needs an even head_dim, got {head_dim}")
    half = head_dim // 2
    inv_freq = base ** (-torch.arange(half, dtype=torch.float32, device=positions.device) * 2.0 / head_dim)
    ang = positions.to(torch.float32).unsqueeze(-1) * inv_freq  # (*P, half)
    ang = torch.cat([ang, ang], dim=-1)
    return ang.cos(), ang.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x (..., L, head_dim)`` with tables broadcastable to it (e.g. ``(L, head_dim)``)."""
    x1, x2 = x.chunk(2, dim=-1)
    rot = torch.cat([-x2, x1], dim=-1)
    return x * cos.to(x.dtype) + rot * sin.to(x.dtype)


def count_parameters(model: nn.Module | None, trainable_only: bool = False) -> int:
    """Parameters of a module (0 for None); buffers such as the EMA codebook are not parameters."""
    if model is None:
        return 0
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def length_mask(lengths: torch.Tensor, size: int) -> torch.Tensor:
    """Bool mask ``(B, size)``, True at positions ``< lengths``."""
    return torch.arange(size, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


class GatedAttentionBlock(nn.Module):
    """Pre-LN self-attention with RoPE, key-padding mask and a per-head sigmoid output gate, then a pre-LN FFN.

    Works on the convolution layout ``x (B, C, T)``; ``valid (B, T)`` bool marks the real positions
    (padded keys are never attended to).
    """

    def __init__(
        self,
        width: int,
        heads: int,
        attn_dropout: float = 0.1,
        ffn_dropout: float = 0.1,
        ffn_mult: int = 4,
        rope_base: float = 10000.0,
    ) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not divisible by heads {heads}")
        self.heads = heads
        self.head_dim = width // heads
        self.rope_base = rope_base
        self.attn_dropout = attn_dropout
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.gate = nn.Linear(width, heads)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.ffn = nn.Sequential(
            nn.Linear(width, ffn_mult * width),
            nn.GELU(),
            nn.Dropout(ffn_dropout),
            nn.Linear(ffn_mult * width, width),
            nn.Dropout(ffn_dropout),
        )

    def forward(self, x_BCT: torch.Tensor, valid_BT: torch.Tensor) -> torch.Tensor:
        x = x_BCT.transpose(1, 2)  # B T C
        B, T, C = x.shape
        h = self.norm1(x)
        q, k, v = self.qkv(h).view(B, T, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)  # each B H T d
        cos, sin = rope_cos_sin(torch.arange(T, device=x.device), self.head_dim, self.rope_base)
        q = apply_rope(q, cos, sin)
        k = apply_rope(k, cos, sin)
        mask = valid_BT[:, None, None, :]  # B 1 1 T, True = attend
        a = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.attn_dropout if self.training else 0.0
        )  # B H T d
        g = torch.sigmoid(self.gate(h)).transpose(1, 2).unsqueeze(-1)  # B H T 1
        a = (a * g).transpose(1, 2).reshape(B, T, C)
        x = x + self.proj(a)
        x = x + self.ffn(self.norm2(x))
        return x.transpose(1, 2)
