"""Next-token autoregressive baseline (the T2M-GPT family) on the same tokenizer and text conditioning.

The token maps of the tokenizer's scales are flattened coarse to fine into one sequence (with a single-scale
tokenizer, ``scales=(1,)``, this is exactly the finest-scale sequence of T2M-GPT); a causal transformer
predicts token i from the start token (pooled from the text) and tokens < i. The text conditioner (learned
null text for CFG, start-token pool) and the trunk (blocks, AdaLN conditioning, text cross-attention,
scale-normalised RoPE, head) are the MoScale modules (:mod:`moscale_cli.models.generator`), so the two generators differ only in the factorisation: one token per
pass with a causal mask instead of one scale per pass with in-scale refinement.

Lengths are inputs (as in MoScale's evaluation): there is no end token; positions past each scale's valid
length are [PAD] inputs and are not predicted. Training: :func:`next_token_loss` (teacher forcing, clean
labels from ``tokenizer.encode``, T2M-GPT-style random-id corruption of a fraction r ~ U(0, noise_max) of the
inputs). Sampling: :func:`moscale_cli.sampling.next_token.sample_next_token`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from moscale_cli.models.generator import (
    KV,
    PAD_ID,
    GeneratorConfig,
    MoScaleTransformer,
    ScaleTrunk,
    TextCond,
    TextConditioner,
    TrunkCond,
    init_std,
    rename_legacy_keys,
    trunc_normal,
    trunc_normal_linears,
    upgrade_state_dict,
)


class NextTokenTransformer(nn.Module):
    """Causal next-token transformer over the flattened token maps (``cfg.arch == "next-token"``)."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        E, W, K, C = cfg.latent_dim, cfg.width, cfg.codebook_size, cfg.code_dim
        self.scale_lengths = list(cfg.scale_lengths)
        self.seq_len = sum(self.scale_lengths)
        self.conditioner = TextConditioner(cfg, 1)  # one start token
        self.sos_proj = nn.Linear(E, W)
        self.token_emb = nn.Embedding(K + 2, C)  # row 0 = [MASK] (unused), row 1 = [PAD], row 2 + i = code i
        self.tok_proj = nn.Linear(C, W)
        self.trunk = ScaleTrunk(cfg)  # input position i predicts token i: it carries token i's RoPE position and level
        lvl = torch.cat([torch.full((n,), k, dtype=torch.long) for k, n in enumerate(self.scale_lengths)])
        self.register_buffer("levels", lvl, persistent=False)
        self.register_buffer("causal", torch.ones(self.seq_len, self.seq_len, dtype=torch.bool).tril(), persistent=False)
        self._register_load_state_dict_pre_hook(lambda sd, prefix, *_: rename_legacy_keys(sd, prefix))
        self.reset_parameters()

    upgrade_state_dict = staticmethod(upgrade_state_dict)

    def reset_parameters(self) -> None:
        """The MoScale generator's init (:meth:`MoScaleTransformer.reset_parameters`, without start positions)."""
        std = init_std(self.cfg)
        trunc_normal_linears(self, std)
        self.conditioner.reset_null_text()
        trunc_normal(self.conditioner.pool.queries, std)
        self.trunk.rescale_init()

    # ------------------------------------------------------------------ inputs
    def null_text(self, batch: int, n_tokens: int, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.conditioner.null_text(batch, n_tokens, device)

    def prepare_text(self, tokens_BSD: torch.Tensor, mask_BS: torch.Tensor, drop_B: torch.Tensor | None = None) -> TextCond:
        return self.conditioner(tokens_BSD, mask_BS, drop_B)

    def embed_tokens(self, ids_BN: torch.Tensor) -> torch.Tensor:
        """Width-W embeddings of token ids (-1 = [PAD])."""
        return self.tok_proj(self.token_emb(ids_BN + 2))

    def embed_inputs(self, ids_BN: torch.Tensor, text: TextCond) -> torch.Tensor:
        """Teacher-forcing inputs (B, N, W): [start token, embed(ids[:, :-1])] + level embeddings."""
        sos = self.sos_proj(text.start_BLE)
        x = torch.cat([sos.to(self.tok_proj.weight.dtype), self.embed_tokens(ids_BN[:, :-1])], dim=1)
        return x + self.trunk.lvl_embed(self.levels[: x.shape[1]])

    def embed_step(self, i: int, prev_ids_B: torch.Tensor | None, text: TextCond) -> torch.Tensor:
        """Input (B, 1, W) of position ``i`` (the start token for i = 0, else token i - 1)."""
        if i == 0:
            x = self.sos_proj(text.start_BLE)
        else:
            x = self.embed_tokens(prev_ids_B.view(-1, 1))
        return x + self.trunk.lvl_embed.weight[self.levels[i]]

    # ------------------------------------------------------------------ trunk
    def run(
        self, x: torch.Tensor, start: int, text: TextCond, cond: TrunkCond | None = None, past: list[KV] | None = None,
    ) -> tuple[torch.Tensor, list[KV]]:
        """Logits (B, N, K) of positions ``[start, start + N)`` (earlier ones from ``past``) and the new K/V."""
        return self.trunk(x, start, text, None if x.shape[1] == 1 else self.causal, past, cond)

    def forward(
        self,
        contexts: list[torch.Tensor | None] | None,
        ids: list[torch.Tensor] | torch.Tensor,
        text_tokens: torch.Tensor,
        text_mask: torch.Tensor,
        drop_B: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Teacher-forced logits (B, N, K); ``ids`` per scale (or flattened), -1 at padding. ``contexts`` is
        ignored (same call signature as :class:`MoScaleTransformer`)."""
        flat = torch.cat(list(ids), dim=1) if isinstance(ids, (list, tuple)) else ids
        if flat.shape[1] != self.seq_len:
            raise ValueError(f"expected {self.seq_len} tokens, got {flat.shape[1]}")
        text = self.prepare_text(text_tokens, text_mask, drop_B)
        logits, _ = self.run(self.embed_inputs(flat, text), 0, text)
        return logits


def next_token_loss(
    model: torch.nn.Module,
    tokenizer: Any,
    feats: torch.Tensor,
    lengths: torch.Tensor,
    text_feats: Any,
    cond_drop: float = 0.1,
    noise_max: float = 0.1,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Cross-entropy of next-token prediction on the valid tokens, and logs (``acc``, ``acc_s{k}``).

    Labels: the frozen tokenizer's clean ids (``encode``). Inputs: the labels with a fraction
    r ~ U(0, noise_max) (one per batch) of the valid ones replaced by random ids."""
    dev = feats.device

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=generator, device=dev) if generator is not None else torch.rand(shape, device=dev)

    with torch.no_grad():
        tokenizer.eval()
        labels_list = tokenizer.encode(feats, lengths)
    sizes = [x.shape[1] for x in labels_list]
    labels = torch.cat(labels_list, dim=1)
    K = int(tokenizer.codebook.shape[0])
    valid = labels >= 0
    rate = float(rand(1)) * noise_max
    noise = (rand(*labels.shape) < rate) & valid
    rand_ids = (rand(*labels.shape) * K).long().clamp(max=K - 1)
    inp = torch.where(noise, rand_ids, labels)
    B = labels.shape[0]
    drop = rand(B) < cond_drop if cond_drop > 0 else None
    logits = model(None, inp, text_feats.tokens_BSE.to(dev), text_feats.mask_BS.to(dev), drop).float()
    loss = F.cross_entropy(logits[valid], labels[valid])
    with torch.no_grad():
        hit = (logits.argmax(-1) == labels) & valid
        logs: dict[str, Any] = {"acc": hit.sum() / valid.sum().clamp(min=1)}
        for k, (h, m) in enumerate(zip(hit.split(sizes, 1), valid.split(sizes, 1), strict=True)):
            logs[f"acc_s{k}"] = h.sum() / m.sum().clamp(min=1)
    return loss, logs


def build_generator(cfg: GeneratorConfig) -> nn.Module:
    """The generator module for ``cfg.arch``: ``next-scale`` (MoScale) or ``next-token`` (this baseline)."""
    return NextTokenTransformer(cfg) if cfg.arch == "next-token" else MoScaleTransformer(cfg)


__all__ = ["PAD_ID", "NextTokenTransformer", "build_generator", "next_token_loss"]
