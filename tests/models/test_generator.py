"""MoScaleTransformer: config, attention structure, null text and cond drop, the init and old checkpoints.

(The KV-cache runners are tested in tests/sampling/test_runners.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from moscale_cli.errors import ConfigError
from moscale_cli.models.generator import (
    LEGACY_PREFIXES,
    MASK_ID,
    PAD_ID,
    GeneratorConfig,
    MoScaleTransformer,
    block_causal_mask,
    rename_legacy_keys,
    scale_positions,
    upgrade_state_dict,
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
        for b in m.trunk.blocks:
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
    assert base.seq_len == 91
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


def test_dropout_changes_training_outputs_only():
    torch.manual_seed(0)
    m = MoScaleTransformer(GeneratorConfig.preset("tiny", codebook_size=K, code_dim=C, scale_lengths=SCALES, dropout=0.5))
    ctx, ids, text, mask = random_inputs()
    m.train()
    a, b = m(ctx, ids, text, mask), m(ctx, ids, text, mask)
    assert not torch.allclose(a, b)
    m.eval()
    assert torch.equal(m(ctx, ids, text, mask), m(ctx, ids, text, mask))


def test_cond_drop_rows_are_the_null_text(model):
    """Rows with drop_B see the learned null text (the text's length of it), the others their own text."""
    ctx, ids, text, mask = random_inputs()
    drop = torch.tensor([True, False, True])
    out = model(ctx, ids, text, mask, drop)
    null_tok, _ = model.null_text(3, text.shape[1])
    as_null = model(ctx, ids, null_tok, mask)
    plain = model(ctx, ids, text, mask)
    assert torch.allclose(out[drop], as_null[drop], atol=1e-6)
    assert torch.allclose(out[~drop], plain[~drop], atol=1e-6)
    assert not torch.allclose(out[drop], plain[drop], atol=1e-3)  # the null text is not the prompt
    # the null text is a parameter that training reaches through drop_B only
    model.zero_grad()
    model(ctx, ids, text, mask, drop).square().mean().backward()
    g = model.conditioner.cfg_uncond.grad
    assert g is not None and g[: text.shape[1]].abs().sum() > 0 and torch.count_nonzero(g[text.shape[1]:]) == 0
    model.zero_grad()
    model(ctx, ids, text, mask).square().mean().backward()
    assert model.conditioner.cfg_uncond.grad is None or torch.count_nonzero(model.conditioner.cfg_uncond.grad) == 0
    model.zero_grad()


def test_drop_path_rises_linearly_over_the_blocks_and_acts_in_training():
    torch.manual_seed(0)
    cfg = GeneratorConfig.preset("tiny", codebook_size=K, code_dim=C, scale_lengths=SCALES, depth=4, dropout=0.0,
                                 drop_path=0.3)
    m = MoScaleTransformer(cfg)
    assert [round(b.drop_path, 6) for b in m.trunk.blocks] == [0.0, 0.1, 0.2, 0.3]
    with torch.no_grad():  # open the AdaLN gates so that dropped residual branches show
        for b in m.trunk.blocks:
            b.ada[1].bias.normal_(0, 0.5)
    ctx, ids, text, mask = random_inputs()
    m.train()
    torch.manual_seed(1)
    a = m(ctx, ids, text, mask)
    b = m(ctx, ids, text, mask)
    assert not torch.allclose(a, b)  # a different set of samples lost a branch
    m.eval()
    assert torch.equal(m(ctx, ids, text, mask), m(ctx, ids, text, mask))


# ------------------------------------------------------------------ the module layout, its init and old weights
V1 = Path(__file__).parent / "data" / "generator_v1_init.json"  # recorded with the flat layout (before the modules)


def _v1():
    d = json.loads(V1.read_text())
    cfg = {**d["config"], "scale_lengths": tuple(d["config"]["scale_lengths"])}
    return d, cfg


@pytest.mark.parametrize("arch", ["next-scale", "next-token"])
def test_init_is_the_flat_layouts_and_old_keys_map_onto_the_modules(arch):
    """Same seed, same initial weights as the code before TextConditioner/ScaleTrunk (checksums recorded from it),
    and every old key renames to a key of the new layout with the same shape."""
    from moscale_cli.models.next_token import build_generator

    d, cfg = _v1()
    old = d["models"][arch]
    torch.manual_seed(d["seed"])
    m = build_generator(GeneratorConfig(arch=arch, **cfg))
    new = m.state_dict()
    renamed = rename_legacy_keys({k: torch.zeros(v["shape"]) for k, v in old.items()})
    assert sorted(renamed) == sorted(new)
    assert any(k.startswith("conditioner.") for k in new) and any(k.startswith("trunk.blocks.") for k in new)
    for k_old, v in old.items():
        (k_new,) = [k for k, t in rename_legacy_keys({k_old: torch.zeros(1)}).items()]
        x = new[k_new].double().flatten()
        w = torch.arange(1, x.numel() + 1, dtype=torch.float64) / x.numel()
        assert list(new[k_new].shape) == v["shape"], k_old
        assert float(x.sum()) == pytest.approx(v["sum"], rel=1e-6, abs=1e-6), k_old
        assert float((x * w).sum()) == pytest.approx(v["wsum"], rel=1e-6, abs=1e-6), k_old
        assert float(x[0]) == pytest.approx(v["first"], rel=1e-6, abs=1e-7), k_old


@pytest.mark.parametrize("arch", ["next-scale", "next-token"])
def test_weights_in_the_flat_layout_load(tmp_path, arch):
    """A state dict with the old keys loads through load_state_dict and through checkpoint.load_module."""
    from moscale_cli.checkpoint import load_module, save_tensors
    from moscale_cli.models.next_token import build_generator

    d, cfg = _v1()
    torch.manual_seed(1)
    src = build_generator(GeneratorConfig(arch=arch, **cfg))
    inverse = {v: k for k, v in LEGACY_PREFIXES.items()}
    flat = {}
    for k, t in src.state_dict().items():
        new_prefix = next((p for p in inverse if k.startswith(p)), "")
        flat[inverse[new_prefix] + k[len(new_prefix):] if new_prefix else k] = t
    assert sorted(flat) == sorted(d["models"][arch])  # exactly the keys the old code saved
    for load in ("state_dict", "file"):
        torch.manual_seed(2)
        dst = build_generator(GeneratorConfig(arch=arch, **cfg))
        if load == "state_dict":
            dst.load_state_dict(flat)
        else:
            save_tensors(tmp_path / "g.safetensors", flat)
            load_module(tmp_path / "g.safetensors", dst)
        assert all(torch.equal(a, b) for a, b in zip(src.state_dict().values(), dst.state_dict().values(), strict=True))


def test_the_shipped_default_model_loads_every_tensor_of_its_file():
    # 0.2.0 shipped the flat layout of the weights (loaded through upgrade_state_dict, tested above); 0.3 the
    # modules' layout: either way every tensor of the file lands in the module, none left over or missing
    from moscale_cli.checkpoint import load_tensors
    from moscale_cli.model_dir import load_model_dir, resolve_model

    path = resolve_model(None)
    stored = upgrade_state_dict(load_tensors(path / "generator.safetensors"))
    sd = load_model_dir(path).generator.state_dict()
    assert sorted(stored) == sorted(sd)
    assert all(torch.equal(sd[k], stored[k]) for k in sd)
