"""RoPE and the gated attention block."""

from __future__ import annotations

import torch

from moscale_cli.models.layers import GatedAttentionBlock, apply_rope, rope_cos_sin


def test_rope_preserves_norm_and_depends_on_relative_position() -> None:
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(16, generator=g), torch.randn(16, generator=g)

    def rot(x: torch.Tensor, p: float) -> torch.Tensor:
        cos, sin = rope_cos_sin(torch.tensor([p]), 16)
        return apply_rope(x[None], cos, sin)[0]

    assert torch.allclose(rot(q, 7.0).norm(), q.norm(), atol=1e-5)
    d1 = rot(q, 10.0) @ rot(k, 3.0)
    d2 = rot(q, 27.0) @ rot(k, 20.0)
    assert torch.allclose(d1, d2, atol=1e-4)
    assert torch.equal(rot(q, 0.0), q)
    cos, sin = rope_cos_sin(torch.arange(5).float().view(1, 5), 8)
    assert cos.shape == (1, 5, 8)


@torch.no_grad()
def test_attention_ignores_padded_keys() -> None:
    torch.manual_seed(0)
    blk = GatedAttentionBlock(32, 4).eval()
    x = torch.randn(2, 32, 20)
    valid = torch.arange(20)[None] < torch.tensor([[12], [20]])
    y1 = blk(x, valid)
    x2 = x.clone()
    x2[0, :, 12:] = torch.randn(32, 8) * 5
    y2 = blk(x2, valid)
    assert torch.allclose(y1[0, :, :12], y2[0, :, :12], atol=1e-6)
    assert torch.equal(y1[1], y2[1])
