"""MoScaleTransformer: config, attention structure, null text, KV-cache exactness."""

from __future__ import annotations

import pytest
import torch

from moscale_cli.errors import ConfigError
from moscale_cli.models.generator import (
    MASK_ID,
    PAD_ID,
    GeneratorConfig,
    MoScaleTransformer,
    ScaleDecoder,
    block_causal_mask,
    scale_positions,
)
from moscale_cli.models.layers import count_parameters
from moscale_cli.models.tokenizer import MSTokenizer, TokenizerConfig

K, C = 32, 16
SCALES = (6, 12, 24, 49)


def tiny_cfg(**kw) -> GeneratorConfig:
    return GeneratorConfig.preset("tiny", codebook_size=K, code_dim=C, scale_lengths=SCALES, n_grid=49, dropout=0.0, **kw)


def random_inputs(B: int = 3, S: int = 7, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ids = [torch.randint(0, K, (B, n), generator=g) for n in SCALES]
    ids[-1][0, -5:] = PAD_ID
    ids[2][1, 3] = MASK_ID
    ctx = [None] + [torch.randn(B, C, n, generator=g) for n in SCALES[1:]]
    text = torch.randn(B, S, 384, generator=g)
    mask = torch.ones(B, S, dtype=torch.bool)
    mask[1, 4:] = False
    return ctx, ids, text, mask


@pytest.fixture(scope="module")
def model() -> MoScaleTransformer:
    torch.manual_seed(0)
    m = MoScaleTransformer(tiny_cfg()).eval()
    with torch.no_grad():  # make the AdaLN gates matter (they start near zero)
        for b in m.blocks:
            b.ada[1].bias.normal_(0, 0.5)
    return m


def test_presets_round_trip_and_tokenizer_fields():
    tok = MSTokenizer(TokenizerConfig.preset("tiny"))
    for name in ("tiny", "small", "base", "large"):
        cfg = GeneratorConfig.preset(name, tokenizer=tok)
        assert cfg.codebook_size == tok.cfg.n_codes and cfg.code_dim == tok.cfg.code_dim
        assert list(cfg.scale_lengths) == list(tok.scale_lengths) and cfg.n_grid == tok.n_grid
        assert GeneratorConfig.from_dict(cfg.to_dict()) == cfg
    base = GeneratorConfig.preset("base")
    assert (base.latent_dim, base.width, base.depth, base.heads, base.head_dim) == (384, 768, 16, 8, 96)
    assert base.seq_len == 91 and abs(base.drop_path - 0.0667) < 1e-3
    with pytest.raises(ConfigError):
        GeneratorConfig.preset("huge")
    with pytest.raises(ConfigError):
        GeneratorConfig(arch="diffusion")
    small = MoScaleTransformer(GeneratorConfig.preset("small"))
    assert 10e6 < count_parameters(small) < 40e6


def test_block_causal_mask_structure():
    m = block_causal_mask([2, 3, 4])
    lvl = [0, 0, 1, 1, 1, 2, 2, 2, 2]
    for i in range(9):
        for j in range(9):
            assert bool(m[i, j]) == (lvl[j] <= lvl[i])


def test_scale_positions_share_the_fine_axis():
    pos = scale_positions(SCALES, 49)
    assert pos.shape == (91,)
    assert pos[:6].tolist() == [round(p * 49 / 6) for p in range(6)]
    assert pos[-49:].tolist() == list(range(49))
    assert int(pos.max()) <= 48


def test_forward_shapes_and_finite(model):
    ctx, ids, text, mask = random_inputs()
    logits = model(ctx, ids, text, mask)
    assert logits.shape == (3, 91, K) and torch.isfinite(logits).all()


def test_later_scales_never_change_earlier_outputs(model):
    ctx, ids, text, mask = random_inputs()
    base = model(ctx, ids, text, mask)
    off = model.offsets
    for k in range(1, len(SCALES)):
        ids2 = [x.clone() for x in ids]
        ctx2 = [None if c is None else c.clone() for c in ctx]
        for j in range(k, len(SCALES)):
            ids2[j] = (ids2[j] + 1) % K
            ctx2[j] = ctx2[j] + 1.0
        out = model(ctx2, ids2, text, mask)
        assert torch.equal(out[:, : off[k]], base[:, : off[k]])
        assert not torch.allclose(out[:, off[k]:], base[:, off[k]:])


def test_full_attention_within_a_scale(model):
    ctx, ids, text, mask = random_inputs()
    base = model(ctx, ids, text, mask)
    ids2 = [x.clone() for x in ids]
    ids2[2][:, -1] = (ids2[2][:, -1] + 3) % K  # last position of scale 2 changes
    out = model(ctx, ids2, text, mask)
    o = model.offsets
    assert not torch.allclose(out[:, o[2]:o[2] + 1], base[:, o[2]:o[2] + 1])  # the first position sees it


def test_gradients_are_block_causal(model):
    ctx, ids, text, mask = random_inputs()
    ctx = [None] + [c.requires_grad_(True) for c in ctx[1:]]
    logits = model(ctx, ids, text, mask)
    o = model.offsets
    logits[:, : o[2]].square().sum().backward()  # scales 0 and 1
    assert ctx[1].grad is not None and ctx[1].grad.abs().sum() > 0
    for c in ctx[2:]:
        assert c.grad is None or torch.count_nonzero(c.grad) == 0


def test_padded_text_tokens_are_ignored(model):
    ctx, ids, text, mask = random_inputs()
    base = model(ctx, ids, text, mask)
    text2 = text.clone()
    text2[1, 4:] = 100.0  # invalid rows of sample 1
    assert torch.allclose(model(ctx, ids, text2, mask), base, atol=1e-6)
    # and the result equals running that sample with only its valid tokens
    one = model([None if c is None else c[1:2] for c in ctx], [x[1:2] for x in ids], text[1:2, :4], mask[1:2, :4])
    assert torch.allclose(one, base[1:2], atol=1e-5)


def test_null_text_keeps_length_and_replaces_rows(model):
    _, _, text, mask = random_inputs()
    drop = torch.tensor([True, False, True])
    tc = model.prepare_text(text, mask, drop)
    assert tc.kv_BSE.shape[:2] == text.shape[:2]
    null_tok, _ = model.null_text(3, text.shape[1])
    ref = model.prepare_text(null_tok, mask)
    plain = model.prepare_text(text, mask)
    assert torch.allclose(tc.kv_BSE[0], ref.kv_BSE[0]) and torch.allclose(tc.start_BLE[2], ref.start_BLE[2])
    assert torch.allclose(tc.kv_BSE[1], plain.kv_BSE[1])
    with pytest.raises(ConfigError):
        model.prepare_text(torch.randn(1, 40, 384), torch.ones(1, 40, dtype=torch.bool))
    with pytest.raises(ConfigError):
        model.prepare_text(torch.randn(1, 4, 100), torch.ones(1, 4, dtype=torch.bool))


@pytest.mark.parametrize("passes", [(1, 2, 5, 10), (3, 1, 2, 1)])
def test_kv_cache_matches_full_recompute(model, passes):
    ctx, ids, text, mask = random_inputs(seed=3)
    tc = model.prepare_text(text, mask)
    cached, plain = ScaleDecoder(model, tc, use_cache=True), ScaleDecoder(model, tc, use_cache=False)
    g = torch.Generator().manual_seed(1)
    for k, n in enumerate(SCALES):
        for _ in range(passes[k]):
            cur = torch.randint(0, K, (3, n), generator=g)
            cur[torch.rand(3, n, generator=g) < 0.4] = MASK_ID
            a = cached.logits(k, cur, ctx[k])
            b = plain.logits(k, cur, ctx[k])
            assert a.shape == (3, n, K)
            assert (a - b).abs().max() < 1e-5
        cached.commit(k, ids[k], ctx[k])
        plain.commit(k, ids[k], ctx[k])
    # both equal the teacher-forced forward when fed the final ids
    full = model(ctx, ids, text, mask)
    dec = ScaleDecoder(model, tc, use_cache=True)
    for k in range(len(SCALES)):
        out = dec.logits(k, ids[k], ctx[k])
        assert (out - full[:, model.offsets[k]:model.offsets[k + 1]]).abs().max() < 1e-5
        dec.commit(k, ids[k], ctx[k])


def test_decoder_rejects_out_of_order_scales(model):
    ctx, ids, text, mask = random_inputs()
    dec = ScaleDecoder(model, model.prepare_text(text, mask))
    with pytest.raises(ValueError):
        dec.logits(1, ids[1], ctx[1])


def test_dropout_and_cond_drop_change_training_outputs():
    torch.manual_seed(0)
    m = MoScaleTransformer(GeneratorConfig.preset("tiny", codebook_size=K, code_dim=C, scale_lengths=SCALES, dropout=0.5))
    ctx, ids, text, mask = random_inputs()
    m.train()
    a, b = m(ctx, ids, text, mask), m(ctx, ids, text, mask)
    assert not torch.allclose(a, b)
    m.eval()
    assert torch.equal(m(ctx, ids, text, mask), m(ctx, ids, text, mask))
