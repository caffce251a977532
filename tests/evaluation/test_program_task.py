"""`moscale eval --task program` and the eval defaults on a freshly synthesised corpus: one command, a table
that fits 80 columns, hard-negative R-precision rows, the evaluator a model directory names."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .helpers import build_model_with_evaluator, build_small_corpus, build_tiny_model_dir

FAST = ["--refine-steps", "1,1,1,1", "--device", "cpu"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return build_small_corpus(tmp_path_factory.mktemp("synth"), clips=48, seed=5)


@pytest.fixture(scope="module")
def model_with_evaluator(corpus, tmp_path_factory) -> Path:
    return build_model_with_evaluator(tmp_path_factory.mktemp("models"), corpus, metrics={"program_all_correct": 0.5})


def _lines_fit(text: str, width: int = 80) -> None:
    assert all(len(line) <= width for line in text.splitlines()), max(text.splitlines(), key=len)


def test_program_task_scores_real_and_generated_motion(corpus, model_with_evaluator, run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    report = tmp_path / "program.json"
    code, out, err = run_cli("eval", "--data", corpus, "--model", model_with_evaluator, "--task", "program", "--split",
                             "train", "--max-clips", 6, "--captions", "first", "--out", report, *FAST)
    assert code == 0, err
    assert "attribute" in out and "real motion" in out and "all attributes right" in out
    _lines_fit(out)
    res = json.loads(report.read_text())
    real, model = res["results"]["real"], res["results"]["model"]
    assert real["clips"] == 6 and model["clips"] == 6 and len(res["generations"]) == 6
    # the self-check: the detectors pass the corpus's own motion
    assert real["overall_clips_all_correct"]["acc"] >= 0.95
    assert all(r["acc"] >= 0.95 for r in real["per_attribute"].values() if r["n"])
    assert set(model["per_attribute"]) <= set(real["per_attribute"]) | {"arms_in_phase"}
    # a random model does not pass everything: the task can fail
    assert model["overall_clips_all_correct"]["acc"] < 1.0
    assert res["config"]["task"] == "program" and res["config"]["sampling"]["refine_steps"] == [1, 1, 1, 1]


def test_program_task_at_random_and_fixed_lengths(corpus, model_with_evaluator, run_cli, tmp_path, monkeypatch):
    from moscale_cli.evaluation.program.corpus import load_labels
    from moscale_cli.evaluation.program.task import program_min_frames

    monkeypatch.setenv("COLUMNS", "80")
    labels = load_labels(corpus)
    for lengths in ("random", "2"):
        report = tmp_path / f"program_{lengths}.json"
        code, out, err = run_cli("eval", "--data", corpus, "--model", model_with_evaluator, "--task", "program",
                                 "--split", "train", "--max-clips", 4, "--captions", "first", "--lengths", lengths,
                                 "--out", report, *FAST)
        assert code == 0, err
        _lines_fit(out)
        res = json.loads(report.read_text())
        assert res["config"]["lengths"] == lengths and res["lengths"]["mode"] == lengths
        for g in res["generations"]:
            assert g["frames"] >= program_min_frames(labels[g["clip"]]) and g["frames"] % 4 == 0
        if lengths == "2":
            raised = [g for g in res["generations"] if g["frames"] > 40]
            assert res["lengths"]["clips_raised_to_minimum"] == len(raised)
            assert not raised or "minimum" in err + out
    code, _, err = run_cli("eval", "--data", corpus, "--model", model_with_evaluator, "--task", "program", "--lengths",
                           "soon", *FAST)
    assert code == 2 and "--lengths" in err and "Traceback" not in err
    report = tmp_path / "heldout.json"
    code, _, err = run_cli("eval", "--data", corpus, "--model", model_with_evaluator, "--task", "program", "--captions",
                           "heldout", "--split", "train", "--max-clips", 2, "--out", report, *FAST)
    assert code == 0, err
    gens = json.loads(report.read_text())["generations"]
    assert {g["caption"] for g in gens} == {c for g in gens for c in labels[g["clip"]]["heldout_captions"]}


def test_program_task_needs_labels(model_with_evaluator, run_cli, tmp_path):
    from .helpers import write_corpus

    plain = write_corpus(tmp_path / "plain", per_class=2)
    code, _, err = run_cli("eval", "--data", plain, "--model", model_with_evaluator, "--task", "program", *FAST)
    assert code != 0 and "labels.jsonl" in err and "Traceback" not in err


@pytest.mark.slow
def test_t2m_uses_the_named_evaluator_prints_without_out_and_adds_hard_negatives(corpus, model_with_evaluator, run_cli,
                                                                                  monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = run_cli("eval", "--data", corpus, "--model", model_with_evaluator, "--split", "train",
                             "--batch-size", 8, "--replications", 1, "--mm-texts", 0, *FAST)
    assert code == 0, err
    for row in ("R@1 ↑", "R@3 hard negatives ↑", "FID ↓", "MM-Dist ↓", "Diversity →"):
        assert row in out, row
    _lines_fit(out)


def test_a_model_without_an_evaluator_asks_for_one(corpus, tmp_path, run_cli):
    model = build_tiny_model_dir(tmp_path / "bare", corpus)
    code, _, err = run_cli("eval", "--data", corpus, "--model", model, "--split", "train", *FAST)
    assert code != 0 and "--evaluator" in err


def test_update_model_dir_names_the_evaluator_and_merges_metrics(model_with_evaluator, tmp_path, run_cli):
    from moscale_cli.model_dir import load_model_dir, read_model_config

    cfg = read_model_config(model_with_evaluator)
    assert cfg["evaluator"] == "evaluator" and cfg["metrics"]["program_all_correct"] == 0.5
    assert (model_with_evaluator / "evaluator" / "evaluator.safetensors").is_file()
    assert "evaluator" in (model_with_evaluator / "README.md").read_text()
    load_model_dir(model_with_evaluator)  # still a valid model directory
    code, out, _ = run_cli("info", model_with_evaluator)
    assert code == 0 and "program_all_correct" in out and "used by moscale eval" in out
    broken = tmp_path / "broken"
    shutil.copytree(model_with_evaluator, broken)
    from moscale_cli.errors import CheckpointError
    from moscale_cli.model_dir import update_model_dir

    with pytest.raises(CheckpointError, match="not an exported evaluator run"):
        update_model_dir(broken, evaluator_run=tmp_path)
    update_model_dir(broken, name="moscale-default-tiny")
    assert read_model_config(broken)["name"] == "moscale-default-tiny"
    code, out, _ = run_cli("info", broken)
    assert code == 0 and "moscale-default-tiny" in out
    with pytest.raises(CheckpointError, match="must not be empty"):
        update_model_dir(broken, name=" ")


@pytest.mark.slow
def test_the_shipped_default_model_evaluates_out_of_the_box(corpus, run_cli, tmp_path):
    """No --model, no --evaluator: the default model, the evaluator its directory ships, its recommended cfg."""
    from moscale_cli.model_dir import default_model_dir, read_model_config

    cfg = read_model_config(default_model_dir())
    assert cfg.get("evaluator") and (default_model_dir() / cfg["evaluator"] / "evaluator.safetensors").is_file()
    rec = (cfg.get("sampling") or {}).get("cfg", 5.0)
    for task, extra in (("program", ["--max-clips", 4, "--captions", "first"]),
                        ("t2m", ["--batch-size", 8, "--replications", 1, "--mm-texts", 0])):
        report = tmp_path / f"{task}.json"
        code, out, err = run_cli("eval", "--data", corpus, "--task", task, "--split", "train", *extra, "--out", report,
                                 *FAST)
        assert code == 0, err
        res = json.loads(report.read_text())
        assert res["config"]["sampling"]["cfg"] == rec
        assert Path(res["model"]["path"]).resolve() == default_model_dir().resolve()


def test_tokens_row_scores_the_tokenizers_reconstructions(corpus, model_with_evaluator, run_cli, tmp_path, monkeypatch):
    import numpy as np
    import torch

    from moscale_cli.evaluation.program.task import reconstruct_joints
    from moscale_cli.evaluation.tasks import load_model_handle

    monkeypatch.setenv("COLUMNS", "80")
    report = tmp_path / "tokens.json"
    code, out, err = run_cli("eval", "--data", corpus, "--model", model_with_evaluator, "--task", "program", "--split",
                             "train", "--max-clips", 5, "--captions", "first", "--tokens", "--out", report, *FAST)
    assert code == 0, err
    assert "tokens" in out and "real" in out
    _lines_fit(out)
    res = json.loads(report.read_text())["results"]
    assert res["tokens"]["clips"] == res["real"]["clips"] == 5
    # the reconstructions: whole tokenizer units of each clip, the same joints whatever the batch
    handle = load_model_handle(model_with_evaluator, torch.device("cpu"), need_generator=False)
    ids = sorted(p.stem for p in (corpus / "new_joint_vecs").glob("*.npy"))[:3]
    one = reconstruct_joints(handle, corpus, ids, batch_size=1)
    three = reconstruct_joints(handle, corpus, ids, batch_size=3)
    unit, top = int(handle.tokenizer.unit), int(handle.tokenizer.max_frames)
    for cid, a, b in zip(ids, one, three, strict=True):
        n = len(np.load(corpus / "new_joint_vecs" / f"{cid}.npy"))
        assert a.shape == (min(n, top) // unit * unit, 22, 3)
        np.testing.assert_allclose(a, b, atol=1e-5)
    code, _, err = run_cli("eval", "--data", corpus, "--model", model_with_evaluator, "--task", "t2m", "--tokens")
    assert code == 2 and "--tokens goes with --task program" in err
