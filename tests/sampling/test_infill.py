"""Infilling pieces without a model: covering token masks, nearest-known filling, the model length."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from moscale_cli.errors import UsageError
from moscale_cli.models.tokenizer import MSTokenizer, TokenizerConfig
from moscale_cli.sampling.infill import fill_unknown, model_length
from moscale_cli.sampling.masks import cover_masks, grid_mask


@pytest.fixture(scope="module")
def tok():
    return MSTokenizer(TokenizerConfig.preset("tiny"))


CASES = [
    (196, [(0, 196)]), (196, [(80, 120)]), (196, [(1, 2)]), (120, [(40, 80)]), (120, [(0, 8), (100, 120)]),
    (48, [(20, 28)]), (40, [(37, 40)]), (160, [(3, 61), (90, 91), (150, 160)]), (100, [(96, 100)]),
]


@pytest.mark.parametrize("length,regions", CASES)
def test_cover_masks_cover_each_region_at_every_scale_and_stay_close(tok, length, regions):
    masks = cover_masks(length, regions, tok)
    unit, N = tok.unit, tok.n_grid
    valid = tok.valid_lengths(torch.tensor([length]))
    for k, (m, L) in enumerate(zip(masks, tok.scale_lengths, strict=True)):
        assert m.shape == (1, L) and m.dtype == torch.bool
        v = int(valid[k][0])
        assert not m[0, v:].any()  # padding is never marked
        span = N / L  # grid steps per token of this scale
        marked = torch.nonzero(m[0]).view(-1).tolist()
        for s, e in regions:
            # covered: every frame of the region lies in the frame span of a marked token (or past the last valid one)
            for f in range(s, e):
                j = min(int((f // unit) / span), v - 1)
                assert m[0, j], (k, f)
        for j in marked:
            a, b = j * span, (j + 1) * span
            near = any(a < math.ceil(e / unit) + 1e-9 and b > s // unit for s, e in regions)
            tail = j == v - 1 and any(math.ceil(e / unit) > v * span for _, e in regions)
            assert near or tail, (k, j)  # nothing beyond one token span outside a region
    # the finest scale (one token per grid step) is the grid mask itself
    assert torch.equal(masks[-1], grid_mask([length], regions, unit, N))


def test_cover_masks_mark_the_region_where_the_reference_rule_drops_it(tok):
    from moscale_cli.sampling.masks import region_masks

    ref = region_masks([196], [(80, 84)], tok)
    ours = cover_masks(196, [(80, 84)], tok)
    assert not ref[0].any() and ours[0].sum() == 1  # one coarse token instead of none
    assert not cover_masks(196, [], tok)[0].any()


def test_fill_unknown_takes_the_nearest_known_frame():
    f = np.arange(8, dtype=np.float32)[:, None]
    known = np.array([0, 1, 0, 0, 0, 1, 0, 0], bool)
    assert fill_unknown(f, known)[:, 0].tolist() == [1, 1, 1, 1, 5, 5, 5, 5]


def test_model_length_rounds_up_within_the_window(tok):
    assert model_length(120, tok) == 120 and model_length(121, tok) == 124 and model_length(195, tok) == 196
    with pytest.raises(UsageError, match="compose"):
        model_length(197, tok)


def test_short_windows_run_at_the_training_minimum(tok):
    """Under 32 frames the coarsest scale has no token (as in the reference); a window shorter than the
    shortest training motion runs at that length instead, and only its own frames come back."""
    assert [int(v[0]) for v in tok.valid_lengths(torch.tensor([28]))] == [0, 1, 3, 7]
    assert model_length(20, tok, min_frames=40) == 40 and model_length(41, tok, min_frames=40) == 44
    assert model_length(20, tok) == 20

    from moscale_cli.models.generator import GeneratorConfig, MoScaleTransformer
    from moscale_cli.motion.normalize import Normalizer
    from moscale_cli.sampling.config import SamplingConfig
    from moscale_cli.sampling.infill import infill

    torch.manual_seed(0)
    gen = MoScaleTransformer(GeneratorConfig.preset("tiny", tokenizer=tok, text_dim=384)).eval()
    norm = Normalizer(np.zeros(263, np.float32), np.ones(263, np.float32))
    feats = np.random.default_rng(0).normal(size=(20, 263)).astype(np.float32)
    known = np.zeros(20, bool)
    known[:12] = True
    res = infill(gen, tok, norm, feats, known, None, SamplingConfig(refine_steps=(1, 1, 1, 1)), 0, min_frames=40)
    assert res.model_frames == 40 and res.generated.shape == (20, 263)
