"""A BERT encoder in plain torch (no I/O): embeddings, post-LN self-attention layers, last hidden state.

Enough of BERT to run sentence-transformers' BERT-family checkpoints (e.g. all-MiniLM-L6-v2) without
``transformers``: absolute position embeddings, token types, a GELU (or ReLU/SiLU) feed-forward and
LayerNorm after each residual. Parameter names are our own; ``light.py`` maps checkpoint names to them.

Parameters are created uninitialised (``torch.empty``; pass ``device="meta"`` to allocate nothing): the
model is only ever used with checkpoint weights, and random initialisation of 22M parameters would
cost more than the forward pass of a prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

_ACTIVATIONS = {
    "gelu": lambda x: F.gelu(x),
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
}
SUPPORTED_ACTIVATIONS = frozenset(_ACTIVATIONS)


class _Linear(nn.Module):
    def __init__(self, n_in: int, n_out: int, device: torch.device | str | None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_out, n_in, device=device))
        self.bias = nn.Parameter(torch.empty(n_out, device=device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


class _LayerNorm(nn.Module):
    def __init__(self, n: int, eps: float, device: torch.device | str | None) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.empty(n, device=device))
        self.bias = nn.Parameter(torch.empty(n, device=device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)


class _Embedding(nn.Module):
    def __init__(self, n: int, dim: int, device: torch.device | str | None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n, dim, device=device))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(ids, self.weight)


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    max_positions: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden size {self.hidden_size} is not a multiple of {self.num_heads} heads")
        if self.hidden_act not in SUPPORTED_ACTIVATIONS:
            raise ValueError(f"unsupported activation {self.hidden_act!r}")


class BertLayer(nn.Module):
    """Self-attention + feed-forward, each followed by residual and LayerNorm (post-LN)."""

    def __init__(self, cfg: BertConfig, device: torch.device | str | None = None) -> None:
        super().__init__()
        H, eps, d = cfg.hidden_size, cfg.layer_norm_eps, device
        self.num_heads = cfg.num_heads
        self.q = _Linear(H, H, d)
        self.k = _Linear(H, H, d)
        self.v = _Linear(H, H, d)
        self.attn_out = _Linear(H, H, d)
        self.attn_norm = _LayerNorm(H, eps, d)
        self.ff_in = _Linear(H, cfg.intermediate_size, d)
        self.ff_out = _Linear(cfg.intermediate_size, H, d)
        self.ff_norm = _LayerNorm(H, eps, d)
        self.act = _ACTIVATIONS[cfg.hidden_act]

    def forward(self, x_BSH: torch.Tensor, attend_B11S: torch.Tensor) -> torch.Tensor:
        B, S, H = x_BSH.shape
        nh = self.num_heads

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(B, S, nh, H // nh).transpose(1, 2)

        q, k, v = heads(self.q(x_BSH)), heads(self.k(x_BSH)), heads(self.v(x_BSH))
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=attend_B11S).transpose(1, 2).reshape(B, S, H)
        x_BSH = self.attn_norm(x_BSH + self.attn_out(ctx))
        return self.ff_norm(x_BSH + self.ff_out(self.act(self.ff_in(x_BSH))))


class BertEncoder(nn.Module):
    """``forward(input_ids (B,S), attention_mask (B,S)) -> last hidden state (B,S,H)``."""

    def __init__(self, cfg: BertConfig, device: torch.device | str | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        H, d = cfg.hidden_size, device
        self.word = _Embedding(cfg.vocab_size, H, d)
        self.position = _Embedding(cfg.max_positions, H, d)
        self.token_type = _Embedding(cfg.type_vocab_size, H, d)
        self.emb_norm = _LayerNorm(H, cfg.layer_norm_eps, d)
        self.layers = nn.ModuleList(BertLayer(cfg, d) for _ in range(cfg.num_layers))

    def forward(
        self, input_ids_BS: torch.Tensor, attention_mask_BS: torch.Tensor, token_type_ids_BS: torch.Tensor | None = None
    ) -> torch.Tensor:
        B, S = input_ids_BS.shape
        if S > self.cfg.max_positions:
            raise ValueError(f"sequence of {S} tokens exceeds the {self.cfg.max_positions} positions of the model")
        if token_type_ids_BS is None:
            token_type_ids_BS = torch.zeros_like(input_ids_BS)
        pos = torch.arange(S, device=input_ids_BS.device)
        x = self.word(input_ids_BS) + self.token_type(token_type_ids_BS) + self.position(pos)[None]
        x = self.emb_norm(x)
        attend = attention_mask_BS.bool()[:, None, None, :]
        for layer in self.layers:
            x = layer(x, attend)
        return x
