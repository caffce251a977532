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
# the prompt-embedding cache of the test session goes to a temporary folder, never the user's ~/.cache
if "MOSCALE_CACHE" not in os.environ:
    import tempfile

    os.environ["MOSCALE_CACHE"] = tempfile.mkdtemp(prefix="moscale-test-cache-")


def pytest_configure(config) -> None:
    """Under pytest-xdist each worker gets its share of the cores (no oversubscription on small machines)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)
    if workers > 0:
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared fixtures not found at {path} (set MOSCALE_SHARED or place ../shared next to the repo)")
    return path


@pytest.fixture(autouse=True)
def _restore_global_state():
    """Every test leaves the process as it found it: console flags, torch threads, default dtype."""
    import torch

    from moscale_cli.utils.console import STATE

    saved = (STATE.quiet, STATE.debug, torch.get_num_threads(), torch.get_default_dtype())
    yield
    STATE.quiet, STATE.debug = saved[0], saved[1]
    if torch.get_num_threads() != saved[2]:
        torch.set_num_threads(saved[2])
    torch.set_default_dtype(saved[3])


@pytest.fixture
def quiet():
    """Console output off for the test (restored afterwards by ``_restore_global_state``)."""
    from moscale_cli.utils.console import STATE

    STATE.quiet = True


@pytest.fixture(scope="session")
def hml_fixture_dir() -> Path:
    return _need(FIXTURES / "humanml3d")


@pytest.fixture(scope="session")
def bvh_fixture_dir() -> Path:
    return _need(FIXTURES / "bvh")


@pytest.fixture(scope="session")
def bandai_archive() -> Path:
    return _need(SHARED / "data" / "bandai-namco-motion-2.tar.gz")


def load_test_module(relpath: str):
    """A helper module of the test suite (not a test module), loaded by its path under tests/."""
    path = ROOT / "tests" / relpath
    spec = importlib.util.spec_from_file_location("moscale_tests_" + path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def tiny_models():
    """The ``tests/pipeline/tiny_models.py`` module (tiny random-weight model directories), loaded once."""
    return load_test_module("pipeline/tiny_models.py")


@pytest.fixture(scope="session")
def rigs():
    """The ``tests/motion/rigs.py`` module: synthetic CMU/Mixamo-style rigs and broken BVH files."""
    return load_test_module("motion/rigs.py")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_models) -> Path:
    """A tiny random-weight model directory (shared by the pipeline, model-directory and CLI tests)."""
    return tiny_models.build_tiny_model_dir(tmp_path_factory.mktemp("models") / "tiny")


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
