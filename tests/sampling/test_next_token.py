"""Next-token baseline: KV-cache exactness, sampling shapes/lengths, overfitting, stage hook."""

from __future__ import annotations

import pytest
import torch

from moscale_cli.errors import ConfigError
from moscale_cli.models.generator import PAD_ID, GeneratorConfig, MoScaleTransformer
from moscale_cli.models.next_token import NextTokenTransformer, build_generator, next_token_loss
from moscale_cli.models.tokenizer import MSTokenizer, TokenizerConfig
from moscale_cli.sampling.next_token import sample_next_token
from moscale_cli.sampling.sampler import SamplingConfig

from .helpers import text


def _tok(scales=(8, 4, 2, 1)) -> MSTokenizer:
    torch.manual_seed(0)
    tok = MSTokenizer(TokenizerConfig.preset("tiny", scales=scales)).eval()
    with torch.no_grad():
        tok.codebook.normal_()
    return tok


def _model(tok, **kw) -> NextTokenTransformer:
    torch.manual_seed(1)
    m = NextTokenTransformer(GeneratorConfig.preset("tiny", tokenizer=tok, arch="next-token", dropout=0.0, **kw)).eval()
    with torch.no_grad():
        for b in m.trunk.blocks:
            b.ada[1].bias.normal_(0, 0.5)
        m.trunk.head.weight.mul_(40)
    return m


def test_arch_switch_and_bad_arch():
    tok = _tok()
    assert isinstance(build_generator(GeneratorConfig.preset("tiny", tokenizer=tok, arch="next-token")), NextTokenTransformer)
    assert isinstance(build_generator(GeneratorConfig.preset("tiny", tokenizer=tok)), MoScaleTransformer)
    with pytest.raises(ConfigError):
        GeneratorConfig.preset("tiny", arch="diffusion")


def test_cached_step_logits_equal_teacher_forced_logits():
    tok = _tok()
    m = _model(tok)
    tf = text(2)
    g = torch.Generator().manual_seed(0)
    flat = torch.randint(0, m.cfg.codebook_size, (2, m.seq_len), generator=g)
    flat[1, 80:] = PAD_ID
    with torch.no_grad():
        full = m(None, flat, tf.tokens_BSE, tf.mask_BS)
        # causality: changing a later token leaves the earlier logits unchanged
        other = flat.clone()
        other[:, 50:] = (other[:, 50:] + 1) % m.cfg.codebook_size
        assert torch.allclose(m(None, other, tf.tokens_BSE, tf.mask_BS)[:, :51], full[:, :51], atol=1e-5)
        assert not torch.allclose(m(None, other, tf.tokens_BSE, tf.mask_BS)[:, 52:], full[:, 52:], atol=1e-3)
        t = m.prepare_text(tf.tokens_BSE, tf.mask_BS)
        past, steps = None, []
        for i in range(m.seq_len):
            x = m.embed_step(i, None if i == 0 else flat[:, i - 1], t)
            lg, kv = m.run(x, i, t, past=past)
            past = kv if past is None else [(torch.cat([p[0], n[0]], 2), torch.cat([p[1], n[1]], 2)) for p, n in zip(past, kv, strict=True)]
            steps.append(lg)
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-4)


@pytest.mark.slow
def test_sampling_shapes_lengths_and_cache_equivalence():
    tok = _tok()
    m = _model(tok)
    tf = text(3)
    lengths = [196, 100, 40]
    a = sample_next_token(m, tok, tf, lengths, SamplingConfig(), 4)
    b = sample_next_token(m, tok, tf, lengths, SamplingConfig(use_kv_cache=False), 4)
    valid = tok.valid_lengths(torch.tensor(lengths))
    for k, (x, y) in enumerate(zip(a.ids, b.ids, strict=True)):
        assert torch.equal(x, y)
        assert x.shape == (3, tok.scale_lengths[k])
        for i in range(3):
            v = int(valid[k][i])
            assert (x[i, :v] >= 0).all() and (x[i, v:] == PAD_ID).all()
    assert a.feats.shape == (3, tok.max_frames, tok.cfg.feature_dim)
    assert (a.feats[2, 40:] == 0).all()
    u = sample_next_token(m, tok, None, [196, 60], SamplingConfig(), 1)
    assert [x.shape[0] for x in u.ids] == [2] * 4


def test_single_scale_tokenizer_gives_the_t2m_gpt_sequence():
    tok = _tok(scales=(1,))
    m = _model(tok)
    assert m.seq_len == 49
    out = sample_next_token(m, tok, text(1), [120], SamplingConfig(top_k=1))
    assert out.ids[0].shape == (1, 49) and (out.ids[0][0, :30] >= 0).all() and (out.ids[0][0, 30:] == PAD_ID).all()


@pytest.mark.slow
def test_overfits_two_sequences_and_greedy_sampling_reproduces_them():
    tok = _tok(scales=(1,))
    torch.manual_seed(0)
    m = NextTokenTransformer(GeneratorConfig.preset("tiny", tokenizer=tok, arch="next-token", dropout=0.0, cond_drop=0.0))
    feats = torch.randn(2, tok.max_frames, tok.cfg.feature_dim)
    lengths = torch.tensor([64, 96])
    tf = text(2)
    labels = tok.encode(feats, lengths)[0]
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    m.train()
    for _ in range(120):
        loss, logs = next_token_loss(m, tok, feats, lengths, tf, cond_drop=0.0, noise_max=0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.05 and float(logs["acc"]) == 1.0
    m.eval()
    out = sample_next_token(m, tok, tf, lengths, SamplingConfig(cfg=0.0, top_k=1))
    assert torch.equal(out.ids[0], labels)


def test_generator_stage_trains_the_next_token_arch():
    from moscale_cli.training.generator_stage import GeneratorStage

    tok = _tok()
    cfg = GeneratorConfig.preset("tiny", tokenizer=tok, arch="next-token")
    stage = GeneratorStage([], tok, cfg, text_fn=lambda caps: text(len(caps)))
    assert isinstance(stage.model, NextTokenTransformer)
    batch = {"feats": torch.randn(2, tok.max_frames, tok.cfg.feature_dim), "lengths": torch.tensor([196, 80]),
             "captions": ["a", "b"]}
    loss, logs = stage.training_step(stage.model.train(), batch, 0)
    loss.backward()
    assert torch.isfinite(loss) and "acc_s3" in logs
    assert stage.model.trunk.head.weight.grad is not None
