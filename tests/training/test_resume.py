"""Exact resume after SIGKILL, corrupted checkpoints, config-mismatch refusal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from moscale_cli.errors import CheckpointError, ConfigError, UsageError
from moscale_cli.training.loop import TrainConfig
from moscale_cli.training.tokenizer_stage import TokenizerStageConfig, train_tokenizer

SCRIPT = Path(__file__).with_name("run_tiny_training.py")
ROOT = Path(__file__).resolve().parents[2]
MICRO = dict(width=32, code_dim=32, n_codes=64, depth=1, heads=2)


def _run(data: Path, out: Path, steps: int, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(SCRIPT), str(data), str(out), str(steps), *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _losses(run: Path) -> list[tuple]:
    recs = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"], r["recon"], r["commit"], r["lr"]) for r in recs if "loss" in r]


@pytest.mark.slow
def test_sigkill_then_resume_matches_uninterrupted_run_bitwise(window_dataset: Path, tmp_path: Path) -> None:
    steps = 24
    ref = _run(window_dataset, tmp_path / "ref", steps)
    marker = tmp_path / "blocked"
    # the run blocks right after logging step 10 (checkpoints at 4 and 8 written); a condition that stays true
    killed = _run(window_dataset, tmp_path / "run", steps, "--block-at", "10", str(marker))
    t0 = time.time()
    while not marker.exists() and killed.poll() is None and time.time() - t0 < 300:
        time.sleep(0.05)
    assert killed.poll() is None and marker.exists(), killed.stdout.read().decode()
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL
    done_before = _losses(tmp_path / "run")
    assert len(done_before) == 10
    resumed = _run(window_dataset, tmp_path / "run", steps, "--resume")
    assert resumed.wait(timeout=300) == 0, resumed.stdout.read().decode()
    assert ref.wait(timeout=300) == 0, ref.stdout.read().decode()
    a, b = _losses(tmp_path / "ref"), _losses(tmp_path / "run")
    assert [r[0] for r in b] == list(range(1, steps + 1))
    assert a == b  # bitwise equal floats
    wa = load_file(str(tmp_path / "ref" / f"checkpoint-{steps:08d}" / "model.safetensors"))
    wb = load_file(str(tmp_path / "run" / f"checkpoint-{steps:08d}" / "model.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    # validation records agree too
    va = [json.loads(x) for x in (tmp_path / "ref" / "log.jsonl").read_text().splitlines() if "val_mpjpe_mm" in x]
    vb = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines() if "val_mpjpe_mm" in x]
    assert va == vb and len(va) == steps // 8
    assert len(list((tmp_path / "run").glob("checkpoint-*"))) == 2  # keep-last 2


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(**{"steps": 4, "batch_size": 4, "lr": 1e-3, "warmup": 1, "save_every": 2, "val_every": 4,
                          "seed": 1, "device": "cpu", **kw})


def _train(data: Path, out: Path, resume: bool = False, cfg: TrainConfig | None = None, **over) -> dict:
    from moscale_cli.utils.console import STATE

    STATE.quiet = True  # restored after the test by conftest's _restore_global_state
    return train_tokenizer([str(data)], str(out), "tiny", cfg or _cfg(), TokenizerStageConfig(val_max_items=4),
                           resume=resume, **{**MICRO, **over})


def test_corrupted_checkpoint_gives_clear_error(window_dataset: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    _train(window_dataset, run)
    last = sorted(run.glob("checkpoint-*"))[-1]
    w = last / "model.safetensors"
    w.write_bytes(w.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=str(w)):
        _train(window_dataset, run, resume=True)
    (last / "model.safetensors").unlink()
    st = last / "trainer_state.json"
    st.write_text(st.read_text()[:50])
    with pytest.raises(CheckpointError, match="trainer_state.json"):
        _train(window_dataset, run, resume=True)


def test_resume_with_other_config_lists_the_keys(window_dataset: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    res = _train(window_dataset, run)
    assert res["step"] == 4
    with pytest.raises(ConfigError) as e:
        _train(window_dataset, run, resume=True, cfg=_cfg(lr=5e-4), width=48)
    msg = str(e.value)
    assert "config.tokenizer.width" in msg and "train.lr" in msg and "seed" not in msg
    # a fresh run into an existing run directory is refused as well
    with pytest.raises(UsageError, match="--resume"):
        _train(window_dataset, run)
    # runtime keys (device, save_every, ...) may change
    assert _train(window_dataset, run, resume=True, cfg=_cfg(save_every=3, steps=4))["step"] == 4


def _signal_at(monkeypatch: pytest.MonkeyPatch, step: int, sig: int):
    """Send ``sig`` to this process while the trainer logs the loss of ``step`` (mid-step, before the save
    checks); returns the trainer's own ``_log``."""
    from moscale_cli.training import loop

    orig = loop.Trainer._log

    def _log(self, rec):
        orig(self, rec)
        if rec.get("step") == step and "loss" in rec:
            os.kill(os.getpid(), sig)

    monkeypatch.setattr(loop.Trainer, "_log", _log)
    return orig


def test_sigterm_saves_the_step_then_resume_matches_uninterrupted_run(window_dataset: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A stop during training keeps the step it interrupts: a checkpoint of that step, then the stop is raised;
    --resume then gives the uninterrupted run's losses and weights exactly."""
    from moscale_cli.errors import Terminated
    from moscale_cli.training import loop

    cfg = _cfg(steps=10, save_every=4, val_every=4, keep_last=5)
    _train(window_dataset, tmp_path / "ref", cfg=cfg)
    orig = _signal_at(monkeypatch, 6, signal.SIGTERM)
    with pytest.raises(Terminated):
        _train(window_dataset, tmp_path / "run", cfg=cfg)
    monkeypatch.setattr(loop.Trainer, "_log", orig)
    run = tmp_path / "run"
    assert sorted(c.name for c in run.glob("checkpoint-*")) == ["checkpoint-00000004", "checkpoint-00000006"]
    assert [r[0] for r in _losses(run)] == list(range(1, 7))  # nothing after the stop
    _train(window_dataset, run, resume=True, cfg=cfg)
    assert _losses(run) == _losses(tmp_path / "ref")
    wa = load_file(str(tmp_path / "ref" / "checkpoint-00000010" / "model.safetensors"))
    wb = load_file(str(run / "checkpoint-00000010" / "model.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert signal.getsignal(signal.SIGTERM) is not None and signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_second_stop_signal_raises_at_once() -> None:
    from moscale_cli.training.stop import DeferredStop

    seen: list[int] = []
    with DeferredStop(on_request=seen.append) as stop:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)  # the handler runs between bytecodes
        assert stop.requested and stop.signum == signal.SIGINT and seen == [signal.SIGINT]
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_stop_before_any_validation_still_exports_the_weights(window_dataset: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A run stopped before its first validation (nothing exported yet) exports the weights of the step it
    kept, so there is something to use; the export equals that checkpoint's weights."""
    cfg = _cfg(steps=10, save_every=4, val_every=8, keep_last=5)
    _signal_at(monkeypatch, 3, signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        _train(window_dataset, tmp_path / "run", cfg=cfg)
    run = tmp_path / "run"
    exported = sorted(p.name for p in run.glob("*.safetensors"))
    assert exported, "nothing exported"
    ck = load_file(str(run / "checkpoint-00000003" / "model.safetensors"))
    ex = load_file(str(run / exported[0]))
    assert ex.keys() <= ck.keys() and all(torch.equal(ex[k], ck[k]) for k in ex)
