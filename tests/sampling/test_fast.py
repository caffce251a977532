"""Fast sampling path: the static runner in eager fp32 reproduces the eager runner bitwise (generation and
editing); bf16 stays close; graphs on CUDA (with and without a logit hook)."""

from __future__ import annotations

import pytest
import torch

from moscale_cli.errors import ConfigError, UsageError
from moscale_cli.sampling.fast import FastSampler, fast_sample
from moscale_cli.sampling.sampler import EditSpec, SamplingConfig, sample

from .helpers import text, tiny_pair


@pytest.fixture(scope="module")
def pair():
    return tiny_pair()


def _same(a, b) -> None:
    for x, y in zip(a.ids, b.ids, strict=True):
        assert torch.equal(x, y)
    assert torch.equal(a.feats, b.feats) and torch.equal(a.fhat, b.fhat)
    assert torch.equal(a.lengths, b.lengths)


def test_eager_fp32_equals_plain_sampler_with_cfg(pair):
    tok, gen = pair
    tf = text(3)
    lengths = [196, 100, 40]
    ref = sample(gen, tok, tf, lengths, SamplingConfig(), 5)
    _same(ref, FastSampler(gen, tok, SamplingConfig()).sample(tf, lengths, 5))
    # the ids are not trivially constant: another seed samples other ids
    other = sample(gen, tok, tf, lengths, SamplingConfig(), 0)
    assert any(not torch.equal(x, y) for x, y in zip(ref.ids, other.ids, strict=True))


@pytest.mark.slow
def test_eager_fp32_equals_plain_without_guidance_greedy_and_unconditional(pair):
    tok, gen = pair
    tf = text(2)
    for cfg in (SamplingConfig(cfg=0.0), SamplingConfig(top_k=1), SamplingConfig(refine_steps=(1, 1, 2, 3), top_p=1.0, temperature=0.7)):
        _same(sample(gen, tok, tf, [160, 84], cfg, 3), FastSampler(gen, tok, cfg).sample(tf, [160, 84], 3))
    _same(sample(gen, tok, None, [196, 60], SamplingConfig(), 2), FastSampler(gen, tok, SamplingConfig()).sample(None, [196, 60], 2))


