"""Trainer pieces: lr schedule, deterministic sharded order, optimizer state flattening, CLI, plot, export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from moscale_cli.errors import ConfigError, UsageError
from moscale_cli.training.loop import TrainConfig, lr_factor
from moscale_cli.training.sampler import ShardedBatchOrder
from moscale_cli.training.state import flatten_optimizer, unflatten_optimizer


def test_lr_schedule_warmup_step_and_cosine() -> None:
    cfg = TrainConfig(steps=100, warmup=10, schedule="step", milestones=(50, 80), gamma=0.5)
    assert lr_factor(cfg, 0, 100) == pytest.approx(0.1)
    assert lr_factor(cfg, 9, 100) == pytest.approx(1.0)
    assert lr_factor(cfg, 49, 100) == 1.0 and lr_factor(cfg, 50, 100) == 0.5 and lr_factor(cfg, 80, 100) == 0.25
    frac = TrainConfig(steps=100, warmup=0, schedule="step", gamma=0.3)  # default milestones 30% / 70%
    assert lr_factor(frac, 29, 100) == 1.0 and lr_factor(frac, 30, 100) == pytest.approx(0.3)
    cos = TrainConfig(steps=100, warmup=0, schedule="cosine")
    assert lr_factor(cos, 0, 100) == 1.0 and lr_factor(cos, 50, 100) == pytest.approx(0.5) and lr_factor(cos, 100, 100) == pytest.approx(0.0)
    auto = TrainConfig(steps=50)  # warmup -1 -> min(2000, total // 10)
    assert lr_factor(auto, 0, 50) == pytest.approx(0.2)
    with pytest.raises(ConfigError):
        TrainConfig(schedule="linear")


def test_sharded_order_is_a_function_of_seed_and_epoch_and_shards_cover_the_global_batch() -> None:
    one = ShardedBatchOrder(50, 8, seed=5)
    assert len(one) == 6
    assert one.batches(3) == ShardedBatchOrder(50, 8, seed=5).batches(3)
    assert one.batches(3) != one.batches(4)
    assert one.batches(3, start=2) == one.batches(3)[2:]
    shards = [ShardedBatchOrder(50, 8, seed=5, rank=r, world_size=4) for r in range(4)]
    for b in range(len(one)):
        assert sum((s.batches(1)[b] for s in shards), []) == one.batches(1)[b]
    with pytest.raises(UsageError):
        ShardedBatchOrder(50, 6, seed=0, world_size=4)
    with pytest.raises(UsageError, match="larger than the training set"):
        ShardedBatchOrder(5, 8, seed=0)


def test_optimizer_state_round_trip_through_safetensors_continues_identically(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2, betas=(0.9, 0.99))
    x, y = torch.randn(16, 4), torch.randn(16, 1)

    def step(n: torch.nn.Module, o: torch.optim.Optimizer) -> None:
        o.zero_grad()
        ((n(x) - y) ** 2).mean().backward()
        o.step()

    for _ in range(3):
        step(net, opt)
    tensors, meta = flatten_optimizer(opt.state_dict())
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp_path / "o.safetensors"))
    meta = json.loads(json.dumps(meta))
    net2 = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    net2.load_state_dict(net.state_dict())
    opt2 = torch.optim.AdamW(net2.parameters(), lr=1e-2, betas=(0.9, 0.99))
    opt2.load_state_dict(unflatten_optimizer(load_file(str(tmp_path / "o.safetensors")), meta))
    assert opt2.param_groups[0]["betas"] == (0.9, 0.99)
    for _ in range(3):
        step(net, opt)
        step(net2, opt2)
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), net2.parameters(), strict=True))


@pytest.mark.slow
def test_cli_train_tokenizer_plot_and_load_exported_run(window_dataset: Path, tmp_path: Path) -> None:
    from moscale_cli.cli.app import app
    from moscale_cli.model_dir import load_tokenizer_run

    run = tmp_path / "run"
    runner = CliRunner()
    res = runner.invoke(app, ["--quiet", "train-tokenizer", "--data", str(window_dataset), "--out", str(run), "--preset", "tiny",
                              "--steps", "3", "--batch-size", "4", "--device", "cpu", "--val-every", "3", "--seed", "2"])
    assert res.exit_code == 0, res.output
    for f in ("config.json", "log.jsonl", "tokenizer.safetensors", "tokenizer_config.json", "Mean.npy", "Std.npy"):
        assert (run / f).is_file(), f
    assert (run / "best" / "model.safetensors").is_file() and (run / "checkpoint-00000003").is_dir()
    recs = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    val = [r for r in recs if "val_mpjpe_mm" in r]
    assert len(val) == 1 and val[0]["val_mpjpe_mm"] > 0 and "val_perplexity_s3" in val[0]
    assert [r["step"] for r in recs if "loss" in r] == [1, 2, 3]
    # the exported tokenizer reproduces the best checkpoint's metric
    tok, norm = load_tokenizer_run(run)
    assert not tok.training and norm.dim == 263 and tok.cfg.width == 64
    best = load_file(str(run / "best" / "model.safetensors"))
    assert all(torch.equal(best[k], v) for k, v in tok.state_dict().items())
    png = tmp_path / "curves.png"
    res = runner.invoke(app, ["plot", str(run), "-o", str(png)])
    assert res.exit_code == 0, res.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = runner.invoke(app, ["train-tokenizer", "--data", str(window_dataset), "--out", str(run), "--preset", "tiny", "--steps", "3"])
    assert res.exit_code != 0 and "--resume" in str(res.exception)
