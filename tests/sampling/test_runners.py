"""The two runners of the refinement loop: KV-cache exactness, the runner contract, and the logit hook."""

from __future__ import annotations

import pytest
import torch

from moscale_cli.models.generator import MASK_ID, PAD_ID
from moscale_cli.sampling.decoder import ScaleDecoder
from moscale_cli.sampling.fast import FastSampler, StaticRunner
from moscale_cli.sampling.sampler import EditSpec, RefinePass, SamplingConfig, sample

from .helpers import text, tiny_pair


@pytest.fixture(scope="module")
def pair():
    return tiny_pair()


def random_inputs(gen, B: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    K, C = gen.cfg.codebook_size, gen.cfg.code_dim
    ids = [torch.randint(0, K, (B, n), generator=g) for n in gen.scale_lengths]
    ids[-1][0, -5:] = PAD_ID
    ids[2][1, 3] = MASK_ID
    ctx = [None] + [torch.randn(B, C, n, generator=g) for n in gen.scale_lengths[1:]]
    return ctx, ids


def _runners(gen):
    return {"cache": ScaleDecoder(gen, use_cache=True), "no cache": ScaleDecoder(gen, use_cache=False),
            "static": StaticRunner(gen)}


@pytest.mark.parametrize("passes", [(1, 2, 5, 10), (3, 1, 2, 1)])
def test_cached_logits_equal_the_full_recompute(pair, passes):
    """Every runner gives the no-cache logits at every pass (the cache is exact: no position attends to a later
    scale), and all equal the teacher-forced forward when fed the final ids."""
    _, gen = pair
    ctx, ids = random_inputs(gen, seed=3)
    tf = text(3, tokens=9)
    runners = _runners(gen)
    for r in runners.values():
        r.begin(tf.tokens_BSE, tf.mask_BS, None)
    g = torch.Generator().manual_seed(1)
    K = gen.cfg.codebook_size
    for k, n in enumerate(gen.scale_lengths):
        for _ in range(passes[k]):
            cur = torch.randint(0, K, (3, n), generator=g)
            cur[torch.rand(3, n, generator=g) < 0.4] = MASK_ID
            out = {name: r.logits(k, cur, ctx[k]) for name, r in runners.items()}
            assert out["cache"].shape == (3, n, K)
            for name in ("cache", "static"):
                assert (out[name] - out["no cache"]).abs().max() < 1e-5, name
        for r in runners.values():
            r.commit(k, ids[k], ctx[k])
    full = gen(ctx, ids, tf.tokens_BSE, tf.mask_BS)
    for name, r in _runners(gen).items():
        r.begin(tf.tokens_BSE, tf.mask_BS, None)
        for k in range(len(gen.scale_lengths)):
            out = r.logits(k, ids[k], ctx[k])
            assert (out - full[:, gen.offsets[k]:gen.offsets[k + 1]]).abs().max() < 1e-5, name
            r.commit(k, ids[k], ctx[k])


def test_guided_rows_use_the_null_text(pair):
    """drop_R rows of a runner see the learned null text: they equal a batch given the null text directly."""
    _, gen = pair
    ctx, ids = random_inputs(gen, B=2)
    tf = text(2, tokens=5)
    tokens, mask = torch.cat([tf.tokens_BSE] * 2), torch.cat([tf.mask_BS] * 2)
    drop = torch.tensor([False, False, True, True])
    null, _ = gen.null_text(2, 5)
    for r in (ScaleDecoder(gen), StaticRunner(gen)):
        r.begin(tokens, mask, drop)
        both = r.logits(0, torch.cat([ids[0]] * 2), None)
        r.begin(null, tf.mask_BS, None)
        assert (both[2:] - r.logits(0, ids[0], None)).abs().max() < 1e-5
        r.begin(tf.tokens_BSE, tf.mask_BS, None)
        assert (both[:2] - r.logits(0, ids[0], None)).abs().max() < 1e-5


def test_runner_contract_errors(pair):
    _, gen = pair
    ctx, ids = random_inputs(gen)
    tf = text(3)
    dec = ScaleDecoder(gen)
    with pytest.raises(ValueError, match="begin"):
        dec.logits(0, ids[0], None)
    dec.begin(tf.tokens_BSE, tf.mask_BS, None)
    with pytest.raises(ValueError, match="scale 1"):
        dec.logits(1, ids[1], ctx[1])
    with pytest.raises(ValueError, match="begin"):
        StaticRunner(gen).logits(0, ids[0], None)


# ------------------------------------------------------------------ the logit hook
def _forcing_hook(calls: list[RefinePass]):
    """Force code (3 k + 1) at the first valid position of every row (all other codes -inf)."""

    def hook(p: RefinePass) -> torch.Tensor:
        calls.append(p)
        out = p.logits.clone()
        out[:, 0, :] = float("-inf")
        out[:, 0, 3 * p.k + 1] = 0.0
        return out

    return hook


def test_hook_forces_codes_identically_on_both_runners(pair):
    tok, gen = pair
    tf = text(2)
    lengths = [196, 84]
    cfg = SamplingConfig()
    free = sample(gen, tok, tf, lengths, cfg, 4)
    assert any(int(free.ids[k][b, 0]) != 3 * k + 1 for k in range(4) for b in range(2))  # the hook has work to do
    results = {}
    for name, runner in (("eager", None), ("static", StaticRunner(gen))):
        calls: list[RefinePass] = []
        results[name] = sample(gen, tok, tf, lengths, cfg, 4, hook=_forcing_hook(calls), runner=runner)
        out = results[name]
        for k in range(4):
            assert out.ids[k][:, 0].tolist() == [3 * k + 1] * 2
        # one call per refinement pass, in order, with what the hook is promised
        assert [(p.k, p.step) for p in calls] == [(k, s) for k, n in enumerate(cfg.refine_steps) for s in range(n)]
        for p in calls:
            L = gen.scale_lengths[p.k]
            assert p.logits.shape == (2, L, gen.cfg.codebook_size) and p.logits.dtype == torch.float32
            assert p.ids.shape == p.redraw.shape == (2, L) and (p.ids[p.redraw] == MASK_ID).all()
            assert p.lengths.tolist() == [196, 84] and p.tokenizer is tok and len(p.generators) == 2
            assert (p.fhat is None) == (p.k == 0)
            if p.fhat is not None:
                expect = sum(tok.ids_to_contribution(out.ids[j], j, out.lengths) for j in range(p.k))
                assert torch.allclose(p.fhat, expect, atol=1e-6)
        first = calls[0]
        v = int(tok.valid_lengths(torch.tensor([84]))[0][0])
        assert first.redraw[0].all() and first.redraw[1, :v].all() and not first.redraw[1, v:].any()
    for a, b in zip(results["eager"].ids, results["static"].ids, strict=True):
        assert torch.equal(a, b)
    assert torch.equal(results["eager"].feats, results["static"].feats)


def test_a_hook_returning_none_changes_nothing_and_a_bad_shape_is_refused(pair):
    tok, gen = pair
    tf = text(2)
    plain = sample(gen, tok, tf, [120, 60], SamplingConfig(), 9)
    seen = []
    same = FastSampler(gen, tok).sample(tf, [120, 60], 9, hook=lambda p: seen.append(p.k))
    assert len(seen) == SamplingConfig().passes
    assert all(torch.equal(a, b) for a, b in zip(plain.ids, same.ids, strict=True))
    with pytest.raises(ValueError, match="logit hook returned shape"):
        sample(gen, tok, tf, [120, 60], SamplingConfig(), 9, hook=lambda p: p.logits[:, :1])


def test_hook_never_redraws_locked_positions(pair):
    """In an edit, the hook's forced code shows only where the edit mask lets the loop draw."""
    tok, gen = pair
    tf = text(1)
    src = sample(gen, tok, tf, [196], SamplingConfig(), 1).ids
    masks = [torch.zeros_like(s, dtype=torch.bool) for s in src]
    for m in masks:
        m[:, m.shape[1] // 2:] = True
    calls: list[RefinePass] = []
    out = sample(gen, tok, tf, [196], SamplingConfig(), 2, edit=EditSpec(src, masks), hook=_forcing_hook(calls))
    for o, s in zip(out.ids, src, strict=True):
        assert torch.equal(o[:, 0], s[:, 0])  # position 0 is locked: the source id, whatever the hook says
        assert not calls[0].redraw[:, 0].any()
