"""MultiScaleQuantizer on its own: nearest codes, residual quantisation over scales, perturbation, EMA
updates, dead-code reset and the reference's commitment normalisation (no encoder or decoder involved)."""

from __future__ import annotations

import torch

from moscale_cli.models.layers import length_mask
from moscale_cli.models.quantizer import MultiScaleQuantizer, QuantizerOutput

SCALES = (8, 4, 2, 1)
N = 49


def _quantizer(K: int = 64, C: int = 16, seed: int = 0, **kw) -> MultiScaleQuantizer:
    q = MultiScaleQuantizer(K, C, SCALES, N, **kw)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        cb = torch.randn(K, C, generator=g)
        q.codebook.copy_(cb)
        q.ema_sum.copy_(cb)
        q.codebook_initialized.fill_(True)
    return q.eval()


def _latent(B: int, C: int = 16, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, C, 9, generator=g)
    return torch.nn.functional.interpolate(x, size=N, mode="linear")


def test_nearest_is_the_argmin_of_the_l2_distance() -> None:
    q = _quantizer()
    x = torch.randn(300, 16, generator=torch.Generator().manual_seed(3))
    brute = torch.cdist(x, q.codebook).argmin(-1)
    assert torch.equal(q.nearest(x), brute)
    q.train()  # Gumbel choice: random, but the nearest code wins most of the time at temperature 0.5
    assert (q.nearest(x, sample=True) == brute).float().mean() > 0.3


