"""Edit-region masks: frame regions -> per-scale token masks."""

from __future__ import annotations

import pytest
import torch

from moscale_cli.errors import UsageError
from moscale_cli.models.tokenizer import MSTokenizer, TokenizerConfig
from moscale_cli.sampling.masks import grid_mask, region_masks


@pytest.fixture(scope="module")
def tok() -> MSTokenizer:
    return MSTokenizer(TokenizerConfig.preset("tiny"))


def test_grid_mask_marks_overlapping_tokens():
    g = grid_mask([196, 100], [[(10, 30)], [(0, 8), (90, 150)]], unit=4, n_grid=49)
    assert g[0].nonzero().view(-1).tolist() == list(range(2, 8))  # frames 10..29 -> tokens 2..7
    assert g[1].nonzero().view(-1).tolist() == [0, 1, 22, 23, 24]  # clipped to the 25 valid tokens


def test_finest_scale_is_exact_and_masks_stay_in_the_valid_part(tok):
    lengths = [196, 120, 40]
    regions = [[(40, 120)], [(0, 60), (100, 120)], [(0, 40)]]
    masks = region_masks(lengths, regions, tok)
    assert [m.shape[1] for m in masks] == tok.scale_lengths
    fine = grid_mask(lengths, regions, tok.unit, tok.n_grid)
    assert torch.equal(masks[-1], fine)
    valid = tok.valid_lengths(torch.tensor(lengths))
    for k, m in enumerate(masks):
        for b in range(3):
            assert not m[b, int(valid[k][b]):].any()
    # the full clip selected -> every valid token at every scale
    for k, m in enumerate(masks):
        assert m[2, : int(valid[k][2])].all()


def test_coarse_scales_follow_the_covered_fraction(tok):
    # second half of a full-length clip: at every scale the tokens of the second half (area > 0.5)
    masks = region_masks([196], [(98, 196)], tok)
    for m, L in zip(masks, tok.scale_lengths, strict=True):
        idx = m[0].nonzero().view(-1)
        assert idx.numel() > 0 and int(idx.max()) == L - 1
        assert abs(idx.numel() / L - 0.5) <= 1.0 / L + 1e-9
        assert torch.equal(idx, torch.arange(int(idx.min()), L))
    # a region of a single fine token vanishes at the coarsest scale (reference rule) but not at the finest
    small = region_masks([196], [(100, 104)], tok)
    assert not small[0].any() and small[-1][0].nonzero().view(-1).tolist() == [25]


def test_one_region_list_applies_to_all_and_bad_regions_fail(tok):
    a = region_masks([196, 196], [(0, 50)], tok)
    assert torch.equal(a[-1][0], a[-1][1])
    with pytest.raises(UsageError):
        region_masks([196], [(50, 10)], tok)
    with pytest.raises(UsageError):
        region_masks([196, 100], [[(0, 4)]], tok)
