from __future__ import annotations

from pathlib import Path

import torch

from moscale_cli.text import clear_text_encoders, get_text_encoder
from moscale_cli.text.cache import cached_text_fn


def test_shared_light_encoder_with_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("MOSCALE_CACHE", str(tmp_path))
    clear_text_encoders()
    a = get_text_encoder("sentence-transformers/all-MiniLM-L6-v2", 16, "cpu")
    assert a is get_text_encoder("sentence-transformers/all-MiniLM-L6-v2", 16, "cpu")
    assert a is not get_text_encoder("sentence-transformers/all-MiniLM-L6-v2", 12, "cpu")
    assert a.backend == "light" and a.max_tokens == 16 and a.dim == 384
    assert a.prompt_cache is not None and a.prompt_cache.root == tmp_path
    a.encode(["a person walks"])
    assert len(list((tmp_path / "prompts").rglob("*.safetensors"))) == 1
    clear_text_encoders()
    assert get_text_encoder("sentence-transformers/all-MiniLM-L6-v2", 16, "cpu") is not a


def test_training_cache_bypasses_the_prompt_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("MOSCALE_CACHE", str(tmp_path / "user"))
    clear_text_encoders()
    enc = get_text_encoder(None, 16, "cpu")
    fn = cached_text_fn(enc, tmp_path / "train", dtype=torch.float32)
    f = fn(["a person walks", "a person jumps"])
    assert not Path(tmp_path / "user" / "prompts").exists()
    assert torch.allclose(f.tokens_BSE, enc.encode(["a person walks", "a person jumps"], cache=False).tokens_BSE, atol=1e-6)
    clear_text_encoders()
