"""Token-by-token sampling of the next-token baseline (:mod:`moscale_cli.models.next_token`).

One transformer pass per token (91 for the reference scales, 49 for a single-scale tokenizer) with CFG
(``SamplingConfig.guidance(k)`` for a token of scale k), top-k / top-p, temperature and the KV cache
(``use_kv_cache=False`` recomputes the whole prefix each step: same result, for comparison). Positions past a
scale's valid length are [PAD] and not sampled. ``refine_steps`` does not apply. Returns the same
:class:`~moscale_cli.sampling.sampler.SampleResult` as the MoScale sampler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from moscale_cli.models.generator import KV, PAD_ID
from moscale_cli.models.layers import length_mask
from moscale_cli.models.next_token import NextTokenTransformer
from moscale_cli.models.tokenizer import MSTokenizer
from moscale_cli.sampling.draw import Seeds, guide, row_generators, sample_ids
from moscale_cli.sampling.sampler import Lengths, SampleResult, SamplingConfig, check_lengths, text_rows
from moscale_cli.utils.device import autocast_context

if TYPE_CHECKING:
    from moscale_cli.text.features import TextFeatures


@torch.no_grad()
def sample_next_token(
    model: NextTokenTransformer,
    tokenizer: MSTokenizer,
    text_features: TextFeatures | None,
    lengths_frames: Lengths,
    cfg: SamplingConfig | None = None,
    generator_seed: Seeds = 0,
    null_tokens: int = 16,
    batch_size: int | None = None,
) -> SampleResult:
    """Generate token maps and normalised features token by token (deterministic for a seed; row i draws from
    its own stream, as in :func:`~moscale_cli.sampling.sampler.sample`)."""
    cfg = cfg or SamplingConfig()
    if model.training:
        raise ValueError("put the generator in eval mode before sampling")
    device = next(model.parameters()).device
    tokens, mask, drop, B = text_rows(model, text_features, lengths_frames, cfg, null_tokens, batch_size, device)
    guided = drop is not None
    lengths = check_lengths(lengths_frames, tokenizer, B, device)
    gens = row_generators(generator_seed, B, device)
    rep = 2 if guided else 1
    valid = torch.cat([length_mask(v.to(device), L) for v, L in zip(tokenizer.valid_lengths(lengths), model.scale_lengths, strict=True)], 1)
    N = model.seq_len
    levels = model.levels.tolist()
    ids = torch.full((B, N), PAD_ID, dtype=torch.long, device=device)
    ac = autocast_context(device, enabled=cfg.autocast)
    with ac:
        text = model.prepare_text(tokens, mask, drop)
        cond = model.trunk.condition(text)
    past: list[KV] | None = None
    xs: list[torch.Tensor] = []
    for i in range(N):
        with ac:
            x = model.embed_step(i, None if i == 0 else ids[:, i - 1].repeat(rep), text)
            if x.shape[0] != rep * B:
                x = x.expand(rep * B, -1, -1)
            if cfg.use_kv_cache:
                logits, kv = model.run(x, i, text, cond, past)
                past = kv if past is None else [(torch.cat([p[0], n[0]], 2), torch.cat([p[1], n[1]], 2))
                                                 for p, n in zip(past, kv, strict=True)]
            else:
                xs.append(x)
                logits, _ = model.run(torch.cat(xs, 1), 0, text, cond)
        new, _ = sample_ids(guide(logits[:, -1:].float(), B, cfg.guidance(levels[i])), cfg, gens)
        ids[:, i] = torch.where(valid[:, i], new[:, 0], torch.full_like(new[:, 0], PAD_ID))
    out_ids = list(ids.split(model.scale_lengths, dim=1))
    fhat = None
    for k, sid in enumerate(out_ids):
        c = tokenizer.ids_to_contribution(sid, k, lengths).float()
        fhat = c if fhat is None else fhat + c
    with ac:
        feats = tokenizer.decode_latent(fhat, lengths)
    return SampleResult(ids=out_ids, feats=feats.float(), lengths=lengths, fhat=fhat)


__all__ = ["sample_next_token"]