def test_eager_fp32_edits_equal_the_plain_sampler(pair):
    """Editing (locked source ids) and length extension run on the static runner with the same result."""
    tok, gen = pair
    tf = text(3)
    lengths = [196, 100, 40]
    src = sample(gen, tok, tf, lengths, SamplingConfig(), 1).ids
    masks = []
    for s in src:
        m = torch.zeros_like(s, dtype=torch.bool)
        m[:, s.shape[1] // 3: 2 * s.shape[1] // 3] = True
        masks.append(m)
    spec = EditSpec(src, masks)
    ref = sample(gen, tok, tf, lengths, SamplingConfig(), 6, edit=spec)
    out = FastSampler(gen, tok, SamplingConfig()).sample(tf, lengths, 6, edit=spec)
    _same(ref, out)
    assert any(not torch.equal(a, b) for a, b in zip(out.ids, src, strict=True))  # the masked part was redrawn
    longer = [196, 160, 120]  # the source's padding is re-predicted where the target is longer
    _same(sample(gen, tok, tf, longer, SamplingConfig(), 2, edit=spec),
          FastSampler(gen, tok, SamplingConfig()).sample(tf, longer, 2, edit=spec))


def test_sampler_reuse_and_batch_change_keep_results(pair):
    tok, gen = pair
    fs = FastSampler(gen, tok, SamplingConfig())
    first = fs.sample(text(2), [196, 120], 1)
    fs.sample(text(3, seed=4), [80, 196, 44], 9)  # another batch size and content in between
    again = fs.sample(text(2), [196, 120], 1)
    _same(first, again)
    assert [x.shape for x in first.ids] == [(2, n) for n in tok.scale_lengths]
    assert first.feats.shape == (2, tok.max_frames, tok.cfg.feature_dim)


def test_bf16_weights_track_fp32(pair):
    tok, gen = pair
    tf = text(4)
    fs = FastSampler(gen, tok, SamplingConfig(), precision="bf16")
    assert fs.model.trunk.blocks[0].qkv.weight.dtype == torch.bfloat16 and fs.model.trunk.head.weight.dtype == torch.float32
    assert gen.trunk.blocks[0].qkv.weight.dtype == torch.float32  # the original model is untouched
    g = torch.Generator().manual_seed(0)
    ids = [torch.randint(0, gen.cfg.codebook_size, (4, n), generator=g) for n in gen.scale_lengths]
    ctx = [None] + [torch.randn(4, gen.cfg.code_dim, n, generator=g) for n in gen.scale_lengths[1:]]
    with torch.no_grad():
        l32 = gen(ctx, ids, tf.tokens_BSE, tf.mask_BS)
        l16 = fs.model(ctx, ids, tf.tokens_BSE.bfloat16(), tf.mask_BS)
    assert l16.dtype == torch.float32
    assert (l16 - l32).abs().max() < 0.05 * l32.abs().max()
    assert (l16.argmax(-1) == l32.argmax(-1)).float().mean() > 0.9
    out = fs.sample(tf, [196] * 4, 0)
    assert all(int(x.min()) >= 0 for x in out.ids) and torch.isfinite(out.feats).all()


def test_bad_settings(pair):
    tok, gen = pair
    with pytest.raises(ConfigError):
        FastSampler(gen, tok, mode="turbo")
    with pytest.raises(ConfigError):
        FastSampler(gen, tok, precision="fp8")
    with pytest.raises(ConfigError):
        FastSampler(gen, tok, SamplingConfig(refine_steps=(1, 2)))
    if not torch.cuda.is_available():
        with pytest.raises(UsageError):
            FastSampler(gen, tok, mode="graphs")
    with pytest.raises(ConfigError):
        FastSampler(gen, tok).sample(text(1, tokens=gen.cfg.text_len + 1), [196])
    gen.train()
    try:
        with pytest.raises(ValueError):
            FastSampler(gen, tok)
    finally:
        gen.eval()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
def test_cuda_graphs_fp32_equal_plain_and_bf16_agree():
    tok, gen = tiny_pair()
    tok, gen = tok.cuda(), gen.cuda()
    tf = text(3)
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        ref = sample(gen, tok, tf, [196, 100, 40], SamplingConfig(autocast=False), 0)
        fs = FastSampler(gen, tok, SamplingConfig(autocast=False), mode="graphs", precision="fp32")
        for _ in range(2):  # capture, then replay
            out = fs.sample(tf, [196, 100, 40], 0)
            for x, y in zip(ref.ids, out.ids, strict=True):
                assert torch.equal(x, y)
        calls = []

        def hook(p):  # with a hook the graph computes the logits; guidance and the hook run outside it
            calls.append(p.k)
            out = p.logits.clone()
            out[:, 0] = float("-inf")
            out[:, 0, 5] = 0.0
            return out

        hooked_ref = sample(gen, tok, tf, [196, 100, 40], SamplingConfig(autocast=False), 0, hook=hook)
        for _ in range(2):
            hooked = fs.sample(tf, [196, 100, 40], 0, hook=hook)
            assert all(torch.equal(x, y) for x, y in zip(hooked_ref.ids, hooked.ids, strict=True))
            assert all((x[:, 0] == 5).all() for x in hooked.ids)
        assert len(calls) == 3 * SamplingConfig().passes
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old
    out = fast_sample(gen, tok, tf, [196, 100, 40], SamplingConfig(), 0)  # graphs + bf16
    agree = torch.cat([(a == b).float().view(-1) for a, b in zip(ref.ids, out.ids, strict=True)]).mean()
    assert agree > 0.7
