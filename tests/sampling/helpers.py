"""Tiny random tokenizer/generator pair with peaky logits (so that id agreement is a real check)."""

from __future__ import annotations

import torch

from moscale_cli.models.generator import GeneratorConfig, MoScaleTransformer
from moscale_cli.models.tokenizer import MSTokenizer, TokenizerConfig
from moscale_cli.text.encoder import TextFeatures


def tiny_pair(seed: int = 0) -> tuple[MSTokenizer, MoScaleTransformer]:
    torch.manual_seed(seed)
    tok = MSTokenizer(TokenizerConfig.preset("tiny")).eval()
    with torch.no_grad():
        tok.codebook.normal_()
    gen = MoScaleTransformer(GeneratorConfig.preset("tiny", tokenizer=tok, dropout=0.0)).eval()
    with torch.no_grad():
        for b in gen.trunk.blocks:
            b.ada[1].bias.normal_(0, 0.5)
        gen.trunk.head.weight.mul_(40)
    return tok, gen


def text(batch: int, tokens: int = 7, seed: int = 0) -> TextFeatures:
    g = torch.Generator().manual_seed(seed)
    t = torch.randn(batch, tokens, 384, generator=g)
    mask = torch.ones(batch, tokens, dtype=torch.bool)
    if batch > 1:
        mask[1, tokens // 2:] = False
    return TextFeatures(tokens_BSE=t, mask_BS=mask, pooled_BE=t.mean(1))
