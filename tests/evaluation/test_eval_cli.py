"""`moscale eval` end to end on tiny models for every task, and its input errors."""

from __future__ import annotations

import json
import math

import pytest

from .conftest import write_official_dir
from .helpers import build_our_evaluator_run, build_tiny_model_dir, write_corpus

COMMON = ["--mm-texts", "4", "--mm-samples", "10", "--batch-size", "8", "--refine-steps", "1,1,1,2", "--device", "cpu"]
REPS = {"t2m": 2}  # replications per task (1 elsewhere, to keep the test short)
MM = {"t2m": 4, "inbetween": 4}  # MultiModality texts per task (0 elsewhere)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    import torch

    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("eval")
    data = write_corpus(root / "data", per_class=2, eval_one_per_class=False)  # 16 test items -> 2 batches of 8
    model = build_tiny_model_dir(root / "model", data)
    ev = build_our_evaluator_run(root / "ev", data)
    return root, data, model, ev


def _finite(summary: dict) -> bool:
    return all(math.isfinite(v["mean"]) and math.isfinite(v["conf95"]) for v in summary.values())


@pytest.mark.slow
@pytest.mark.parametrize("task", ["t2m", "reconstruction", "inbetween", "outpaint", "prefix", "suffix"])
def test_eval_runs_every_task_and_writes_the_report(setup, run_cli, task):
    root, data, model, ev = setup
    out = root / f"report-{task}.json"
    n_rep, n_mm = REPS.get(task, 1), MM.get(task, 0)
    code, o, e = run_cli("eval", "--model", model, "--data", data, "--evaluator", ev, "--task", task, "--out", out, *COMMON,
                         "--replications", n_rep, "--mm-texts", n_mm)
    assert code == 0, e
    rep = json.loads(out.read_text())
    assert rep["config"]["task"] == task and rep["config"]["replications"] == n_rep and rep["seeds"] == list(range(n_rep))
    assert rep["dataset"]["ids"] == 16 and rep["dataset"]["files"] == 1 + 2 * 16 and len(rep["dataset"]["sha256"]) == 64
    assert rep["dataset"]["eval_items"] == 16 and rep["moscale_version"]
    real, mod = rep["results"]["real"], rep["results"]["model"]
    assert {"top1", "top2", "top3", "fid", "mm_dist", "diversity"} <= set(real) and _finite(real) and _finite(mod)
    physics = {"foot_skate", "floating", "penetration_mm", "jerk", "bone_cv", "bone_cv_max"}  # SMPL-22 data
    assert physics <= set(real) and physics <= set(mod)
    assert all(len(v["values"]) == n_rep for v in mod.values())
    for row in (real, mod):
        assert 0 <= row["top1"]["mean"] <= row["top2"]["mean"] <= row["top3"]["mean"] <= 1
        assert row["fid"]["mean"] > -1e-6 and row["diversity"]["mean"] > 0
    assert "multimodality" not in real
    if task == "reconstruction":
        assert "mpjpe_mm" in mod and mod["mpjpe_mm"]["mean"] > 0 and "multimodality" not in mod
        assert rep["config"]["sampling"] is None
    else:
        assert "mpjpe_mm" not in mod and (mod["multimodality"]["mean"] > 0 if n_mm else "multimodality" not in mod)
        assert rep["config"]["sampling"]["refine_steps"] == [1, 1, 1, 2]
    # the table: real-motion row before the model row
    assert o.index("real motion") < o.index("model")


@pytest.mark.slow
def test_reconstruction_is_deterministic_and_seeded(setup, run_cli):
    root, data, model, ev = setup
    a, b, c = root / "a.json", root / "b.json", root / "c.json"
    args = ["eval", "--model", model, "--data", data, "--evaluator", ev, "--task", "reconstruction", "--replications", "1",
            "--batch-size", "8", "--device", "cpu"]
    assert run_cli(*args, "--out", a)[0] == 0
    assert run_cli(*args, "--out", b)[0] == 0
    assert run_cli(*args, "--out", c, "--seed", "5")[0] == 0
    ra, rb, rc = (json.loads(p.read_text())["results"] for p in (a, b, c))
    assert ra == rb
    assert ra["model"]["fid"]["values"] != rc["model"]["fid"]["values"]


def test_mismatched_feature_dims_are_refused(setup, run_cli, tmp_path):
    root, data, model, _ = setup
    ev251 = build_our_evaluator_run(tmp_path / "ev251", data, feature_dim=251)
    out = tmp_path / "r.json"
    code, _, e = run_cli("eval", "--model", model, "--data", data, "--evaluator", ev251, "--out", out, *COMMON)
    assert code == 2 and "263-dim" in e and "251" in e and not out.exists()


def test_missing_split_is_a_clear_error(setup, run_cli, tmp_path):
    root, data, model, ev = setup
    out = tmp_path / "r.json"
    code, _, e = run_cli("eval", "--model", model, "--data", data, "--evaluator", ev, "--split", "all", "--out", out, *COMMON)
    assert code == 1 and "all.txt is missing" in e and not out.exists()


def test_official_dir_without_meta_is_a_clear_error(setup, run_cli, tmp_path):
    root, data, model, _ = setup
    d = write_official_dir(tmp_path / "off", meta=False)
    out = tmp_path / "r.json"
    code, _, e = run_cli("eval", "--model", model, "--data", data, "--evaluator", f"official:{d}", "--out", out, *COMMON)
    assert code == 1 and "no meta statistics" in e and not out.exists()


def test_unknown_task_and_tokenizer_only_model(setup, run_cli, tmp_path):
    root, data, model, ev = setup
    out = tmp_path / "r.json"
    code, _, e = run_cli("eval", "--model", model, "--data", data, "--evaluator", ev, "--task", "dance", "--out", out)
    assert code != 0 and "unknown task" in e
    code, _, e = run_cli("eval", "--model", tmp_path, "--data", data, "--evaluator", ev, "--out", out)
    assert code == 1 and "config.json" in e


@pytest.mark.slow
def test_reconstruction_accepts_an_exported_tokenizer_run(setup, run_cli, tmp_path):
    from moscale_cli.checkpoint import save_json, save_module
    from moscale_cli.model_dir import TOKENIZER_CONFIG, TOKENIZER_WEIGHTS, load_model_dir

    root, data, model, ev = setup
    lm = load_model_dir(model)
    run = tmp_path / "tok"
    run.mkdir()
    save_module(run / TOKENIZER_WEIGHTS, lm.tokenizer)
    save_json(run / TOKENIZER_CONFIG, lm.tokenizer.cfg.to_dict())
    lm.normalizer.save(run)
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    common = ["--data", data, "--evaluator", ev, "--task", "reconstruction", "--replications", "1", "--batch-size", "8",
              "--device", "cpu"]
    assert run_cli("eval", "--model", run, *common, "--out", a)[0] == 0
    assert run_cli("eval", "--model", model, *common, "--out", b)[0] == 0
    ra, rb = (json.loads(p.read_text()) for p in (a, b))
    assert ra["model"]["kind"] == "tokenizer" and rb["model"]["kind"] == "model"
    assert ra["results"]["model"]["fid"]["values"] == pytest.approx(rb["results"]["model"]["fid"]["values"], rel=1e-5)
    # a tokenizer alone cannot generate
    code, _, e = run_cli("eval", "--model", run, *common[:-8], "--task", "t2m", "--out", a)
    assert code == 2 and "only a tokenizer" in e
