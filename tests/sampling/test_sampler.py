"""Sampler: schedule, CFG, seeds, lengths, KV cache, batching, edit hooks."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from moscale_cli.errors import ConfigError, UsageError
from moscale_cli.models.generator import GeneratorConfig, MoScaleTransformer
from moscale_cli.models.tokenizer import MSTokenizer, TokenizerConfig
from moscale_cli.sampling.draw import filter_logits, guide, row_generators, row_seed
from moscale_cli.sampling.sampler import EditSpec, SamplingConfig, generation_passes, mask_counts, sample


@dataclass
class Text:
    tokens_BSE: torch.Tensor
    mask_BS: torch.Tensor


@pytest.fixture(scope="module")
def tok() -> MSTokenizer:
    torch.manual_seed(0)
    t = MSTokenizer(TokenizerConfig.preset("tiny")).eval()
    with torch.no_grad():
        t.codebook.normal_()
    return t


@pytest.fixture(scope="module")
def gen(tok) -> MoScaleTransformer:
    torch.manual_seed(1)
    m = MoScaleTransformer(GeneratorConfig.preset("tiny", tokenizer=tok)).eval()
    with torch.no_grad():  # sharper, text-dependent logits than the near-zero init
        m.trunk.head.weight.mul_(200.0)
        for b in m.trunk.blocks:
            b.ada[1].bias.normal_(0, 0.5)
    return m


def make_text(B: int = 3, S: int = 9, seed: int = 0) -> Text:
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(B, S, dtype=torch.bool)
    for b in range(B):
        mask[b, S - 2 * b:] = False if b else mask[b, S:]
    return Text(torch.randn(B, S, 384, generator=g), mask)


LENS = [196, 40, 102]


def same(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_mask_counts_follow_the_cosine_schedule():
    assert mask_counts(1, 6) == [6]
    assert mask_counts(2, 12) == [12, 1]
    assert mask_counts(5, 24) == [24, 22, 17, 9, 1]
    c = mask_counts(10, 49)
    assert c[:6] == [49, 48, 46, 42, 38, 31] and c[6] in (24, 25) and c[7:] == [17, 9, 1]
    assert generation_passes(SamplingConfig()) == 18


def test_guidance_schedule_is_the_references():
    """t = g + (k - 1) * -0.25 with k counted from 0 (method §5): 5.25, 5.0, 4.75, 4.5 for g = 5."""
    assert [SamplingConfig().guidance(k) for k in range(4)] == [5.25, 5.0, 4.75, 4.5]
    assert [SamplingConfig(cfg=3.0).guidance(k) for k in range(4)] == [3.25, 3.0, 2.75, 2.5]
    assert [SamplingConfig(cfg=0.0).guidance(k) for k in range(4)] == [0.0] * 4  # 0 = no guidance anywhere
    assert SamplingConfig(cfg=0.5).guidance(5) == 0.0  # floored at 0


def test_top_p_cuts_where_the_reference_does():
    """A code is dropped once the cumulative mass including it exceeds top_p (the crossing code goes too);
    the most likely code always stays."""
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    assert torch.isfinite(filter_logits(probs.log(), top_p=0.75)).tolist() == [[True, False, False, False]]
    assert torch.isfinite(filter_logits(probs.log(), top_p=0.81)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(filter_logits(torch.tensor([[0.95, 0.05]]).log(), top_p=0.9)).tolist() == [[True, False]]
    # a fixed row: N(0, 3^2) logits over 128 codes, kept counts against the reference formula
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4000, 128, generator=g) * 3
    kept = torch.isfinite(filter_logits(x, top_p=0.9)).sum(-1)
    sp = x.softmax(-1).sort(-1, descending=True).values
    ref = (sp.cumsum(-1) <= 0.9).sum(-1).clamp(min=1)
    assert torch.equal(kept, ref)
    assert abs(kept.float().mean().item() - 11.5) < 0.15  # the old cut kept about one more (12.4)
    row = x[0]
    assert int(torch.isfinite(filter_logits(row[None], top_p=0.9)).sum()) == int(ref[0])


def test_min_p_drops_codes_below_a_fraction_of_the_likeliest():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    assert torch.isfinite(filter_logits(probs.log(), min_p=0.2)).tolist() == [[True, True, True, False]]
    assert torch.isfinite(filter_logits(probs.log(), min_p=0.7)).tolist() == [[True, False, False, False]]
    with pytest.raises(ConfigError):
        SamplingConfig(min_p=1.5)


def test_guide_and_filters():
    lg = torch.randn(4, 5, 7)
    assert torch.equal(guide(lg, 2, 0.0), lg[:2])
    assert torch.allclose(guide(lg, 2, 1.5), 2.5 * lg[:2] - 1.5 * lg[2:])
    assert torch.equal(guide(lg[:2], 2, 3.0), lg[:2])
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    kept = torch.isfinite(filter_logits(probs.log(), top_k=3))
    assert kept.tolist() == [[True, True, True, False]]
    with pytest.raises(ConfigError):
        SamplingConfig(top_p=0.0)
    with pytest.raises(ConfigError):
        SamplingConfig(refine_steps=(1, 0))


def test_seeds_determinism_and_lengths(gen, tok):
    text = make_text()
    a = sample(gen, tok, text, LENS, SamplingConfig(), 7)
    b = sample(gen, tok, text, LENS, SamplingConfig(), 7)
    c = sample(gen, tok, text, LENS, SamplingConfig(), 8)
    assert same(a.ids, b.ids) and torch.equal(a.feats, b.feats)
    assert not same(a.ids, c.ids)
    valid = tok.valid_lengths(torch.tensor(LENS))
    for k, ids in enumerate(a.ids):
        assert ids.shape == (3, tok.scale_lengths[k])
        for i in range(3):
            v = int(valid[k][i])
            assert (ids[i, :v] >= 0).all() and (ids[i, :v] < tok.cfg.n_codes).all()
            assert (ids[i, v:] == -1).all()
    assert a.feats.shape == (3, 196, tok.cfg.feature_dim)
    assert a.lengths.tolist() == [196, 40, 100]
    for i, n in enumerate(a.lengths.tolist()):
        assert torch.count_nonzero(a.feats[i, n:]) == 0
    assert torch.isfinite(a.feats).all()
    # the decoded features are those of the returned ids
    assert torch.allclose(tok.decode_ids(a.ids, a.lengths), a.feats, atol=1e-5)


def test_kv_cache_gives_identical_samples(gen, tok):
    text = make_text()
    a = sample(gen, tok, text, LENS, SamplingConfig(use_kv_cache=True), 3)
    b = sample(gen, tok, text, LENS, SamplingConfig(use_kv_cache=False), 3)
    assert same(a.ids, b.ids)


def test_cfg_zero_is_the_conditional_model(gen, tok):
    """With the null text equal to the prompt, guidance of any strength leaves the logits unchanged."""
    text = make_text(B=1, S=6)
    greedy = dict(top_k=1)
    plain = sample(gen, tok, text, [120], SamplingConfig(cfg=0.0, **greedy), 0)
    saved = gen.conditioner.cfg_uncond.data.clone()
    try:
        gen.conditioner.cfg_uncond.data[:6] = text.tokens_BSE[0]
        guided = sample(gen, tok, text, [120], SamplingConfig(cfg=5.0, **greedy), 0)
    finally:
        gen.conditioner.cfg_uncond.data.copy_(saved)
    assert same(plain.ids, guided.ids)
    other = sample(gen, tok, text, [120], SamplingConfig(cfg=5.0, **greedy), 0)
    assert not same(plain.ids, other.ids)  # with the learned null text, guidance changes the result


def test_batching_prompts_of_different_lengths(gen, tok):
    """Greedy samples of a batch equal the samples of each prompt alone (text padding is masked)."""
    text = make_text()
    cfg = SamplingConfig(top_k=1)
    batch = sample(gen, tok, text, LENS, cfg, 0)
    for i in range(3):
        n = int(text.mask_BS[i].sum())
        one = sample(gen, tok, Text(text.tokens_BSE[i:i + 1, :n], text.mask_BS[i:i + 1, :n]), [LENS[i]], cfg, 0)
        assert same([x[i:i + 1] for x in batch.ids], one.ids)


def test_unconditional_mode(gen, tok):
    a = sample(gen, tok, None, [80, 196], SamplingConfig(), 0)
    assert a.feats.shape[0] == 2 and (a.ids[-1][0, 20:] == -1).all()
    b = sample(gen, tok, None, [120], SamplingConfig(), 0, batch_size=4)
    assert b.ids[0].shape[0] == 4 and b.lengths.tolist() == [120] * 4


def test_bad_lengths_and_steps(gen, tok):
    with pytest.raises(UsageError):
        sample(gen, tok, make_text(), [196, 300, 40], SamplingConfig(), 0)
    with pytest.raises(UsageError):
        sample(gen, tok, make_text(), [196, 40], SamplingConfig(), 0)
    with pytest.raises(ConfigError):
        sample(gen, tok, make_text(), LENS, SamplingConfig(refine_steps=(1, 2)), 0)


def test_edit_all_true_is_plain_generation_all_false_is_source(gen, tok):
    text = make_text()
    plain = sample(gen, tok, text, LENS, SamplingConfig(), 11)
    src = sample(gen, tok, text, LENS, SamplingConfig(), 99).ids
    assert not same(plain.ids, src)
    every = EditSpec(locked_ids=src, edit_mask=[torch.ones_like(s, dtype=torch.bool) for s in src])
    assert same(sample(gen, tok, text, LENS, SamplingConfig(), 11, edit=every).ids, plain.ids)
    none = EditSpec(locked_ids=src, edit_mask=[torch.zeros_like(s, dtype=torch.bool) for s in src])
    out = sample(gen, tok, text, LENS, SamplingConfig(), 11, edit=none)
    assert same(out.ids, src)
    assert torch.allclose(out.feats, tok.decode_ids(src, out.lengths), atol=1e-5)


def test_edit_region_keeps_the_rest(gen, tok):
    text = make_text()
    src = sample(gen, tok, text, LENS, SamplingConfig(), 5).ids
    masks = []
    for s in src:
        m = torch.zeros_like(s, dtype=torch.bool)
        m[:, s.shape[1] // 2:] = True
        masks.append(m)
    out = sample(gen, tok, text, LENS, SamplingConfig(), 6, edit=EditSpec(src, masks)).ids
    changed = False
    for o, s, m in zip(out, src, masks, strict=True):
        assert torch.equal(o[~m], s[~m])
        changed |= not torch.equal(o[m], s[m])
    assert changed


def test_edit_extends_past_the_source_length(gen, tok):
    """Source padding that is valid for the target is re-predicted even outside the edit mask."""
    text = make_text(B=1)
    src = sample(gen, tok, text, [40], SamplingConfig(), 1).ids
    none = [torch.zeros_like(s, dtype=torch.bool) for s in src]
    out = sample(gen, tok, text, [160], SamplingConfig(), 2, edit=EditSpec(src, none))
    v_src, v_new = tok.valid_lengths(torch.tensor([40])), tok.valid_lengths(torch.tensor([160]))
    for k, (o, s) in enumerate(zip(out.ids, src, strict=True)):
        a, b = int(v_src[k][0]), int(v_new[k][0])
        assert torch.equal(o[0, :a], s[0, :a]) and (o[0, a:b] >= 0).all() and (o[0, b:] == -1).all()


def test_cfg_left_to_the_model():
    """cfg=None (the default) is the reference's 5 until a model's recommendation fills it in."""
    from moscale_cli.errors import ConfigError
    from moscale_cli.sampling.config import REFERENCE_CFG

    s = SamplingConfig()
    assert s.cfg is None and s.guidance_scale == REFERENCE_CFG == 5.0
    assert [s.guidance(k) for k in range(4)] == [5.25, 5.0, 4.75, 4.5]
    assert s.for_model(None).cfg == 5.0 and s.for_model({}).cfg == 5.0
    assert s.for_model({"cfg": 2}).cfg == 2.0
    assert [s.for_model({"cfg": 2}).guidance(k) for k in range(4)] == [2.25, 2.0, 1.75, 1.5]
    assert SamplingConfig(cfg=0.0).for_model({"cfg": 2}).cfg == 0.0  # explicit wins, 0 included
    with pytest.raises(ConfigError, match="unknown"):
        s.for_model({"top_p": 0.5})


def test_row_seeds_index_zero_is_the_seed_and_pairs_do_not_collide():
    assert [row_seed(s, 0) for s in (0, 7, -3, 2**63)] == [0, 7, -3, 2**63]
    seeds = {row_seed(s, i) for s in range(300) for i in range(1, 300)} | set(range(300))
    assert len(seeds) == 300 * 300  # no two (seed, index) pairs share a stream here
    assert all(0 <= row_seed(s, i) < 2**64 for s in (-5, 0, 2**64 - 1) for i in (1, 2, 10**9))
    # the batching bug this replaces: chunk 2 of seed s drew from seed s + 1, which is chunk 1 of seed s + 1
    assert all(row_seed(s, i) != row_seed(s + 1, 0) for s in range(100) for i in range(1, 100))


def test_each_row_draws_from_its_own_stream(gen, tok):
    """Row i of a batch sampled with seed s equals that prompt sampled alone with row i's generator, so a motion
    depends on (seed, index), not on the rows sampled beside it."""
    text = make_text()
    batch = sample(gen, tok, text, LENS, SamplingConfig(), 13)
    for i in range(3):
        one = Text(text.tokens_BSE[i:i + 1], text.mask_BS[i:i + 1])
        alone = sample(gen, tok, one, [LENS[i]], SamplingConfig(), row_generators(13, 1, torch.device("cpu"), start=i))
        assert same([x[i:i + 1] for x in batch.ids], alone.ids)
    assert same([x[:1] for x in batch.ids], sample(gen, tok, Text(text.tokens_BSE[:1], text.mask_BS[:1]), LENS[:1],
                                                   SamplingConfig(), 13).ids)  # row 0 of seed s is seed s alone
    with pytest.raises(ValueError, match="one generator per row"):
        sample(gen, tok, text, LENS, SamplingConfig(), torch.Generator().manual_seed(0))
