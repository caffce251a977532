"""A tiny dataset folder (HumanML3D layout) cut from the fixture clip, for training tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests_training_helpers import make_window_dataset


@pytest.fixture(scope="session")
def window_dataset(hml_fixture_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 windows (64 frames) of the fixture clip as train and val splits, with the fixture's Mean/Std."""
    root = tmp_path_factory.mktemp("windows")
    feats = np.load(hml_fixture_dir / "new_joint_vecs" / "012314.npy")
    return make_window_dataset(root, feats, hml_fixture_dir, n=16, length=64)


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch: pytest.MonkeyPatch):
    """Training tests run single-threaded (faster on the shared 2-core machine, and deterministic): the thread
    count is pinned (``OMP_NUM_THREADS``), so the Trainer does not make it follow the machine's load."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield
    torch.set_num_threads(n)
