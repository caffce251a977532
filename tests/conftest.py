"""Shared test fixtures: paths to ../shared fixtures (skipped with a reason when absent)."""

from __future__ import annotations

import importlib.util
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


@pytest.fixture(scope="session")
def tiny_models():
    """The ``tests/pipeline/tiny_models.py`` module (tiny random-weight model directories), loaded once."""
    path = ROOT / "tests" / "pipeline" / "tiny_models.py"
    spec = importlib.util.spec_from_file_location("moscale_tests_tiny_models", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def run_cli(capsys):
    """Run ``moscale --quiet ARGS`` in-process through the real entry point; returns (exit code, stdout, stderr)."""
    from moscale_cli.cli.app import main

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            main(["--quiet", *(str(a) for a in args)])
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        o, e = capsys.readouterr()
        return code, o, e

    return run
