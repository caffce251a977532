"""MultiScaleQuantizer on its own, checked against hand computations and an independent NumPy reference of
method spec §2.2 (area pooling, brute-force nearest code, linear upsampling, residual update, the reference's
commitment normalisation), never against the module's own helpers."""

from __future__ import annotations

import math

import numpy as np
import torch

from moscale_cli.models.quantizer import MultiScaleQuantizer, QuantizerOutput

SCALES = (8, 4, 2, 1)
N = 49


def _quantizer(K: int = 64, C: int = 16, seed: int = 0, scales: tuple[int, ...] = SCALES, n: int = N,
               codebook: torch.Tensor | None = None, **kw) -> MultiScaleQuantizer:
    q = MultiScaleQuantizer(K, C, scales, n, **kw)
    cb = codebook if codebook is not None else torch.randn(K, C, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        q.codebook.copy_(cb)
        q.ema_sum.copy_(cb)
        q.codebook_initialized.fill_(True)
    return q.eval()


def _latent(B: int, C: int = 16, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, C, 9, generator=g)
    return torch.nn.functional.interpolate(x, size=N, mode="linear")


# ----------------------------------------------------------------------------- an independent reference (NumPy)
def area_pool(x_CN: np.ndarray, L: int) -> np.ndarray:
    """Average over the windows [floor(i N / L), ceil((i + 1) N / L)) of each output step i."""
    n = x_CN.shape[-1]
    return np.stack([x_CN[:, math.floor(i * n / L) : math.ceil((i + 1) * n / L)].mean(-1) for i in range(L)], -1)


def linear_up(z_CL: np.ndarray, n: int) -> np.ndarray:
    """Linear interpolation of L steps to n, sample centres aligned (half-pixel), clamped at the ends."""
    L = z_CL.shape[-1]
    out = np.zeros((z_CL.shape[0], n))
    for i in range(n):
        src = max((i + 0.5) * L / n - 0.5, 0.0)
        i0 = min(int(math.floor(src)), L - 1)
        i1 = min(i0 + 1, L - 1)
        w = src - i0
        out[:, i] = (1 - w) * z_CL[:, i0] + w * z_CL[:, i1]
    return out


def brute_nearest(x_MC: np.ndarray, cb_KC: np.ndarray) -> np.ndarray:
    """Every squared distance, written out, and the smallest."""
    return ((x_MC[:, None, :] - cb_KC[None, :, :]) ** 2).sum(-1).argmin(1).astype(np.int64)


def reference(f_CN: np.ndarray, grid: int, cb: np.ndarray, scales: tuple[int, ...], ids_override=None):
    """One sample through §2.2: (labels per scale with -1 past the valid tokens, contexts, fhat, commit per scale)."""
    C, n = f_CN.shape
    mask = (np.arange(n) < grid).astype(np.float64)
    r = f_CN * mask
    fhat = np.zeros_like(f_CN)
    labels, contexts, commits = [], [], []
    for k, s in enumerate(scales):
        L = max(1, n // s)
        valid = np.arange(L) < grid // s
        contexts.append(None if k == 0 else area_pool(fhat, L))
        ids = brute_nearest(area_pool(r * mask, L).T, cb)
        labels.append(np.where(valid, ids, -1))
        used = ids if ids_override is None else ids_override[k]
        contrib = linear_up((cb[np.clip(used, 0, None)] * valid[:, None]).T, n)
        r = r - contrib
        fhat = fhat + contrib
        commits.append(((f_CN - fhat) ** 2 * mask).sum() / (mask.sum() * n))
    return labels, contexts, fhat, commits


# ----------------------------------------------------------------------------- tests
def test_nearest_is_the_argmin_of_the_l2_distance() -> None:
    q = _quantizer()
    x = torch.randn(300, 16, generator=torch.Generator().manual_seed(3))
    brute = torch.from_numpy(brute_nearest(x.double().numpy(), q.codebook.double().numpy()))
    assert torch.equal(q.nearest(x), brute)
    q.train()  # Gumbel choice: random, but the nearest code wins most of the time at temperature 0.5
    assert (q.nearest(x, sample=True) == brute).float().mean() > 0.3


@torch.no_grad()
def test_two_scales_by_hand() -> None:
    """Codes 0, 1, 3 on one channel, a 2-step latent (3.2, 2.8), scales (2, 1): the coarse step pools to 3.0
    (code 3, id 2), leaving residuals (0.2, -0.2) whose nearest code is 0 (id 0). Commitment per scale: the
    squared error over valid positions / (valid positions x 2) = 0.08 / 4."""
    q = _quantizer(K=3, C=1, scales=(2, 1), n=2, codebook=torch.tensor([[0.0], [1.0], [3.0]]))
    f = torch.tensor([[[3.2, 2.8]]])
    out = q(f, torch.tensor([2]))
    assert isinstance(out, QuantizerOutput)
    assert [t.tolist() for t in out.labels] == [[[2]], [[0, 0]]]
    assert out.fhat.tolist() == [[[3.0, 3.0]]]
    assert torch.allclose(torch.stack(out.commit_per_scale), torch.tensor([0.02, 0.02]))
    assert math.isclose(float(out.commit), 0.02, rel_tol=1e-6)
    assert out.contexts[0] is None and torch.allclose(out.contexts[1], torch.tensor([[[3.0, 3.0]]]))
    # only the first latent step is valid: the coarse scale has no token (1 // 2 = 0), the fine one quantises 3.2
    # to 3 and masks the second token; commitment (3.2^2 / 2, 0.2^2 / 2), mean 2.57
    out = q(f, torch.tensor([1]))
    assert [t.tolist() for t in out.labels] == [[[-1]], [[2, -1]]]
    assert out.fhat.tolist() == [[[3.0, 0.0]]]
    assert torch.allclose(torch.stack(out.commit_per_scale), torch.tensor([5.12, 0.02]))
    assert math.isclose(float(out.commit), 2.57, rel_tol=1e-6)


@torch.no_grad()
def test_residual_quantisation_matches_an_independent_reference() -> None:
    q = _quantizer()
    grid = torch.tensor([10, 30, 49])
    f = _latent(3)
    out = q(f, grid)
    assert [t.shape[1] for t in out.labels] == [6, 12, 24, 49]
    cb = q.codebook.double().numpy()
    for b in range(3):
        labels, contexts, fhat, commits = reference(f[b].double().numpy(), int(grid[b]), cb, SCALES)
        for k in range(4):
            assert out.labels[k][b].tolist() == labels[k].tolist(), (b, k)
            if k:
                assert np.allclose(out.contexts[k][b].numpy(), contexts[k], atol=1e-5)
        assert np.allclose(out.fhat[b].numpy(), fhat, atol=1e-5)
        assert np.allclose(sum(c[b].numpy() for c in out.contributions), fhat, atol=1e-5)
    # the batch's commitment pools the squared errors of all samples before normalising
    mask = (np.arange(N)[None] < grid.numpy()[:, None]).astype(np.float64)
    fhat_cum = np.zeros((3, 16, N))
    f_np = f.double().numpy()
    for k in range(4):
        fhat_cum = fhat_cum + np.stack([out.contributions[k][b].double().numpy() for b in range(3)])
        want = ((f_np - fhat_cum) ** 2 * mask[:, None]).sum() / (mask.sum() * N)
        assert math.isclose(float(out.commit_per_scale[k]), want, rel_tol=1e-5)
    assert all(torch.equal(a, b) for a, b in zip(out.labels, out.perturbed_ids, strict=True))
    assert out.residuals is None and out.gammas == [0.0] * 4
    # gradients flow to the latent only (fhat is detached)
    with torch.enable_grad():
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
    # the residual update, and so the contexts and later labels, follow the perturbed ids
    cb = q.codebook.double().numpy()
    for b in (0, 17):
        used = [out.perturbed_ids[k][b].numpy() for k in range(4)]
        labels, contexts, fhat, _ = reference(f[b].double().numpy(), 49, cb, SCALES, ids_override=used)
        assert all(out.labels[k][b].tolist() == labels[k].tolist() for k in range(4))
        assert all(np.allclose(out.contexts[k][b].numpy(), contexts[k], atol=1e-5) for k in range(1, 4))
        assert np.allclose(out.fhat[b].numpy(), fhat, atol=1e-5)
    again = q(f, grid, perturb_rate=(lo, hi), generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(out.perturbed_ids, again.perturbed_ids, strict=True))


@torch.no_grad()
def test_ema_update_by_hand() -> None:
    q = _quantizer(gumbel_temp=0.0, reset_min_assign_factor=1e9)
    q.train()
    grid = torch.tensor([10, 17, 49])
    out = q(_latent(3, seed=9), grid, collect=True)
    n_valid = sum(int(g) // s for g in grid for s in SCALES)
    assert out.residuals.shape == (n_valid, 16) and out.residual_ids.shape == (n_valid,)
    x, ids = out.residuals.double().numpy(), out.residual_ids.numpy()
    assert ids.tolist() == brute_nearest(x, q.codebook.double().numpy()).tolist()  # temperature 0: the nearest
    count0, sum0 = q.ema_count.double().numpy().copy(), q.ema_sum.double().numpy().copy()
    q.ema_update(out.residuals, out.residual_ids)
    mu = q.ema_decay
    counts, sums = np.zeros(64), np.zeros((64, 16))
    for xi, i in zip(x, ids, strict=True):
        counts[i] += 1
        sums[i] += xi
    want_count = mu * count0 + (1 - mu) * counts
    want_sum = mu * sum0 + (1 - mu) * sums
    assert np.allclose(q.ema_count.numpy(), want_count, atol=1e-5)
    assert np.allclose(q.ema_sum.numpy(), want_sum, atol=1e-5)
    assert np.allclose(q.codebook.numpy(), want_sum / want_count[:, None], atol=1e-5)
    assert q.last_dead_reset == 0


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
    residuals = out.residuals.clone()
    q.ema_update(out.residuals, out.residual_ids)
    assert q.last_dead_reset >= 32
    assert torch.all(q.ema_count[32:] == 1.0)
    # every reset code is one of the batch's residuals
    assert bool((q.codebook[32:, None, :] == residuals[None]).all(-1).any(-1).all())
    # not enough assignments in the batch -> no reset
    q2 = _quantizer(reset_min_assign_factor=1e6).train()
    q2.codebook[32:] = 1e4
    q2.ema_sum[32:] = 1e4 * 0.5
    q2.ema_count[32:] = 0.5
    out = q2(_latent(8, seed=10), grid, collect=True)
    q2.ema_update(out.residuals, out.residual_ids)
    assert q2.last_dead_reset == 0 and (q2.codebook[32:] == 1e4).all()
    # no vector at all: nothing to initialise from, the codebook stays as it was
    q3 = MultiScaleQuantizer(8, 4, SCALES, N)
    q3.init_codebook(torch.zeros(0, 4))
    assert not bool(q3.codebook_initialized) and torch.equal(q3.codebook, torch.zeros(8, 4))
