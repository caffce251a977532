"""Evaluating small corpora: a split smaller than one batch, one replication, and MultiModality generating only the
samples its pairs read."""

from __future__ import annotations

import json

import numpy as np
import pytest

from moscale_cli.errors import UsageError
from moscale_cli.evaluation import metrics as M
from moscale_cli.evaluation.protocol import EvalConfig, fit_batch_size, mm_samples_used
from moscale_cli.evaluation.report import format_cell

from .helpers import build_our_evaluator_run, build_tiny_model_dir, write_corpus


def _split(root, name: str, n: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{name}.txt").write_text("".join(f"c{i}\n" for i in range(n)))


def test_a_split_smaller_than_one_batch_is_measured_in_one_batch_with_a_warning(tmp_path, capsys):
    _split(tmp_path, "all", 90)
    cfg = EvalConfig(batch_size=32, split="test")
    assert fit_batch_size(cfg, 40, tmp_path) is cfg  # one batch fits: unchanged
    small = fit_batch_size(cfg, 17, tmp_path)
    assert small.batch_size == 17 and small.split == "test" and small.mm_texts == cfg.mm_texts
    err = " ".join(capsys.readouterr().err.split())
    assert "split test has 17 evaluation items, fewer than one batch of 32" in err
    assert "one batch of 17" in err and "--split all has 90 clips" in err
    with pytest.raises(UsageError, match=r"split test has 3 evaluation items, too few .*--split all has 90 clips"):
        fit_batch_size(cfg, 3, tmp_path)
    with pytest.raises(UsageError, match=r"too few for R-precision \(at least 4, batches of 32 in the protocol\)$"):
        fit_batch_size(EvalConfig(split="all"), 3, tmp_path)  # already every clip: no hint


def test_r_precision_of_a_batch_smaller_than_top_k():
    # a validation split of 2 items used to fail: "operands could not be broadcast together with shapes (3,) (2,)"
    text = np.array([[0.0, 0.0], [1.0, 0.0]])
    motion = np.array([[0.9, 0.0], [0.1, 0.0]])  # each text is nearer the other's motion
    assert M.r_precision_hits(text, motion, 3).tolist() == [0, 2, 2]
    acc = M.MatchingAccumulator()
    acc.add(text, motion)
    acc.add(text[:1], motion[:1])
    assert acc.r_precision().tolist() == [1 / 3, 1.0, 1.0]


def test_one_replication_prints_no_interval():
    assert format_cell({"mean": 0.8125, "conf95": 0.0, "values": [0.8125]}) == "0.812"
    assert format_cell({"mean": 0.8, "conf95": 0.01, "values": [0.79, 0.81]}) == "0.800 ± 0.010"
    assert format_cell(None) == "-"


def test_multimodality_sets_name_only_the_generated_samples():
    cfg = EvalConfig(mm_samples=30, mm_pairs=10)
    sizes = []
    for seed in range(200):
        first, second, used = mm_samples_used(cfg, seed)
        assert list(used) == sorted(set(used)) and used.min() >= 0 and used.max() < 30
        assert len(first) == len(second) == 10 and len(set(first)) == len(set(second)) == 10
        assert set(used) == set(used[first]) | set(used[second])  # every generated sample is read
        sizes.append(len(used))
    assert 10 <= min(sizes) and max(sizes) <= 20
    assert 16.0 < np.mean(sizes) < 17.4  # 10 + 10 * 20/30 = 16.7 expected: 44% fewer generations than 30
    a, b = mm_samples_used(cfg, 5), mm_samples_used(cfg, 5)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))  # seeded

    # the statistic on the generated samples equals the protocol's on all 30 with the same sets
    rng = np.random.default_rng(0)
    full = rng.normal(size=(6, 30, 8))
    first, second, used = mm_samples_used(cfg, 3)
    assert M.multimodality_at(full[:, used], first, second) == pytest.approx(
        M.multimodality_at(full, used[first], used[second]), rel=1e-12)
    # and the protocol's own draw is the same function of its sets
    r1, r2 = np.random.default_rng(9), np.random.default_rng(9)
    assert M.multimodality(full, 10, r1) == M.multimodality_at(full, *M.multimodality_index_sets(30, 10, r2))


@pytest.mark.slow
def test_eval_of_a_small_split_with_one_replication(tmp_path, capsys, monkeypatch):
    from moscale_cli.cli.app import main
    from moscale_cli.evaluation.tasks import TaskRunner

    data = write_corpus(tmp_path / "data", per_class=2, eval_one_per_class=False)  # 16 test items
    model = build_tiny_model_dir(tmp_path / "model", data)
    ev = build_our_evaluator_run(tmp_path / "ev", data)
    rows: list[int] = []
    run = TaskRunner.run

    def counting(self, batch, seed):
        rows.append(len(batch["lengths"]))
        return run(self, batch, seed)

    monkeypatch.setattr(TaskRunner, "run", counting)
    out = tmp_path / "r.json"
    capsys.readouterr()
    with pytest.raises(SystemExit) as ex:  # the default batch of 32 does not fit 16 items
        main(["eval", "--model", str(model), "--data", str(data), "--evaluator", str(ev), "--replications", "1",
              "--mm-texts", "2", "--mm-samples", "30", "--refine-steps", "1,1,1,1", "--device", "cpu",
              "--out", str(out)])
        raise SystemExit(0)
    o, e = capsys.readouterr()
    assert ex.value.code == 0, e
    assert "fewer than one batch of 32" in " ".join(e.split())
    rep = json.loads(out.read_text())
    assert rep["config"]["batch_size"] == 16 and rep["config"]["requested_batch_size"] == 32
    assert rep["dataset"]["eval_items"] == 16
    assert "1 replication (no intervals)" in " ".join(o.split()) and "±" not in o
    assert rep["results"]["model"]["multimodality"]["mean"] > 0
    _, _, used = mm_samples_used(EvalConfig(mm_samples=30), 0)
    assert rows == [16, 2 * len(used)]  # pass A, then MultiModality: only the samples its pairs read
