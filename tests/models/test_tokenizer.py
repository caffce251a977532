"""MSTokenizer: exact round trips, token counts, padding invariance, legacy weight files.

The quantizer itself (codebook, perturbation, EMA, dead codes, commitment) is tested in test_quantizer.py."""

from __future__ import annotations

import pytest
import torch

from moscale_cli.config import ConfigBase
from moscale_cli.errors import ConfigError
from moscale_cli.models.tokenizer import MSTokenizer, TokenizerConfig


def _model(seed: int = 0, **kw) -> MSTokenizer:
    torch.manual_seed(seed)
    cfg = TokenizerConfig.preset("tiny", **{"width": 32, "code_dim": 32, "n_codes": 64, "depth": 1, **kw})
    return MSTokenizer(cfg)


def _smooth(B: int, T: int = 196, D: int = 263, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T // 8 + 2, D, generator=g)
    return torch.nn.functional.interpolate(x.transpose(1, 2), size=T, mode="linear").transpose(1, 2).contiguous()


def _trained(seed: int = 0, **kw) -> MSTokenizer:
    """A model whose codebook was initialised by one train-mode pass (so codes are data-like)."""
    m = _model(seed, **kw)
    m.train()
    torch.manual_seed(seed)
    m(_smooth(8, seed=seed + 1), torch.full((8,), 196))
    return m.eval()


def test_presets_and_config_round_trip() -> None:
    base = TokenizerConfig.preset("base")
    assert (base.width, base.code_dim, base.n_codes, base.depth, base.dilation_growth, base.down_t, base.heads) == (512, 512, 512, 3, 3, 2, 8)
    assert base.scales == (8, 4, 2, 1) and base.unit == 4 and base.n_grid == 49
    assert base.scale_lengths == [6, 12, 24, 49]
    small, tiny = TokenizerConfig.preset("small"), TokenizerConfig.preset("tiny")
    assert small.width == 256 and small.code_dim == 256 and small.n_codes == 512 and small.heads == 4
    assert tiny.width == 64 and tiny.code_dim == 64 and tiny.n_codes == 128 and tiny.depth <= 2
    again = TokenizerConfig.from_dict(base.to_dict())
    assert again == base and isinstance(again, ConfigBase)
    with pytest.raises(ConfigError, match="unknown tokenizer preset"):
        TokenizerConfig.preset("huge")
    with pytest.raises(ConfigError):
        TokenizerConfig.preset("tiny", scales=(0, 1))


def test_base_parameter_count_matches_reference() -> None:
    m = MSTokenizer(TokenizerConfig.preset("base"))
    enc = sum(p.numel() for p in m.encoder.parameters()) / 1e6
    dec = sum(p.numel() for p in m.decoder.parameters()) / 1e6
    assert abs(enc - 15.9) < 0.1 and abs(dec - 16.2) < 0.1
    assert not any(n.startswith("codebook") for n, _ in m.named_parameters())  # the codebook is a buffer


@torch.no_grad()
def test_decode_ids_of_encode_equals_forward_exactly() -> None:
    m = _trained()
    x = _smooth(4, seed=3)
    L = torch.tensor([40, 96, 152, 196])
    recon, aux = m(x, L)
    ids = m.encode(x, L)
    assert all(torch.equal(a, b) for a, b in zip(ids, aux["ids"], strict=True))
    assert torch.equal(m.decode_ids(ids, L), recon)
    assert recon.shape == x.shape
    assert torch.all(recon[0, 40:] == 0)  # frames past the length are zero


@torch.no_grad()
def test_token_counts_for_every_length() -> None:
    m = _trained()
    L = torch.arange(40, 197, 4)
    ids = m.encode(_smooth(len(L), seed=4), L)
    for k, s in enumerate(m.scales):
        assert ids[k].shape == (len(L), m.scale_lengths[k])
        expect = torch.clamp((L // 4) // s, min=1)
        assert torch.equal((ids[k] >= 0).sum(1), expect)
        assert torch.equal(m.valid_lengths(L)[k], expect)
        # valid tokens form a prefix
        assert torch.all(ids[k][torch.arange(m.scale_lengths[k])[None] >= expect[:, None]] == -1)


@torch.no_grad()
def test_padding_content_never_changes_valid_output() -> None:
    m = _trained()
    x = _smooth(3, seed=5)
    L = torch.tensor([44, 120, 196])
    y = x.clone()
    for i, n in enumerate(L.tolist()):
        y[i, n:] = torch.randn(196 - n, 263) * 10
    r1, a1 = m(x, L)
    r2, a2 = m(y, L)
    assert torch.equal(r1, r2)
    assert all(torch.equal(a, b) for a, b in zip(a1["ids"], a2["ids"], strict=True))
    assert torch.equal(m.encode_latent(x, L)[0, :, :11], m.encode_latent(y, L)[0, :, :11])


@torch.no_grad()
def test_shorter_inputs_are_padded_and_bad_lengths_rejected() -> None:
    m = _trained()
    x = _smooth(2, seed=6)
    L = torch.tensor([80, 100])
    assert torch.equal(m.encode(x[:, :100], L)[3], m.encode(x, L)[3])
    with pytest.raises(ValueError):
        m.encode(x, torch.tensor([80, 300]))
    with pytest.raises(ValueError):
        m.encode(x[:, :, :10], L)


@torch.no_grad()
def test_quantize_all_without_perturbation_equals_encode() -> None:
    m = _trained()
    x = _smooth(4, seed=7)
    L = torch.tensor([40, 100, 160, 196])
    q = m.quantize_all(m.encode_latent(x, L), L, perturb_rate=(0.0, 0.0))
    ids = m.encode(x, L)
    assert all(torch.equal(a, b) for a, b in zip(q.labels, ids, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(q.perturbed_ids, ids, strict=True))
    # contributions sum to the latent decode_ids uses
    assert torch.equal(m.decode_latent(sum(q.contributions), L), m.decode_ids(ids, L))
    assert q.contexts[0] is None
    for k in range(1, len(m.scales)):
        assert torch.equal(q.contexts[k], m.coarse_context(sum(q.contributions[:k]), k))
        assert q.contexts[k].shape == (4, 32, m.scale_lengths[k])


def test_train_mode_gradients_reach_the_encoder_and_stats_are_reported() -> None:
    m = _model()
    m.train()
    x, L = _smooth(4, seed=11), torch.tensor([40, 80, 120, 196])
    recon, aux = m(x, L)
    ((recon - x) ** 2).mean().add(aux["commit"]).backward()
    assert m.encoder.conv_in.weight.grad is not None and m.encoder.conv_in.weight.grad.abs().sum() > 0
    assert m.decoder.conv_out.weight.grad.abs().sum() > 0
    assert len(aux["perplexity"]) == len(aux["usage"]) == 4
    assert all(1.0 <= p <= m.cfg.n_codes for p in aux["perplexity"])


@pytest.mark.parametrize("scales,dim", [((16, 8, 4, 2, 1), 263), ((1,), 251), ((7, 3, 1), 263)])
@torch.no_grad()
def test_any_scales_and_feature_dims(scales: tuple[int, ...], dim: int) -> None:
    m = _model(scales=scales, feature_dim=dim)
    m.train()
    x = _smooth(3, D=dim, seed=12)
    L = torch.tensor([40, 100, 196])
    m(x, L)
    m.eval()
    ids = m.encode(x, L)
    assert len(ids) == len(scales)
    assert [i.shape[1] for i in ids] == [max(1, 49 // s) for s in scales]
    assert m.decode_ids(ids, L).shape == (3, 196, dim)


def test_weights_saved_before_the_quantizer_module_still_load(tmp_path) -> None:
    from moscale_cli.checkpoint import load_module, save_tensors

    m = _trained()
    old = {("" if k.startswith("quantizer.") else "") + k.removeprefix("quantizer."): v for k, v in m.state_dict().items()}
    assert "codebook" in old and not any(k.startswith("quantizer.") for k in old)
    save_tensors(tmp_path / "old.safetensors", old)
    m2 = _model(seed=1)
    load_module(tmp_path / "old.safetensors", m2)
    assert torch.equal(m2.codebook, m.codebook) and bool(m2.codebook_initialized)
    m3 = _model(seed=2)
    m3.load_state_dict(old)  # plain torch loading too
    assert torch.equal(m3.quantizer.ema_sum, m.quantizer.ema_sum)
