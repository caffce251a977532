"""The fault matrix (issue 22, item 8), run on every CI run: processes killed while they write a file, import
a dataset or write a training checkpoint; a corrupted prompt cache; model directories with swapped parts.

What must hold: no partial file or folder under a final name; SIGTERM cleans up like Ctrl-C (exit 143, no
temporary file, no staging folder, no worker process left); after SIGKILL the next run over the same output
removes the leftovers, the workers exit by themselves and training resumes; a damaged cache only costs time;
a part of another run is one error line naming both files and writes nothing."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
WRITER = Path(__file__).with_name("checkpoint_writer.py")
FAST = ["--refine-steps", "1,1,1,1", "--device", "cpu"]
WALK = "dataset-2_walk_normal_001.bvh"  # the longest fixture clip: its video takes a while to render
SHORT = "dataset-2_raise-up-both-hands_normal_001.bvh"


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **extra}


def _moscale(*args: object, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "moscale_cli", "-q", *(str(a) for a in args)], env=_env(**env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(cond: Callable[[], bool], proc: subprocess.Popen, timeout: float = 120.0) -> None:
    t0 = time.time()
    while not cond():
        if proc.poll() is not None:
            raise AssertionError(f"the process ended before the fault point: {proc.stderr.read()}")
        if time.time() - t0 > timeout:
            proc.kill()
            raise AssertionError("the fault point was not reached")
        time.sleep(0.02)


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (Linux /proc)."""
    out: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            out.update(kids)
            todo.extend(kids)
    return out


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie has finished: only its exit status is left


def _all_gone(pids: set[int], timeout: float = 15.0) -> bool:
    t0 = time.time()
    while any(_running(p) for p in pids):
        if time.time() - t0 > timeout:
            return False
        time.sleep(0.1)
    return True


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


needs_proc = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")


# ------------------------------------------------------------------ kill during a write
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_kill_during_write(bvh_fixture_dir: Path, tmp_path: Path, sig: int) -> None:
    out = tmp_path / "clip.mp4"
    out.write_bytes(b"the previous video")
    proc = _moscale("convert", bvh_fixture_dir / WALK, "-o", out)
    _wait_for(lambda: any(p.name.startswith(".clip.mp4.") for p in tmp_path.iterdir()), proc)
    time.sleep(0.3)  # inside the write
    proc.send_signal(sig)
    proc.wait(timeout=60)
    assert out.read_bytes() == b"the previous video"  # never a partial file under the final name
    if sig == signal.SIGTERM:
        err = proc.stderr.read()
        assert proc.returncode == 143 and "terminated" in err, err
        assert _hidden(tmp_path) == []  # cleaned up like Ctrl-C
    else:
        assert proc.returncode == -signal.SIGKILL and len(_hidden(tmp_path)) == 1
        done = _moscale("convert", bvh_fixture_dir / SHORT, "-o", tmp_path / "clip.npy")  # the next run there
        assert done.wait(timeout=120) == 0, done.stderr.read()
        assert _hidden(tmp_path) == []  # the killed run's temporary file is gone


