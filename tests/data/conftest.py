"""Builders for small dataset folders in the HumanML3D layout, made inside each test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def write_dataset(
    root: Path,
    clips: dict[str, tuple[int, list[str]]],
    splits: dict[str, list[str]] | None = None,
    dim: int = 263,
    seed: int = 0,
    stats: bool = True,
) -> dict[str, np.ndarray]:
    """Write ``clips`` (name -> (frames, caption lines)) with random features; returns the features."""
    rng = np.random.default_rng(seed)
    (root / "new_joint_vecs").mkdir(parents=True, exist_ok=True)
    (root / "texts").mkdir(exist_ok=True)
    feats = {}
    for name, (t, lines) in clips.items():
        f = (rng.normal(size=(t, dim)) * np.linspace(0.5, 3.0, dim) + np.arange(dim) * 0.01).astype(
            np.float32
        )
        np.save(root / "new_joint_vecs" / f"{name}.npy", f)
        (root / "texts" / f"{name}.txt").write_text("".join(ln + "\n" for ln in lines))
        feats[name] = f
    splits = splits if splits is not None else {"train": list(clips)}
    for split, names in splits.items():
        (root / f"{split}.txt").write_text("".join(n + "\n" for n in names))
    if stats:
        allf = np.concatenate(list(feats.values()))
        np.save(root / "Mean.npy", allf.mean(0).astype(np.float32))
        np.save(root / "Std.npy", (allf.std(0) + 0.1).astype(np.float32))
    return feats


@pytest.fixture
def make_dataset(tmp_path):
    def _make(name: str = "hml", **kw):
        root = tmp_path / name
        feats = write_dataset(root, **kw)
        return root, feats

    return _make
