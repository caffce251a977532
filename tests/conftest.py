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
    """Under pytest-xdist each worker gets its share of the cores (no oversubscription on small machines), pinned
    (``OMP_NUM_THREADS``, also for the subprocesses) so that training and evaluation do not make it follow the
    load: the workers keep the cores busy, and a test that compares two runs needs one thread count."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)
    if workers > 0:
        n = max(1, (os.cpu_count() or 1) // workers)
        os.environ.setdefault("OMP_NUM_THREADS", str(n))
        import torch

        torch.set_num_threads(n)


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared fixtures not found at {path} (set MOSCALE_SHARED or place ../shared next to the repo)")
    return path


@pytest.fixture(scope="module", autouse=True)
def _restore_threads_per_module():
    """A module-scoped fixture runs before the per-test guard below takes its snapshot, so a thread count it sets
    would be taken for the module's own and never undone: this module-level guard, set up before any other
    module fixture (autouse fixtures of a scope come first), restores the count when the module is done."""
    import torch

    n = torch.get_num_threads()
    yield
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


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
    return load_module("tests/" + relpath)


def load_module(relpath: str):
    """A module of the repository that is not in the package (a test helper, a script of examples/ or
    benchmarks/), loaded by its path from the repository's root."""
    path = ROOT / relpath
    spec = importlib.util.spec_from_file_location("moscale_tests_" + path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    import sys

    sys.modules[spec.name] = mod  # dataclasses look their module up there
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
def families():
    """The ``tests/motion/families.py`` module: BVH rigs of the common naming families, test motions."""
    return load_test_module("motion/families.py")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_models) -> Path:
    """A tiny random-weight model directory (shared by the pipeline, model-directory and CLI tests)."""
    return tiny_models.build_tiny_model_dir(tmp_path_factory.mktemp("models") / "tiny")


def _invoke_cli(capsys, args: list[str]) -> tuple[int, str, str]:
    """``moscale ARGS`` in-process through the real entry point -> (exit code, stdout, stderr); a success
    returns, a failure exits."""
    from moscale_cli.cli.app import main

    capsys.readouterr()
    try:
        main(args)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    o, e = capsys.readouterr()
    return code, o, e


@pytest.fixture
def run_cli(capsys):
    """Run ``moscale --quiet ARGS`` in-process; returns (exit code, stdout, stderr)."""
    return lambda *args: _invoke_cli(capsys, ["--quiet", *(str(a) for a in args)])


@pytest.fixture
def run_loud(capsys):
    """Like ``run_cli`` but without --quiet (the info lines are part of what is tested)."""
    return lambda *args: _invoke_cli(capsys, [str(a) for a in args])


# ---------------------------------------------------------------------------------------- external tools
# Tests that need an outside tool skip with the reason when it is missing here; CI installs the tools
# (.ci/run) and sets MOSCALE_REQUIRE_TOOLS=1, which turns those skips into failures.
def _missing_tool(reason: str) -> None:
    if os.environ.get("MOSCALE_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{reason} (MOSCALE_REQUIRE_TOOLS=1: CI must install it, see .ci/run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def blender_python() -> str:
    """A Python that imports Blender's ``bpy`` (PyPI wheel; it pins numpy < 2, so it lives in its own
    environment): $MOSCALE_BPY_PYTHON, else .ci/bpy-venv/bin/python, else this Python if it has bpy."""
    import shutil
    import subprocess
    import sys

    for cand in (os.environ.get("MOSCALE_BPY_PYTHON"), str(ROOT / ".ci" / "bpy-venv" / "bin" / "python"), sys.executable):
        if cand and (Path(cand).is_file() or shutil.which(cand)):
            ok = subprocess.run([cand, "-c", "import bpy"], capture_output=True, timeout=120).returncode == 0
            if ok:
                return cand
    _missing_tool("Blender's Python module bpy not found (pip install bpy in a Python 3.11 venv, then set MOSCALE_BPY_PYTHON)")
    raise AssertionError  # unreachable


@pytest.fixture(scope="session")
def gltf_validator() -> list[str]:
    """The command that validates glTF files with the Khronos glTF-Validator (tools/validate_gltf.mjs)."""
    import shutil

    node = shutil.which("node")
    if node is None or not (ROOT / "tools" / "node_modules" / "gltf-validator").is_dir():
        _missing_tool("the Khronos glTF-Validator is not installed (needs node; run: cd tools && npm ci --omit=dev)")
    return [str(node), str(ROOT / "tools" / "validate_gltf.mjs")]


@pytest.fixture(scope="session")
def chromium() -> str:
    """Headless Chromium (Debian's package: apt-get install chromium), or $MOSCALE_CHROMIUM."""
    import shutil

    for cand in (os.environ.get("MOSCALE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(cand) if cand else None
        if path:
            return path
    _missing_tool("Chromium not found (apt-get install chromium, or set MOSCALE_CHROMIUM)")
    raise AssertionError  # unreachable


@pytest.fixture(scope="session")
def validate_gltf(gltf_validator):
    """``validate_gltf(path) -> report``: the glTF-Validator's JSON report of a .glb/.gltf file."""
    import json
    import subprocess

    def run(path: Path) -> dict:
        res = subprocess.run([*gltf_validator, str(path)], capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout.strip().splitlines()[-1])

    return run


@pytest.fixture(scope="session")
def read_in_blender(blender_python):
    """``read_in_blender(path, fps) -> dict``: what Blender's own importer makes of a .glb/.gltf/.bvh file
    (tests/io/blender_probe.py: bone names, the action's frame range, the scene's rate, bone heads)."""
    import json
    import subprocess

    probe = ROOT / "tests" / "io" / "blender_probe.py"

    def run(path: Path, fps: float) -> dict:
        res = subprocess.run([blender_python, str(probe), str(path), str(fps)], capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]
        line = next(ln for ln in res.stdout.splitlines() if ln.startswith("BLENDER_PROBE "))
        return json.loads(line[len("BLENDER_PROBE ") :])

    return run
