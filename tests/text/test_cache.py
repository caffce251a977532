from __future__ import annotations

import torch

from moscale_cli.text.cache import cached_text_fn


class CountingEncoder:
    """Wraps the real encoder and counts the captions it is asked to encode."""

    def __init__(self, enc):
        self.enc = enc
        self.max_tokens = enc.max_tokens
        self.dim = enc.dim
        self.device = enc.device
        self.model_id = enc.model_id
        self.seen: list[str] = []

    def encode(self, captions, warn=True):
        self.seen.extend(captions)
        return self.enc.encode(captions, warn=warn)


CAPS = ["a person walks forward", "a person jumps", "someone waves", "a person walks forward"]


def test_memory_cache_matches_encoder(text_encoder):
    enc = CountingEncoder(text_encoder)
    fn = cached_text_fn(enc, None, dtype=torch.float32)
    f = fn(CAPS)
    ref = text_encoder.encode(CAPS)
    assert f.tokens_BSE.shape == (4, enc.max_tokens, enc.dim)
    assert torch.equal(f.mask_BS, ref.mask_BS)
    assert torch.allclose(f.tokens_BSE, ref.tokens_BSE, atol=1e-5)
    assert torch.allclose(f.pooled_BE, ref.pooled_BE, atol=1e-6)
    assert sorted(enc.seen) == sorted(set(CAPS))  # duplicates encoded once
    fn(["someone waves", "a person jumps"])
    assert len(enc.seen) == 3  # served from memory


def test_disk_cache_round_trip(text_encoder, tmp_path):
    enc = CountingEncoder(text_encoder)
    fn = cached_text_fn(enc, tmp_path)
    assert fn.precompute(CAPS, batch_size=2) == 3
    shards = list(tmp_path.rglob("shard-*.safetensors"))
    assert shards
    first = fn(CAPS)
    enc2 = CountingEncoder(text_encoder)
    fn2 = cached_text_fn(enc2, tmp_path)
    assert len(fn2) == 3
    second = fn2(CAPS)
    assert enc2.seen == []
    assert torch.equal(first.tokens_BSE, second.tokens_BSE)
    assert torch.equal(first.pooled_BE, second.pooled_BE)
    ref = text_encoder.encode(CAPS)
    assert torch.allclose(second.pooled_BE, ref.pooled_BE, atol=2e-3)  # float16 storage


def test_cache_is_keyed_by_encoder(text_encoder, tmp_path):
    enc = CountingEncoder(text_encoder)
    cached_text_fn(enc, tmp_path).precompute(CAPS)
    other = CountingEncoder(text_encoder)
    other.model_id = "another-model|max_tokens=16"
    fn = cached_text_fn(other, tmp_path)
    assert len(fn) == 0
    fn(["a person jumps"])
    assert other.seen == ["a person jumps"]


def test_broken_shard_is_ignored(text_encoder, tmp_path):
    enc = CountingEncoder(text_encoder)
    fn = cached_text_fn(enc, tmp_path)
    fn.precompute(CAPS)
    shard = next(tmp_path.rglob("shard-*.safetensors"))
    shard.write_bytes(b"garbage")
    fn2 = cached_text_fn(CountingEncoder(text_encoder), tmp_path)
    assert len(fn2) == 0
    assert fn2(["a person jumps"]).tokens_BSE.shape[0] == 1