@torch.no_grad()
def test_residual_quantisation_is_exact_and_typed() -> None:
    q = _quantizer()
    grid = torch.tensor([10, 30, 49])
    f = _latent(3)
    out = q(f, grid)
    assert isinstance(out, QuantizerOutput)
    assert [t.shape[1] for t in out.labels] == [6, 12, 24, 49]
    mask = length_mask(grid, N).unsqueeze(1).float()
    r = f * mask
    fhat = torch.zeros_like(f)
    for k, s in enumerate(SCALES):
        L = N // s
        v = (grid // s).clamp(min=1)
        pooled = torch.nn.functional.interpolate(r * mask, size=L, mode="area")
        ids = torch.cdist(pooled.transpose(1, 2), q.codebook.unsqueeze(0).expand(3, -1, -1)).argmin(-1)
        tok = length_mask(v, L)
        assert torch.equal(out.labels[k], ids.masked_fill(~tok, -1))
        contrib = q.contribution(out.labels[k], k, grid)
        assert torch.equal(contrib, out.contributions[k])
        r = r - contrib
        fhat = fhat + contrib
        if k:
            assert torch.equal(out.contexts[k], q.coarse_context(sum(out.contributions[:k]), k))
    assert out.contexts[0] is None
    assert torch.allclose(out.fhat, fhat)
    assert out.perturbed_ids[0] is not None and all(torch.equal(a, b) for a, b in zip(out.labels, out.perturbed_ids, strict=True))
    assert out.residuals is None and out.gammas == [0.0] * 4


def test_commitment_matches_the_reference_normalisation() -> None:
    """Reference: per scale, sum over valid positions and channels of (f - fhat_cum)^2 divided by
    (valid positions x 49); the loss is the mean over scales = (C / 49) x the per-element MSE."""
    C = 16
    q = _quantizer(C=C)
    grid = torch.tensor([12, 49])
    f = _latent(2, C=C, seed=5)
    with torch.no_grad():
        out = q(f, grid)
    m = length_mask(grid, N).unsqueeze(1).float()
    fhat = torch.zeros_like(f)
    terms, mses = [], []
    for c in out.contributions:
        fhat = fhat + c
        sq = ((f - fhat) ** 2 * m).sum()
        terms.append(sq / (m.sum() * 49))
        mses.append(sq / (m.sum() * C))
    ref = torch.stack(terms).mean()
    assert torch.allclose(out.commit, ref, rtol=1e-6)
    assert torch.allclose(out.commit, torch.stack(mses).mean() * C / 49, rtol=1e-6)
    # gradients flow to the latent only (fhat is detached)
    f2 = f.clone().requires_grad_(True)
    q(f2, grid).commit.backward()
    assert f2.grad is not None and f2.grad.abs().sum() > 0


@torch.no_grad()
def test_perturbation_rate_clean_labels_and_determinism() -> None:
    q = _quantizer()
    f = _latent(64, seed=8)
    grid = torch.full((64,), 49)
    clean = q(f, grid).labels
    lo, hi = 0.3, 0.5
    out = q(f, grid, perturb_rate=(lo, hi), generator=torch.Generator().manual_seed(0))
    assert torch.equal(out.labels[0], clean[0])  # a scale's own label is never corrupted
    assert any(not torch.equal(out.labels[k], clean[k]) for k in range(1, 4))
    for k in range(4):
        valid = out.labels[k] >= 0
        assert torch.equal(out.perturbed_ids[k] >= 0, valid)
        changed = (out.perturbed_ids[k] != out.labels[k])[valid]
        rate, n, gamma = changed.float().mean().item(), int(valid.sum()), out.gammas[k]
        assert lo <= gamma <= hi
        assert abs(rate - gamma) < 4 * (gamma * (1 - gamma) / n) ** 0.5 + 1e-6
    for k in range(1, 4):  # contexts come from the perturbed accumulation
        assert torch.equal(out.contexts[k], q.coarse_context(sum(out.contributions[:k]), k))
    assert torch.equal(q.contribution(out.perturbed_ids[0], 0, grid), out.contributions[0])
    again = q(f, grid, perturb_rate=(lo, hi), generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(out.perturbed_ids, again.perturbed_ids, strict=True))


@torch.no_grad()
def test_ema_counts_only_valid_positions_and_codebook_is_the_ratio() -> None:
    q = _quantizer(gumbel_temp=0.0, reset_min_assign_factor=1e9)
    q.train()
    grid = torch.tensor([10, 17, 49])
    out = q(_latent(3, seed=9), grid, collect=True)
    n_valid = sum(int(v.sum()) for v in q.valid_lengths(grid))
    assert out.residuals.shape == (n_valid, 16) and out.residual_ids.shape == (n_valid,)
    before = q.ema_count.clone()
    q.ema_update(out.residuals, out.residual_ids)
    mu = q.ema_decay
    counted = (q.ema_count - mu * before) / (1 - mu)
    assert torch.allclose(counted, torch.bincount(out.residual_ids, minlength=64).float(), atol=1e-4)
    assert torch.allclose(q.codebook, q.ema_sum / q.ema_count[:, None])


@torch.no_grad()
def test_init_from_data_and_dead_code_reset() -> None:
    q = MultiScaleQuantizer(64, 16, SCALES, N, reset_min_assign_factor=1.0).train()
    x = torch.randn(20, 16)
    q.init_codebook(x)  # fewer vectors than codes: tiled with small noise
    assert bool(q.codebook_initialized)
    assert torch.cdist(q.codebook, x).min(1).values.max() < 0.05
    grid = torch.full((8,), 49)
    q.codebook[32:] = 1e4
    q.ema_sum[32:] = 1e4 * 0.5
    q.ema_count[32:] = 0.5
    out = q(_latent(8, seed=10), grid, collect=True)
    q.ema_update(out.residuals, out.residual_ids)
    assert q.last_dead_reset >= 32
    assert (q.codebook[32:].abs() < 1e3).all() and torch.all(q.ema_count[32:] == 1.0)
    # not enough assignments in the batch -> no reset
    q2 = _quantizer(reset_min_assign_factor=1e6).train()
    q2.codebook[32:] = 1e4
    q2.ema_sum[32:] = 1e4 * 0.5
    q2.ema_count[32:] = 0.5
    out = q2(_latent(8, seed=10), grid, collect=True)
    q2.ema_update(out.residuals, out.residual_ids)
    assert q2.last_dead_reset == 0 and (q2.codebook[32:] == 1e4).all()
