from __future__ import annotations

import warnings

import pytest
import torch

from moscale_cli.errors import ConfigError
from moscale_cli.text.encoder import DEFAULT_TEXT_ENCODER, PromptTruncatedWarning, TextEncoder

PROMPTS = ["a person walks forward", "someone jumps twice then waves with the right hand", "hi"]


def test_shapes_mask_and_pooled_norm(text_encoder):
    f = text_encoder.encode(PROMPTS)
    assert text_encoder.name == DEFAULT_TEXT_ENCODER
    assert text_encoder.dim == 384
    assert f.tokens_BSE.shape == (3, 16, 384)
    assert f.mask_BS.shape == (3, 16) and f.mask_BS.dtype == torch.bool
    assert f.pooled_BE.shape == (3, 384)
    # valid tokens = prompt tokens + [CLS] + [SEP]; padding rows are zero
    counts = text_encoder.count_tokens(PROMPTS)
    assert f.mask_BS.sum(1).tolist() == counts
    assert counts[2] == 3
    assert torch.all(f.mask_BS[:, 0])
    assert torch.count_nonzero(f.tokens_BSE[2, 3:]) == 0
    assert torch.allclose(f.pooled_BE.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert f.truncated == [False, False, False]


def test_deterministic_and_batch_independent(text_encoder):
    a = text_encoder.encode(PROMPTS)
    b = text_encoder.encode(PROMPTS)
    assert torch.equal(a.tokens_BSE, b.tokens_BSE) and torch.equal(a.pooled_BE, b.pooled_BE)
    single = text_encoder.encode([PROMPTS[1]])
    assert torch.allclose(single.pooled_BE[0], a.pooled_BE[1], atol=1e-5)
    n = int(single.mask_BS.sum())
    assert torch.allclose(single.tokens_BSE[0, :n], a.tokens_BSE[1, :n], atol=1e-4)


def test_pooled_is_mean_of_valid_tokens_normalised(text_encoder):
    f = text_encoder.encode(PROMPTS)
    for i in range(3):
        m = f.mask_BS[i]
        mean = f.tokens_BSE[i, m].mean(0)
        assert torch.allclose(mean / mean.norm(), f.pooled_BE[i], atol=1e-5)


def test_semantics(text_encoder):
    f = text_encoder.encode(["a person walks forward", "a man is walking forwards", "someone sits down on a chair"])
    p = f.pooled_BE
    assert float(p[0] @ p[1]) > float(p[0] @ p[2])


def test_long_prompt_truncated_with_warning(text_encoder):
    long = " ".join(["a person walks forward then turns around"] * 6)
    with pytest.warns(PromptTruncatedWarning, match="truncated"):
        f = text_encoder.encode([long, "a jump"])
    assert f.truncated == [True, False]
    assert bool(f.mask_BS[0].all())
    assert torch.allclose(f.pooled_BE.norm(dim=-1), torch.ones(2), atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        text_encoder.encode([long], warn=False)


def test_bad_encoder_name_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot load text encoder"):
        TextEncoder(str(tmp_path / "no-such-model"))
    with pytest.raises(ConfigError, match="max_tokens"):
        TextEncoder(max_tokens=1)
