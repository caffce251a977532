"""Tokenizer fine-tune (--init-from) and the root / trajectory loss terms."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from moscale_cli.errors import CheckpointError
from moscale_cli.motion.features import recover_root_rot_pos
from moscale_cli.motion.normalize import Normalizer
from moscale_cli.training.loop import TrainConfig
from moscale_cli.training.tokenizer_stage import (
    TokenizerStage,
    TokenizerStageConfig,
    tokenizer_loss,
    train_tokenizer,
    trajectory,
)

MICRO = dict(width=32, code_dim=32, n_codes=64, depth=1, heads=2)


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(**{"steps": 3, "batch_size": 4, "lr": 1e-3, "warmup": 1, "save_every": 3, "val_every": 3,
                          "seed": 1, "device": "cpu", **kw})


def _train(data: Path, out: Path, stage: TokenizerStageConfig | None = None) -> dict:
    from moscale_cli.utils.console import STATE

    STATE.quiet = True
    return train_tokenizer([str(data)], str(out), "tiny", _cfg(), stage or TokenizerStageConfig(val_max_items=4), **MICRO)


def test_trajectory_is_the_integrated_facing_and_root_path() -> None:
    T = 50
    f = torch.zeros(2, T, 263)
    f[0, :, 0] = 0.01  # feature rvel: half the facing change per frame
    f[0, :, 2] = 0.05  # forward speed in the facing frame
    f[1, :, 1] = -0.02
    norm = Normalizer(np.zeros(263, np.float32), np.ones(263, np.float32))
    tr = trajectory(f, norm)
    assert torch.allclose(tr[0, :, 0], 0.02 * torch.arange(T, dtype=torch.float32), atol=1e-5)
    assert torch.all(tr[1, :, 0] == 0)
    _, pos = recover_root_rot_pos(f)
    assert torch.allclose(tr[..., 1], pos[..., 0]) and torch.allclose(tr[..., 2], pos[..., 2])
    assert torch.allclose(tr[1, :, 1], -0.02 * torch.arange(T, dtype=torch.float32), atol=1e-5)  # straight line
    # a circle: 50 frames of 0.0628 rad = 180 degrees of facing, back near the start across
    f[0, :, 0] = np.pi / T / 2
    assert float(torch.rad2deg(trajectory(f, norm)[0, -1, 0])) == pytest.approx(180 * (T - 1) / T, abs=1e-3)


def test_loss_terms_are_added_with_their_weights(window_dataset: Path) -> None:
    stage = TokenizerStage([str(window_dataset)], _tok_cfg(window_dataset), TokenizerStageConfig(), seed=0)
    train, collate = stage.train_data()
    batch = collate([train[i] for i in range(4)])
    torch.manual_seed(0)
    base, logs0 = tokenizer_loss(stage.model.eval(), batch, stage.ric, 0.5, 0.02)
    assert "root" not in logs0 and "traj" not in logs0
    both, logs = tokenizer_loss(stage.model.eval(), batch, stage.ric, 0.5, 0.02, 2.0, 3.0, stage.normalizer)
    expected = float(base.detach()) + 2.0 * float(logs["root"]) + 3.0 * float(logs["traj"])
    assert float(both.detach()) == pytest.approx(expected, rel=1e-5)
    assert float(logs["traj"]) > 0
    both.backward()  # differentiable through the trajectory integration
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in stage.model.parameters())


def _tok_cfg(data: Path):
    from moscale_cli.models.tokenizer import TokenizerConfig

    return TokenizerConfig.preset("tiny", feature_dim=263, **MICRO)


def test_init_from_copies_weights_config_and_statistics(window_dataset: Path, tmp_path: Path) -> None:
    _train(window_dataset, tmp_path / "a")
    stage = TokenizerStage([str(window_dataset)], _tok_cfg(window_dataset),
                           TokenizerStageConfig(init_from=str(tmp_path / "a")), seed=5)
    from safetensors.torch import load_file

    saved = load_file(str(tmp_path / "a" / "tokenizer.safetensors"))
    own = stage.model.state_dict()
    assert all(torch.equal(own[k], saved[k]) for k in saved)
    # the fine-tune trains with the loss terms, reports the trajectory metrics and keeps the statistics
    res = _train(window_dataset, tmp_path / "b", TokenizerStageConfig(val_max_items=4, init_from=str(tmp_path / "a"),
                                                                        lambda_root=1.0, lambda_traj=0.5,
                                                                        select="global_mpjpe"))
    recs = [json.loads(x) for x in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert any("traj" in r and "root" in r for r in recs)
    val = [r for r in recs if "val_global_mpjpe_mm" in r]
    assert val and res["best"] == pytest.approx(min(r["val_global_mpjpe_mm"] for r in val))
    assert all(r["val_global_mpjpe_mm"] > 0 and r["val_final_facing_deg"] >= 0 for r in val)
    for name in ("Mean.npy", "Std.npy"):
        assert np.array_equal(np.load(tmp_path / "a" / name), np.load(tmp_path / "b" / name))


def test_init_from_a_folder_without_a_tokenizer_is_one_line(window_dataset: Path, tmp_path: Path, run_cli) -> None:
    with pytest.raises(CheckpointError, match="no exported tokenizer"):
        _train(window_dataset, tmp_path / "b", TokenizerStageConfig(init_from=str(tmp_path)))
    code, _, err = run_cli("train-tokenizer", "--data", window_dataset, "--out", tmp_path / "c", "--steps", "2",
                           "--init-from", tmp_path, "--device", "cpu")
    assert code != 0 and "no exported tokenizer" in err and "Traceback" not in err
    code, _, err = run_cli("train-tokenizer", "--data", window_dataset, "--out", tmp_path / "c", "--steps", "2",
                           "--lambda-traj", "-1")
    assert code == 2 and "must be >= 0" in err
