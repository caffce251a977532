"""The stage contract of the Trainer (``TrainingStage``), the warm-up warning, and threads that follow the load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from moscale_cli.training.loop import TrainConfig, Trainer
from moscale_cli.training.stage import Batch, Logs, TrainingStage


class Points(torch.utils.data.Dataset):
    def __init__(self, n: int = 16) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 3, generator=g)
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5])

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.y[i]


def collate(items: list[tuple[torch.Tensor, torch.Tensor]]) -> Batch:
    return {"x": torch.stack([a for a, _ in items]), "y": torch.stack([b for _, b in items])}


class MinimalStage(TrainingStage):
    """Only what a stage must give: the defaults do the rest (all parameters, no validation, no export)."""

    name = "minimal"

    def __init__(self) -> None:
        torch.manual_seed(0)
        self.model = nn.Linear(3, 1)

    def config_dict(self) -> dict[str, object]:
        return {"stage": "minimal"}

    def train_data(self) -> tuple[Points, object]:
        return Points(), collate

    def training_step(self, model: nn.Module, batch: Batch, step: int) -> tuple[torch.Tensor, Logs]:
        loss = ((model(batch["x"]).squeeze(-1) - batch["y"]) ** 2).mean()
        return loss, {"mse": loss.detach()}


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(**{"steps": 6, "batch_size": 4, "lr": 1e-2, "warmup": 0, "device": "cpu", "seed": 0,
                          "save_every": 6, "log_every": 1, **kw})


def _records(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]


def test_every_stage_is_a_training_stage_and_the_contract_is_enforced():
    from moscale_cli.training.evaluator_stage import EvaluatorStage
    from moscale_cli.training.generator_stage import GeneratorStage
    from moscale_cli.training.length_stage import LengthStage
    from moscale_cli.training.tokenizer_stage import TokenizerStage

    assert all(issubclass(s, TrainingStage) for s in (TokenizerStage, GeneratorStage, LengthStage, EvaluatorStage))

    class NoStep(TrainingStage):
        name = "broken"

        def config_dict(self) -> dict[str, object]:
            return {}

        def train_data(self):
            return Points(), collate

    with pytest.raises(TypeError, match="training_step"):
        NoStep()


def test_minimal_stage_trains_with_the_defaults(tmp_path, quiet):
    stage = MinimalStage()
    before = stage.model.weight.detach().clone()
    res = Trainer(stage, _cfg(), tmp_path / "run").fit()
    assert res == {"step": 6, "best": None, "best_step": None}
    assert not torch.equal(stage.model.weight, before)  # the default param groups hold every parameter
    recs = _records(tmp_path / "run")
    assert [r["step"] for r in recs] == list(range(1, 7)) and all("mse" in r for r in recs)  # no validation record
    assert (tmp_path / "run" / "checkpoint-00000006" / "model.safetensors").is_file()
    assert not (tmp_path / "run" / "best").exists()


def test_warning_when_the_warmup_covers_the_whole_run(tmp_path, capsys):
    Trainer(MinimalStage(), _cfg(warmup=10, schedule="constant"), tmp_path / "long").fit()
    err = capsys.readouterr().err
    assert "minimal: the warm-up (10 steps) covers the whole run (6 steps)" in " ".join(err.split())
    assert "0.6 x its peak" in err and "--warmup" in err  # step 6 of 10 of the warm-up
    Trainer(MinimalStage(), _cfg(warmup=2), tmp_path / "short").fit()
    assert "warm-up" not in capsys.readouterr().err
    # a warm-up given in epochs counts too (4 batches per epoch here)
    Trainer(MinimalStage(), _cfg(warmup=-1, warmup_epochs=2.0), tmp_path / "epochs").fit()
    assert "the warm-up (8 steps)" in " ".join(capsys.readouterr().err.split())


def test_the_trainer_follows_the_load_and_logs_each_change(tmp_path, quiet, monkeypatch):
    """The Trainer asks its ThreadGovernor at every step; a change is logged (log.jsonl) and the thread count
    is restored when the run ends."""
    import moscale_cli.utils.device as device

    made: list[FakeGovernor] = []

    class FakeGovernor:
        def __init__(self, dev: torch.device, log=None, pinned=None, **kw) -> None:
            self.calls = 0
            self.changes: list[tuple[int, int, float]] = []  # nothing changed when it looked before the run
            made.append(self)

        def tick(self) -> int | None:
            self.calls += 1
            if self.calls == 3:  # the load changed after the third step
                torch.set_num_threads(3)
                return 3
            return None

    monkeypatch.setattr(device, "ThreadGovernor", FakeGovernor)
    torch.set_num_threads(1)
    Trainer(MinimalStage(), _cfg(), tmp_path / "run").fit()
    assert made and made[0].calls == 6
    assert [r for r in _records(tmp_path / "run") if "cpu_threads" in r] == [{"step": 3, "cpu_threads": 3}]
    assert torch.get_num_threads() == 1


def test_pinned_threads_in_the_config(tmp_path, quiet):
    torch.set_num_threads(1)
    seen = []

    class Watch(MinimalStage):
        def training_step(self, model, batch, step):
            seen.append(torch.get_num_threads())
            return super().training_step(model, batch, step)

    Trainer(Watch(), _cfg(threads=2), tmp_path / "run").fit()
    assert seen == [2] * 6 and torch.get_num_threads() == 1
    with pytest.raises(Exception, match="threads must be >= 0"):
        TrainConfig(steps=1, threads=-1)
