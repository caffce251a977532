"""The T2M metrics on evaluator embeddings, exactly as eval-protocol.md §4 defines them (numpy)."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg

from moscale_cli.errors import MoScaleError


def euclidean_distance_matrix(a_ND: np.ndarray, b_MD: np.ndarray) -> np.ndarray:
    """(N, M) Euclidean distances between the rows of ``a`` and ``b``."""
    a = np.asarray(a_ND, dtype=np.float64)
    b = np.asarray(b_MD, dtype=np.float64)
    d2 = (a * a).sum(1)[:, None] - 2.0 * a @ b.T + (b * b).sum(1)[None, :]
    return np.sqrt(np.maximum(d2, 0.0))


def r_precision_hits(text_ND: np.ndarray, motion_ND: np.ndarray, top_k: int = 3) -> np.ndarray:
    """Hits at k=1..top_k for one batch: row i ranks motions by distance to text i; a hit at k means motion i
    is among the first k. Returns an int array (top_k,) of summed hits over the batch (a batch of n < top_k
    motions: every motion is among the first k >= n)."""
    dist = euclidean_distance_matrix(text_ND, motion_ND)
    order = np.argsort(dist, axis=1, kind="stable")
    correct = order == np.arange(len(dist))[:, None]
    hits = (np.cumsum(correct[:, :top_k], axis=1) > 0).sum(0).astype(np.int64)
    return np.concatenate([hits, np.full(top_k - len(hits), len(dist), dtype=np.int64)])


def matching_score_sum(text_ND: np.ndarray, motion_ND: np.ndarray) -> float:
    """Sum over the batch of the distance between each text and its own motion (trace of the distance matrix)."""
    t = np.asarray(text_ND, dtype=np.float64)
    m = np.asarray(motion_ND, dtype=np.float64)
    return float(np.linalg.norm(t - m, axis=1).sum())


class MatchingAccumulator:
    """Accumulates R-precision hits and the matching score over batches of the evaluation loader."""

    def __init__(self, top_k: int = 3) -> None:
        self.top_k = top_k
        self.hits = np.zeros(top_k, dtype=np.int64)
        self.dist_sum = 0.0
        self.n = 0

    def add(self, text_ND: np.ndarray, motion_ND: np.ndarray) -> None:
        self.hits += r_precision_hits(text_ND, motion_ND, self.top_k)
        self.dist_sum += matching_score_sum(text_ND, motion_ND)
        self.n += len(text_ND)

    def r_precision(self) -> np.ndarray:
        return self.hits / max(self.n, 1)

    def matching_score(self) -> float:
        return self.dist_sum / max(self.n, 1)


def activation_statistics(emb_ND: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    emb = np.asarray(emb_ND, dtype=np.float64)
    if len(emb) < 2:
        raise MoScaleError("FID needs at least two embeddings per set")
    return emb.mean(axis=0), np.cov(emb, rowvar=False)


def _sqrtm(a: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # singular products are handled by the caller's retry
        return np.asarray(linalg.sqrtm(a))


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) with scipy's sqrtm; if the matrix square
    root is not finite, ``eps * I`` is added to both covariances and it is retried. The imaginary part is
    dropped when it is within 1e-3."""
    mu1 = np.atleast_1d(mu1).astype(np.float64)
    mu2 = np.atleast_1d(mu2).astype(np.float64)
    sigma1 = np.atleast_2d(sigma1).astype(np.float64)
    sigma2 = np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise MoScaleError(f"FID: shapes differ ({mu1.shape} vs {mu2.shape})")
    diff = mu1 - mu2
    covmean = _sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = _sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise MoScaleError(f"FID: imaginary component {np.max(np.abs(covmean.imag)):.3g} in the covariance square root")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def fid(emb_a: np.ndarray, emb_b: np.ndarray) -> float:
    """FID between two sets of embeddings (Gaussian fit: mean and ``np.cov(rowvar=False)``)."""
    mu1, s1 = activation_statistics(emb_a)
    mu2, s2 = activation_statistics(emb_b)
    return frechet_distance(mu1, s1, mu2, s2)


def diversity_pairs(n: int, pairs: int | None = None) -> int:
    """300 pairs, 100 when N <= 300 (momask's rule); never more than N."""
    if pairs is None:
        pairs = 300 if n > 300 else 100
    return min(pairs, n)


def diversity(emb_ND: np.ndarray, pairs: int | None = None, rng: np.random.Generator | None = None) -> float:
    """Mean L2 distance between two independent draws (each without replacement) of ``pairs`` embeddings."""
    emb = np.asarray(emb_ND, dtype=np.float64)
    if len(emb) < 2:
        raise MoScaleError("Diversity needs at least two embeddings")
    rng = rng if rng is not None else np.random.default_rng()
    k = diversity_pairs(len(emb), pairs)
    first = rng.choice(len(emb), k, replace=False)
    second = rng.choice(len(emb), k, replace=False)
    return float(np.linalg.norm(emb[first] - emb[second], axis=1).mean())


def multimodality_index_sets(samples: int, pairs: int = 10,
                             rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The two index sets of MultiModality: ``pairs`` of the ``samples`` per text, each drawn without replacement
    (independently, so they may share indices; the same sets serve every text)."""
    if samples < pairs:
        raise MoScaleError(f"MultiModality needs at least {pairs} samples per text, got {samples}")
    rng = rng if rng is not None else np.random.default_rng()
    return rng.choice(samples, pairs, replace=False), rng.choice(samples, pairs, replace=False)


def multimodality_at(emb_MKD: np.ndarray, first: np.ndarray, second: np.ndarray) -> float:
    """Mean L2 distance between the samples ``first[i]`` and ``second[i]`` of every text, over texts and pairs;
    ``emb`` is (M texts, K samples, D)."""
    emb = np.asarray(emb_MKD, dtype=np.float64)
    if emb.ndim != 3:
        raise MoScaleError(f"MultiModality expects (texts, samples, dim), got shape {emb.shape}")
    return float(np.linalg.norm(emb[:, np.asarray(first)] - emb[:, np.asarray(second)], axis=2).mean())


def multimodality(emb_MRD: np.ndarray, pairs: int = 10, rng: np.random.Generator | None = None) -> float:
    """For (M texts, R samples, D): draw two index sets of size ``pairs`` among the R samples (each without
    replacement) and average the L2 distances over all texts and pairs."""
    emb = np.asarray(emb_MRD, dtype=np.float64)
    if emb.ndim != 3:
        raise MoScaleError(f"MultiModality expects (texts, samples, dim), got shape {emb.shape}")
    first, second = multimodality_index_sets(emb.shape[1], pairs, rng)
    return multimodality_at(emb, first, second)


def mean_interval(values) -> tuple[float, float]:
    """(mean, 1.96 * std / sqrt(n)) with the population std (ddof=0)."""
    v = np.asarray(list(values), dtype=np.float64)
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(1.96 * v.std() / np.sqrt(v.size))


def mpjpe_sum(joints_pred_TJ3: np.ndarray, joints_gt_TJ3: np.ndarray) -> tuple[float, int]:
    """Root-aligned MPJPE summed over frames (mean over joints per frame) and the number of frames."""
    p = np.asarray(joints_pred_TJ3, dtype=np.float64)
    g = np.asarray(joints_gt_TJ3, dtype=np.float64)
    p = p - p[:, :1]
    g = g - g[:, :1]
    per_frame = np.linalg.norm(p - g, axis=-1).mean(-1)
    return float(per_frame.sum()), int(per_frame.shape[0])
