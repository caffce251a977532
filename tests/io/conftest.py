"""Helpers for the io tests: fixture BVH paths and SMPL-22 joints that lie on the target skeleton."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def bvh_files(bvh_fixture_dir: Path) -> list[Path]:
    files = sorted(bvh_fixture_dir.glob("*.bvh"))
    assert files, f"no .bvh files in {bvh_fixture_dir}"
    return files


@pytest.fixture(scope="session")
def short_bvh(bvh_files: list[Path]) -> Path:
    """The fixture clip with the fewest frames (keeps CLI/MP4 tests fast)."""
    return min(bvh_files, key=lambda p: p.stat().st_size)


def _on_skeleton(joints: np.ndarray) -> np.ndarray:
    from moscale_cli.motion.features import joints_to_features, recover_from_ric

    return np.asarray(recover_from_ric(joints_to_features(joints)), dtype=np.float32)


@pytest.fixture(scope="session")
def on_skeleton():
    """Joints -> joints on the SMPL-22 target skeleton (HumanML3D features and back), as a function."""
    return _on_skeleton
