"""The reference recipes are the defaults: the resolved configs of `train-tokenizer` and `train` with no
options equal the tables of the method spec (§2.3 tokenizer, §8 generator), and the lr curves are the
reference's at a few steps."""

from __future__ import annotations

import json
import math

import pytest

from moscale_cli.training.loop import TrainConfig, lr_factor
from moscale_cli.training.recipes import reference_train_config

# taken from ../shared/docs/moscale-method.md: §2.3 (tokenizer) and §8 (generator)
METHOD_TOKENIZER = {"epochs": 1000, "batch_size": 256, "lr": 3e-4, "betas": [0.9, 0.99], "weight_decay": 0.0,
                    "schedule": "step", "milestone_fracs": [0.3, 0.7], "gamma": 0.3, "grad_clip": 0.5, "seed": 10306,
                    "warmup_start": 0.0}
METHOD_GENERATOR = {"epochs": 120, "batch_size": 64, "lr": 3e-4, "betas": [0.9, 0.98], "weight_decay": 0.05,
                    "schedule": "cosine", "warmup_epochs": 10.0, "warmup_start": 0.005, "horizon_epochs": 250.0,
                    "min_lr_ratio": 0.01, "grad_clip": 2.0, "seed": 10306}


def _resolved(run_cli, *args: str) -> dict:
    code, out, err = run_cli(*args, "--print-config")
    assert code == 0, err
    return json.loads(out)


def test_default_commands_resolve_to_the_reference_recipes(run_cli, tmp_path) -> None:
    tok = _resolved(run_cli, "train-tokenizer", "--data", str(tmp_path), "--out", str(tmp_path / "t"))
    assert tok["preset"] == "base"
    assert {k: tok["train"][k] for k in METHOD_TOKENIZER} == METHOD_TOKENIZER
    assert tok["stage"]["lambda_pos"] == 0.5 and tok["stage"]["lambda_commit"] == 0.02
    gen = _resolved(run_cli, "train", "--data", str(tmp_path), "--tokenizer", str(tmp_path), "--out", str(tmp_path / "g"))
    assert gen["preset"] == "base" and gen["arch"] == "next-scale"
    assert {k: gen["train"][k] for k in METHOD_GENERATOR} == METHOD_GENERATOR
    assert gen["perturb_max"] == 0.6 and gen["cond_drop"] == 0.1
    # a flag still overrides one value and leaves the rest
    gen2 = _resolved(run_cli, "train", "--data", str(tmp_path), "--tokenizer", str(tmp_path), "--out", str(tmp_path / "g"),
                     "--lr", "1e-3", "--steps", "500", "--betas", "0.9,0.95")
    assert gen2["train"]["lr"] == 1e-3 and gen2["train"]["steps"] == 500 and gen2["train"]["betas"] == [0.9, 0.95]
    assert gen2["train"]["horizon_epochs"] == 250.0


def test_help_shows_the_reference_values(run_cli, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    code, out, _ = run_cli("train", "--help")
    assert code == 0
    text = " ".join(out.split())
    for needle in ("0.0003", "0.9,0.98", "120, the reference", "250", "0.005", "2.0", "0.05", "cosine"):
        assert needle in text, needle
    code, out, _ = run_cli("train-tokenizer", "--help")
    text = " ".join(out.split())
    for needle in ("0.9,0.99", "1000, the reference", "256", "0.5", "step"):
        assert needle in text, needle


def test_bad_recipe_options_are_one_line_errors(run_cli, tmp_path) -> None:
    for args, msg in ((["--betas", "0.9"], "--betas"), (["--warmup-start", "2"], "warmup_start"),
                      (["--epochs", "3", "--steps", "5"], "either --epochs or --steps")):
        code, _, err = run_cli("train", "--data", str(tmp_path), "--tokenizer", str(tmp_path), "--out", str(tmp_path / "g"),
                               *args, "--print-config")
        assert code != 0 and msg in err and "Traceback" not in err


def test_generator_reference_lr_curve() -> None:
    """Warm-up over 10 epochs from 0.005 lr, cosine towards 0.01 lr planned over 250 epochs, stop at 120."""
    cfg = reference_train_config("generator")
    per_epoch = 365  # HumanML3D at batch 64
    total = 120 * per_epoch
    warm = 10 * per_epoch

    def ref(step: int) -> float:  # the formula as the method spec states it
        if step < warm:
            return 0.005 + (1 - 0.005) * (step + 1) / warm
        t = (step - warm) / (250 * per_epoch - warm)
        return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t))

    for step in (0, 1, 100, warm - 1, warm, warm + 1, 60 * per_epoch, total - 1):
        assert lr_factor(cfg, step, total, per_epoch) == pytest.approx(ref(step), rel=1e-12)
    assert lr_factor(cfg, 0, total, per_epoch) == pytest.approx(0.005 + 0.995 / warm)
    assert lr_factor(cfg, total - 1, total, per_epoch) == pytest.approx(0.570, abs=0.002)  # ~0.57 x peak at epoch 120
    assert lr_factor(cfg, 250 * per_epoch, 250 * per_epoch, per_epoch) == pytest.approx(0.01)


