"""Helpers for the training tests (not a test module)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np


def make_window_dataset(root: Path, feats: np.ndarray, stats_dir: Path, n: int = 16, length: int = 64) -> Path:
    (root / "new_joint_vecs").mkdir(parents=True, exist_ok=True)
    (root / "texts").mkdir(exist_ok=True)
    starts = np.linspace(0, feats.shape[0] - length, n).astype(int)
    names = []
    for i, s in enumerate(starts):
        name = f"w{i:03d}"
        np.save(root / "new_joint_vecs" / f"{name}.npy", feats[s : s + length].astype(np.float32))
        (root / "texts" / f"{name}.txt").write_text("a person moves#a/DET person/NOUN move/VERB#0.0#0.0\n")
        names.append(name)
    for split in ("train", "val"):
        (root / f"{split}.txt").write_text("\n".join(names) + "\n")
    for f in ("Mean.npy", "Std.npy"):
        shutil.copy(stats_dir / f, root / f)
    return root
