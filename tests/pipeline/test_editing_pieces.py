"""Editing task pieces without a model: region checks, blending with the source, seams, windows."""

from __future__ import annotations

import numpy as np
import pytest

from moscale_cli.errors import UsageError
from moscale_cli.pipeline.compose import plan_windows
from moscale_cli.pipeline.editing import (
    blend_weights,
    blend_with_source,
    boundaries,
    check_regions,
    mask_to_regions,
)
from moscale_cli.pipeline.results import seam_report
from moscale_cli.sampling.infill import runs


def test_check_regions_sorts_and_rejects_bad_ones():
    assert check_regions([(50, 60), (0, 10)], 100) == [(0, 10), (50, 60)]
    assert check_regions([(0, 10), (10, 20)], 100) == [(0, 10), (10, 20)]  # touching is fine
    for bad, word in [((60, 50), "reversed"), ((5, 5), "empty"), ((90, 120), "outside"), ((-1, 5), "outside")]:
        with pytest.raises(UsageError, match=word):
            check_regions([bad], 100)
    with pytest.raises(UsageError, match="overlap"):
        check_regions([(0, 30), (20, 40)], 100)


def test_mask_to_regions():
    m = np.zeros(20, bool)
    m[3:7] = True
    m[15:] = True
    assert mask_to_regions(m, 20) == [(3, 7), (15, 20)]
    assert mask_to_regions(m.astype(np.int64), 20) == [(3, 7), (15, 20)]
    assert mask_to_regions(np.zeros(20), 20) == []
    with pytest.raises(UsageError, match="length 21"):
        mask_to_regions(m, 21)
    with pytest.raises(UsageError, match="0/1"):
        mask_to_regions(np.full(20, 0.5), 20)
    with pytest.raises(UsageError, match="1-D"):
        mask_to_regions(np.zeros((20, 2)), 20)


def test_runs_and_boundaries():
    k = np.array([1, 1, 0, 0, 1, 0], bool)
    assert runs(~k) == [(2, 4), (5, 6)]
    assert boundaries(k) == [2, 4, 5]
    assert boundaries(np.ones(5, bool)) == [] and runs(np.zeros(3, bool)) == []


def test_blend_weights_ramp_inside_regions_only():
    known = np.ones(40, bool)
    known[10:30] = False
    w = blend_weights(known, blend=6)
    assert (w[known] == 0).all() and (w[16:24] == 1).all()
    assert (np.diff(w[10:17]) > 0).all() and (np.diff(w[23:30]) < 0).all()
    assert 0 < w[10] < 0.1 and 0 < w[29] < 0.1
    # a region at an end has no ramp there; a short region shares its frames between both ramps
    end = np.ones(20, bool)
    end[12:] = False
    w = blend_weights(end, 6)
    assert w[-1] == 1 and w[12] < 0.1
    short = np.ones(20, bool)
    short[8:11] = False
    w = blend_weights(short, 6)
    assert (w[8:11] > 0).all() and (w[8:11] < 1).all()
    assert (blend_weights(np.zeros(10, bool), 6) == 1).all()


def test_blending_is_bitwise_outside_and_generated_inside():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(50, 7)).astype(np.float32)
    gen = rng.normal(size=(50, 7)).astype(np.float32)
    known = np.ones(50, bool)
    known[20:40] = False
    out = blend_with_source(src, gen, known, blend=4)
    assert out.dtype == np.float32
    assert np.array_equal(out[known].view(np.int32), src[known].view(np.int32))
    assert np.array_equal(out[25:35], gen[25:35])
    assert np.allclose(out[20], src[19] + (gen[20] - src[19]) * blend_weights(known, 4)[20], atol=1e-6)
    assert np.array_equal(blend_with_source(src, gen, np.ones(50, bool)), src)
    assert np.array_equal(blend_with_source(src, gen, np.zeros(50, bool)), gen)


def test_seam_report_sees_a_jump_and_passes_a_smooth_motion():
    t = np.linspace(0, 4 * np.pi, 120)
    smooth = np.zeros((120, 22, 3))
    smooth[:, :, 0] = np.sin(t)[:, None]
    smooth[:, :, 2] = t[:, None] * 0.1
    rep = seam_report(smooth, [60])
    assert rep.ok() and rep.p95 > 0 and rep.jump <= rep.p95 * 1.01
    jumped = smooth.copy()
    jumped[60:, :, 1] += 0.5
    bad = seam_report(jumped, [60], reference=smooth)
    assert not bad.ok() and bad.jump == pytest.approx(np.linalg.norm(jumped[60, 0] - jumped[59, 0]))
    assert bad.to_dict()["boundaries"] == [60] and bad.ratio > 2
    assert seam_report(jumped, [30, 60], reference=[smooth[:50], smooth[50:]]).jumps[0] < bad.jumps[0]
    assert seam_report(smooth, []).jump == 0


def test_plan_windows_split_long_segments():
    ws = plan_windows([("walk", 60), ("run", 500), ("sit", 4)], 196, 20)
    assert [w.prompt for w in ws] == ["walk", "run", "run", "run", "sit"]
    assert [w.new_frames for w in ws] == [60, 167, 167, 166, 4]
    assert all(w.new_frames + 20 <= 196 for w in ws)
    with pytest.raises(UsageError, match="overlap"):
        plan_windows([("a", 60)], 196, 0)
    with pytest.raises(UsageError, match="at least 4"):
        plan_windows([("a", 60), ("b", 2)], 196, 20)
    with pytest.raises(UsageError, match="segment"):
        plan_windows([], 196, 20)
