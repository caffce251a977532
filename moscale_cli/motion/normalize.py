"""Z-normalisation of motion features with HumanML3D's statistics rules.

- ``compute_stats``: mean and std per dimension, then the std is averaged inside each of the seven
  feature slices (HumanML3D's ``cal_mean_variance``; gives the dataset ``Std.npy``).
- ``evaluator_std``: the T2M evaluator's std = that std with the root dims (0:4) and the 4 contact
  dims divided by 25.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from moscale_cli.errors import DatasetError, MoScaleError
from moscale_cli.motion.quaternion import is_torch
from moscale_cli.motion.skeleton import Skeleton, skeleton_for_dim
from moscale_cli.utils.atomic import atomic_path

EVALUATOR_FEAT_BIAS = 25.0

Array = Any  # numpy.ndarray or torch.Tensor


class Normalizer:
    """(x - mean) / std over the last axis, for numpy arrays and torch tensors.

    Dimensions whose std is below ``eps`` are divided by 1 instead (constant features stay finite).
    """

    def __init__(self, mean: Array, std: Array, eps: float = 1e-8) -> None:
        mean = np.asarray(mean, dtype=np.float32).reshape(-1)
        std = np.asarray(std, dtype=np.float32).reshape(-1)
        if mean.shape != std.shape:
            raise MoScaleError(f"mean and std differ in shape: {mean.shape} vs {std.shape}")
        if not (np.isfinite(mean).all() and np.isfinite(std).all()) or (std < 0).any():
            raise MoScaleError("normalisation statistics contain NaN, infinite or negative values")
        self.mean = mean
        self.std = std
        self.eps = eps
        self._scale = np.where(std < eps, np.float32(1.0), std).astype(np.float32)

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    def _stats_like(self, x: Array) -> tuple[Array, Array]:
        if x.shape[-1] != self.dim:
            raise MoScaleError(f"features have {x.shape[-1]} dims but the normaliser has {self.dim}")
        if is_torch(x):
            torch = __import__("torch")
            kw = {"dtype": x.dtype if x.is_floating_point() else torch.float32, "device": x.device}
            return torch.as_tensor(self.mean, **kw), torch.as_tensor(self._scale, **kw)
        dt = x.dtype if np.issubdtype(np.asarray(x).dtype, np.floating) else np.float32
        return self.mean.astype(dt), self._scale.astype(dt)

    def normalize(self, x: Array) -> Array:
        mean, scale = self._stats_like(x)
        return (x - mean) / scale

    def denormalize(self, x: Array) -> Array:
        mean, scale = self._stats_like(x)
        return x * scale + mean

    def save(self, folder: str | os.PathLike) -> None:
        """Write ``Mean.npy`` and ``Std.npy`` (float32) into ``folder`` (created if missing), atomically."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, arr in (("Mean.npy", self.mean), ("Std.npy", self.std)):
            with atomic_path(folder / name) as tmp:
                with open(tmp, "wb") as f:
                    np.save(f, arr.astype(np.float32))

    @classmethod
    def from_dir(cls, folder: str | os.PathLike, eps: float = 1e-8) -> Normalizer:
        """Read ``Mean.npy`` and ``Std.npy`` from ``folder``."""
        folder = Path(folder)
        arrays = []
        for name in ("Mean.npy", "Std.npy"):
            path = folder / name
            if not path.is_file():
                raise DatasetError(f"missing normalisation statistics: {path}")
            try:
                arrays.append(np.load(path, allow_pickle=False))
            except (OSError, ValueError) as e:
                raise DatasetError(f"cannot read {path}: {e}") from None
        return cls(arrays[0], arrays[1], eps=eps)

    @classmethod
    def from_official_meta(cls, folder: str | os.PathLike, eps: float = 1e-8) -> Normalizer:
        """The official T2M evaluator's statistics: ``meta/mean.npy`` and ``meta/std.npy`` of ``folder`` (an
        evaluator folder such as ``checkpoints/t2m/Comp_v6_KLD005``, its parent, or the ``meta`` folder)."""
        folder = Path(folder)
        for cand in (folder, folder / "meta", folder / "Comp_v6_KLD005" / "meta"):
            if (cand / "mean.npy").is_file() and (cand / "std.npy").is_file():
                try:
                    mean, std = (np.load(cand / n, allow_pickle=False) for n in ("mean.npy", "std.npy"))
                except (OSError, ValueError) as e:
                    raise DatasetError(f"cannot read the evaluator statistics in {cand}: {e}") from None
                return cls(mean, std, eps=eps)
        raise DatasetError(f"no evaluator statistics (meta/mean.npy, meta/std.npy) under {folder}")


def group_average_std(std: np.ndarray, skeleton: Skeleton | None = None) -> np.ndarray:
    """Replace every entry of ``std`` by the mean std of its feature slice."""
    std = np.asarray(std, dtype=np.float64).copy()
    sk = skeleton if skeleton is not None else skeleton_for_dim(std.shape[-1])
    if std.shape[-1] != sk.feature_dim:
        raise MoScaleError(f"std has {std.shape[-1]} dims but {sk.name} features have {sk.feature_dim}")
    for sl in sk.feature_slices().values():
        std[..., sl] = std[..., sl].mean(-1, keepdims=True)
    return std


def compute_stats(
    feats: Iterable[np.ndarray], skeleton: Skeleton | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Dataset (mean, std) over all frames of all clips; std averaged within each feature slice (float32)."""
    total = None
    total_sq = None
    count = 0
    for f in feats:
        f = np.asarray(f, dtype=np.float64)
        if f.ndim != 2 or f.shape[0] == 0:
            raise MoScaleError(f"feature arrays must be (T, D) with T > 0, got {f.shape}")
        if total is None:
            total, total_sq = np.zeros(f.shape[1]), np.zeros(f.shape[1])
        elif f.shape[1] != total.shape[0]:
            raise MoScaleError(f"feature widths differ: {f.shape[1]} vs {total.shape[0]}")
        total += f.sum(0)
        total_sq += (f * f).sum(0)
        count += f.shape[0]
    if total is None:
        raise MoScaleError("no feature arrays given to compute statistics from")
    mean = total / count
    var = np.maximum(total_sq / count - mean * mean, 0.0)
    std = group_average_std(np.sqrt(var), skeleton)
    return mean.astype(np.float32), std.astype(np.float32)


def evaluator_std(std: np.ndarray, skeleton: Skeleton | None = None) -> np.ndarray:
    """The T2M evaluator's std: root dims 0:4 and the 4 foot-contact dims divided by 25."""
    out = np.asarray(std, dtype=np.float32).copy()
    sk = skeleton if skeleton is not None else skeleton_for_dim(out.shape[-1])
    if out.shape[-1] != sk.feature_dim:
        raise MoScaleError(f"std has {out.shape[-1]} dims but {sk.name} features have {sk.feature_dim}")
    out[..., 0:4] /= EVALUATOR_FEAT_BIAS
    out[..., sk.feature_slices()["foot_contact"]] /= EVALUATOR_FEAT_BIAS
    return out