# ------------------------------------------------------------------ kill during an import
@pytest.fixture(scope="module")
def many_bvh(bvh_fixture_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 BVH files (links to three fixture clips) with their label files."""
    src = tmp_path_factory.mktemp("many") / "src"
    src.mkdir()
    for i in range(20):
        for clip in ("walk", "run", "wave-left-hand"):
            for ext in (".bvh", ".json"):
                (src / f"dataset-2_{clip}_normal_{i:03d}{ext}").symlink_to(
                    bvh_fixture_dir / f"dataset-2_{clip}_normal_001{ext}")
    return src


@needs_proc
@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_kill_during_import(many_bvh: Path, tmp_path: Path, sig: int) -> None:
    work = tmp_path / "work"
    work.mkdir()
    proc = _moscale("data", "import-bvh", many_bvh, work / "ds", "--workers", "2")

    def converting() -> bool:
        return any(p.name.endswith(".partial") and any((p / "new_joint_vecs").glob("*.npy"))
                   for p in work.iterdir())

    _wait_for(converting, proc)
    kids = _descendants(proc.pid)
    assert len(kids) >= 2  # the workers (and the resource tracker)
    proc.send_signal(sig)
    proc.wait(timeout=60)
    assert _all_gone(kids), "worker processes outlived the import"
    assert not (work / "ds").exists()
    if sig == signal.SIGTERM:
        assert proc.returncode == 143
        assert _hidden(work) == []  # no staging folder left
        return
    assert proc.returncode == -signal.SIGKILL and any(n.endswith(".partial") for n in _hidden(work))
    again = _moscale("data", "import-bvh", many_bvh.parent / "src", work / "ds", "--workers", "1")
    assert again.wait(timeout=600) == 0, again.stderr.read()
    assert sorted(p.name for p in work.iterdir()) == ["ds"]  # the killed run's staging folder is gone


# ------------------------------------------------------------------ kill during a training checkpoint
@pytest.fixture(scope="module")
def window_dataset(hml_fixture_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import load_test_module

    helpers = load_test_module("training/tests_training_helpers.py")
    feats = np.load(hml_fixture_dir / "new_joint_vecs" / "012314.npy")
    return helpers.make_window_dataset(tmp_path_factory.mktemp("windows"), feats, hml_fixture_dir, n=16, length=64)


@pytest.mark.slow
def test_kill_during_training_checkpoint(window_dataset: Path, tmp_path: Path) -> None:
    import json

    run, marker, steps = tmp_path / "run", tmp_path / "blocked", 12

    def train(*extra: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, str(WRITER), str(window_dataset), str(run), str(steps), *extra],
                                env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    killed = train("--block-in", "checkpoint-00000008", str(marker))
    _wait_for(marker.exists, killed, timeout=300)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=60)
    assert (run / "checkpoint-00000004" / "model.safetensors").is_file()
    assert not (run / "checkpoint-00000008").exists() and (run / ".tmp-checkpoint-00000008").is_dir()
    resumed = train("--resume")
    assert resumed.wait(timeout=600) == 0, resumed.stdout.read()
    state = json.loads((run / "checkpoint-00000012" / "trainer_state.json").read_text())
    assert state["step"] == steps
    steps_logged = [json.loads(x)["step"] for x in (run / "log.jsonl").read_text().splitlines() if '"loss"' in x]
    assert steps_logged == list(range(1, steps + 1))
    leftovers = [p.name for p in run.rglob(".*")]
    assert leftovers == [], leftovers  # the half-written checkpoint and its temporary file are gone


# ------------------------------------------------------------------ corrupted prompt cache
@pytest.mark.slow
def test_corrupted_prompt_cache_costs_only_time(tiny_model_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"

    def generate(name: str) -> np.ndarray:
        p = _moscale("generate", "a person walks forward", "-o", tmp_path / name, "--frames", "40",
                     "--model", tiny_model_dir, *FAST, MOSCALE_CACHE=str(cache))
        assert p.wait(timeout=300) == 0, p.stderr.read()
        return np.load(tmp_path / name)

    first = generate("a.npy")
    entries = [p for p in cache.rglob("*") if p.is_file()]
    assert entries
    for k, p in enumerate(entries):  # every kind of damage: cut, garbage, empty
        data = p.read_bytes()
        p.write_bytes([data[: len(data) // 2], b"\x00garbage" * 50, b""][k % 3])
    assert np.array_equal(generate("b.npy"), first)
    assert np.array_equal(generate("c.npy"), first)  # and the cache was rewritten


# ------------------------------------------------------------------ swapped model parts
@pytest.fixture(scope="module")
def other_model_dir(tmp_path_factory: pytest.TempPathFactory, tiny_models) -> Path:
    return tiny_models.build_tiny_model_dir(tmp_path_factory.mktemp("other") / "tiny", seed=1)


@pytest.mark.parametrize("part", ["tokenizer.safetensors", "stats.safetensors", "generator.safetensors"])
def test_swapped_model_part(tiny_model_dir: Path, other_model_dir: Path, tmp_path: Path, run_cli, part: str) -> None:
    d = tmp_path / "model"
    shutil.copytree(tiny_model_dir, d)
    shutil.copyfile(other_model_dir / part, d / part)
    code, _, err = run_cli("generate", "a person walks", "-o", tmp_path / "x.bvh", "--frames", "40",
                           "--model", d, *FAST)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and "do not belong together" in err and part in err
    assert "generator.safetensors" in err and not (tmp_path / "x.bvh").exists()