def test_tokenizer_reference_lr_curve() -> None:
    cfg = reference_train_config("tokenizer")
    per_epoch = 92  # HumanML3D at batch 256
    total = 1000 * per_epoch
    assert cfg.warmup_steps(total, per_epoch) == 2000
    assert lr_factor(cfg, 0, total, per_epoch) == pytest.approx(1 / 2000)
    assert lr_factor(cfg, 1999, total, per_epoch) == pytest.approx(1.0)
    assert lr_factor(cfg, 300 * per_epoch - 1, total, per_epoch) == 1.0
    assert lr_factor(cfg, 300 * per_epoch, total, per_epoch) == pytest.approx(0.3)
    assert lr_factor(cfg, 700 * per_epoch, total, per_epoch) == pytest.approx(0.09)


def test_warmup_epochs_and_horizon_in_steps() -> None:
    cfg = TrainConfig(steps=100, warmup=-1, warmup_epochs=2, warmup_start=0.5, schedule="cosine", horizon_epochs=20)
    assert cfg.warmup_steps(100, 10) == 20 and cfg.horizon_steps(100, 10) == 200
    assert lr_factor(cfg, 0, 100, 10) == pytest.approx(0.5 + 0.5 / 20)
    assert lr_factor(cfg, 20 + 90, 100, 10) == pytest.approx(0.5 * (1 + math.cos(math.pi * 90 / 180)))
    # a horizon shorter than the run is the run
    assert TrainConfig(steps=100, horizon_epochs=1).horizon_steps(100, 10) == 100


def test_normalisation_statistics_default_to_the_evaluators_for_humanml3d(run_cli, tmp_path) -> None:
    import numpy as np

    from moscale_cli.motion.normalize import Normalizer

    hml, ours, ev = tmp_path / "HumanML3D", tmp_path / "ours", tmp_path / "t2m" / "Comp_v6_KLD005" / "meta"
    for d in (hml, ours, ev):
        d.mkdir(parents=True)
    (ours / "meta.json").write_text("{}")
    np.save(ev / "mean.npy", np.zeros(263, np.float32))
    np.save(ev / "std.npy", np.full(263, 2.0, np.float32))

    def stats(*args: str) -> str:
        return _resolved(run_cli, "train-tokenizer", "--out", str(tmp_path / "t"), *args)["stage"]["stats"]

    assert stats("--data", str(hml)) == "evaluator"  # external HumanML3D/KIT layout: the evaluator's rule
    assert stats("--data", str(ours)) == "dataset"  # a corpus moscale made: its own statistics
    assert stats("--data", str(hml), "--stats", "dataset") == "dataset"
    official = stats("--data", str(hml), "--evaluator-meta", str(tmp_path / "t2m"))
    assert official.startswith("official:")
    n = Normalizer.from_official_meta(official[len("official:") :])
    assert np.all(n.std == 2.0)
    code, _, err = run_cli("train-tokenizer", "--data", str(hml), "--out", str(tmp_path / "t"), "--stats", "bogus",
                           "--print-config")
    assert code != 0 and "--stats" in err
