"""Shared test fixtures: paths to ../shared fixtures (skipped with a reason when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MOSCALE_SHARED", ROOT.parent / "shared"))
FIXTURES = SHARED / "fixtures"

# keep tests offline and single-threaded-friendly
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared fixtures not found at {path} (set MOSCALE_SHARED or place ../shared next to the repo)")
    return path


@pytest.fixture(scope="session")
def hml_fixture_dir() -> Path:
    return _need(FIXTURES / "humanml3d")


@pytest.fixture(scope="session")
def bvh_fixture_dir() -> Path:
    return _need(FIXTURES / "bvh")


@pytest.fixture(scope="session")
def bandai_archive() -> Path:
    return _need(SHARED / "data" / "bandai-namco-motion-2.tar.gz")
