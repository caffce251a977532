from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from moscale_cli.errors import CheckpointError
from moscale_cli.model_dir import load_model_dir, read_model_config, resolve_model, save_model_dir


def _state_equal(a, b, atol=0.0):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.allclose(sa[k].float(), sb[k].float(), atol=atol), k


def test_round_trip(tiny_model_dir, tmp_path):
    m = load_model_dir(tiny_model_dir)
    cfg = m.config
    assert cfg["format"] == "moscale-model" and cfg["feature_dim"] == 263
    assert cfg["text_encoder"]["max_tokens"] == 16
    assert cfg["parameters"]["generator"] == sum(p.numel() for p in m.generator.parameters())
    assert cfg["license"] == "Apache-2.0"
    assert m.length is not None and not m.generator.training
    card = (tiny_model_dir / "README.md").read_text()
    assert "tiny-random" in card and "Apache-2.0" in card
    # save what was loaded, load again: identical weights and stats
    out = save_model_dir(tmp_path / "copy", m.tokenizer, m.generator, m.normalizer, m.text_encoder, length=m.length,
                         text_max_tokens=16, text_dim=384)
    m2 = load_model_dir(out)
    for a, b in [(m.tokenizer, m2.tokenizer), (m.generator, m2.generator), (m.length, m2.length)]:
        _state_equal(a, b)
    assert np.array_equal(m.normalizer.mean, m2.normalizer.mean) and np.array_equal(m.normalizer.std, m2.normalizer.std)
    assert not list(tmp_path.glob(".copy.*"))  # no temporary folders left


def test_fp16_on_disk_loads_as_fp32(tiny_model_dir, tmp_path):
    m = load_model_dir(tiny_model_dir)
    out = save_model_dir(tmp_path / "half", m.tokenizer, m.generator, m.normalizer, m.text_encoder, length=m.length,
                         fp16=True, text_max_tokens=16, text_dim=384)
    assert (out / "generator.safetensors").stat().st_size < 0.6 * (tiny_model_dir / "generator.safetensors").stat().st_size
    m2 = load_model_dir(out)
    assert all(p.dtype == torch.float32 for p in m2.generator.parameters())
    _state_equal(m.generator, m2.generator, atol=1e-2)
    assert read_model_config(out)["weights_dtype"] == "float16"


def test_overwrite_replaces_and_refuses_foreign_folder(tiny_model_dir, tmp_path):
    m = load_model_dir(tiny_model_dir)
    target = tmp_path / "m"
    save_model_dir(target, m.tokenizer, m.generator, m.normalizer, m.text_encoder, text_max_tokens=16)
    assert not (target / "length.safetensors").exists()
    save_model_dir(target, m.tokenizer, m.generator, m.normalizer, m.text_encoder, length=m.length, text_max_tokens=16)
    assert (target / "length.safetensors").exists()
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "a.txt").write_text("x")
    with pytest.raises(CheckpointError, match="refusing to overwrite"):
        save_model_dir(foreign, m.tokenizer, m.generator, m.normalizer, m.text_encoder)
    assert (foreign / "a.txt").read_text() == "x"


def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_missing_and_incompatible_dirs(tiny_model_dir, tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_model_dir(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="no config.json"):
        load_model_dir(empty)
    d = _copy(tiny_model_dir, tmp_path / "incomplete")
    (d / "generator.safetensors").unlink()
    with pytest.raises(CheckpointError, match="missing generator.safetensors"):
        load_model_dir(d)
    edits = {
        "future": (lambda c: c.update(format_version=99), "format version 99"),
        "wrongsize": (lambda c: c["generator"].update(width=2 * c["generator"]["width"]), "shape"),
        "mismatch": (lambda c: c["tokenizer"].update(n_codes=2 * c["tokenizer"]["n_codes"]), "does not fit the tokenizer"),
        "badkey": (lambda c: c["tokenizer"].update(bogus=1), "incompatible tokenizer config"),
    }
    for name, (edit, message) in edits.items():
        d = _copy(tiny_model_dir, tmp_path / name)
        cfg = json.loads((d / "config.json").read_text())
        edit(cfg)
        (d / "config.json").write_text(json.dumps(cfg))
        with pytest.raises(CheckpointError, match=message):
            load_model_dir(d)
    d = _copy(tiny_model_dir, tmp_path / "truncated")
    (d / "tokenizer.safetensors").write_bytes((d / "tokenizer.safetensors").read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        load_model_dir(d)


def test_resolve_model(tiny_model_dir, tmp_path, monkeypatch):
    assert resolve_model(str(tiny_model_dir)) == tiny_model_dir
    monkeypatch.setenv("MOSCALE_DEFAULT_MODEL", str(tmp_path / "no-default"))
    with pytest.raises(CheckpointError, match="no default model is installed; pass --model"):
        resolve_model(None)
    monkeypatch.setenv("MOSCALE_DEFAULT_MODEL", str(tiny_model_dir))
    assert resolve_model(None) == tiny_model_dir
    with pytest.raises(CheckpointError, match="model directory not found"):
        resolve_model("./does/not/exist")
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(CheckpointError, match="it is a file"):
        resolve_model(str(f))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError, match="not in the hub cache"):
        resolve_model("nobody-xyz/no-such-moscale-model")
