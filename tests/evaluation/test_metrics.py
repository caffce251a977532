"""Metrics against the math the protocol promises."""

from __future__ import annotations

import numpy as np
import pytest

from moscale_cli.errors import MoScaleError
from moscale_cli.evaluation import metrics as M


def test_fid_of_a_set_against_itself_is_zero():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 16))
    assert abs(M.fid(x, x)) < 1e-6


def test_frechet_distance_closed_form_for_known_gaussians():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=4), rng.normal(size=4)
    s1 = np.diag([1.0, 2.0, 0.5, 3.0])
    s2 = np.diag([4.0, 0.5, 0.5, 1.0])
    expected = ((mu1 - mu2) ** 2).sum() + (np.diag(s1) + np.diag(s2) - 2 * np.sqrt(np.diag(s1) * np.diag(s2))).sum()
    assert M.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)
    # non-diagonal: rotate both covariances by the same orthogonal matrix -> the distance is unchanged
    q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    assert M.frechet_distance(q @ mu1, q @ s1 @ q.T, q @ mu2, q @ s2 @ q.T) == pytest.approx(expected, rel=1e-7)


def test_fid_of_samples_approaches_the_closed_form():
    rng = np.random.default_rng(2)
    a = rng.normal(0.0, 1.0, size=(20000, 3))
    b = rng.normal(1.0, 2.0, size=(20000, 3))
    expected = 3 * 1.0 + 3 * (1 + 4 - 2 * 2)
    assert M.fid(a, b) == pytest.approx(expected, rel=0.03)


def test_fid_singular_covariance_retries_with_offset():
    # rank-deficient covariances: still finite and >= 0
    rng = np.random.default_rng(3)
    base = rng.normal(size=(50, 2))
    a = np.concatenate([base, np.zeros((50, 6))], axis=1)
    v = M.fid(a, a + 0.5)
    assert np.isfinite(v) and v == pytest.approx(8 * 0.25, abs=1e-3)


def test_r_precision_perfect_and_random():
    rng = np.random.default_rng(4)
    acc = M.MatchingAccumulator()
    for _ in range(20):
        t = rng.normal(size=(32, 8)) * 10
        acc.add(t, t + 1e-3)
    assert acc.r_precision().tolist() == [1.0, 1.0, 1.0]
    assert acc.matching_score() == pytest.approx(1e-3 * np.sqrt(8), rel=1e-6)
    rnd = M.MatchingAccumulator()
    for _ in range(400):
        rnd.add(rng.normal(size=(32, 8)), rng.normal(size=(32, 8)))
    r = rnd.r_precision()
    assert r == pytest.approx(np.array([1, 2, 3]) / 32, abs=0.01)


def test_r_precision_counts_rank_exactly():
    # text i is closest to motion (i+1) % 4, second closest to its own motion -> top1 = 0, top2 = 1
    m = np.eye(4) * 10
    t = np.stack([0.6 * m[(i + 1) % 4] + 0.5 * m[i] for i in range(4)])
    hits = M.r_precision_hits(t, m, top_k=3)
    assert hits.tolist() == [0, 4, 4]


def test_diversity_on_constructed_embeddings():
    # two clusters at distance 10 apart, half the points each; pairs land across clusters half the time
    n = 1000
    emb = np.zeros((n, 4))
    emb[n // 2 :, 0] = 10.0
    vals = [M.diversity(emb, rng=np.random.default_rng(s)) for s in range(30)]
    assert np.mean(vals) == pytest.approx(5.0, abs=0.3)
    # all points on a regular simplex: every distinct pair has the same distance
    simplex = np.eye(400) * 3.0
    d = M.diversity(simplex, rng=np.random.default_rng(0))
    assert d <= 3 * np.sqrt(2) + 1e-9 and d > 0.95 * 3 * np.sqrt(2)
    assert M.diversity_pairs(1000) == 300 and M.diversity_pairs(300) == 100 and M.diversity_pairs(50) == 50


def test_multimodality_on_constructed_embeddings():
    # each text: 30 samples on a simplex scaled by s_m -> distinct pairs at s_m*sqrt(2), identical pairs 0
    rng = np.random.default_rng(5)
    scales = np.array([1.0, 2.0, 3.0])
    emb = np.stack([np.eye(30) * s for s in scales])  # (3, 30, 30)
    v = M.multimodality(emb, pairs=10, rng=rng)
    # rebuild the same draws to know which pairs coincide
    rng2 = np.random.default_rng(5)
    a = rng2.choice(30, 10, replace=False)
    b = rng2.choice(30, 10, replace=False)
    frac_distinct = np.mean(a != b)
    assert v == pytest.approx(np.sqrt(2) * scales.mean() * frac_distinct, rel=1e-9)
    with pytest.raises(MoScaleError, match="at least 10 samples"):
        M.multimodality(np.zeros((2, 5, 3)), pairs=10)


def test_mean_interval_uses_population_std():
    m, c = M.mean_interval([1.0, 2.0, 3.0, 4.0])
    assert m == 2.5
    assert c == pytest.approx(1.96 * np.sqrt(1.25) / 2)


def test_mpjpe_root_aligned():
    rng = np.random.default_rng(6)
    g = rng.normal(size=(10, 22, 3))
    p = g + np.array([5.0, 0, 0])  # translated only -> zero after root alignment
    s, n = M.mpjpe_sum(p, g)
    assert n == 10 and s == pytest.approx(0.0, abs=1e-12)
    p2 = g.copy()
    p2[:, 1:, 1] += 0.01
    s2, _ = M.mpjpe_sum(p2, g)
    assert s2 / 10 == pytest.approx(0.01 * 21 / 22)
