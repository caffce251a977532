"""`moscale eval --task control` on a freshly synthesised corpus and a tiny model, and its parts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from moscale_cli.errors import UsageError
from moscale_cli.evaluation.control import (
    ControlEvalConfig,
    control_metrics,
    density_frames,
    load_clips,
    markdown_table,
    targets_for,
)
from moscale_cli.motion.skeleton import SMPL22_NAMES

from .helpers import build_model_with_evaluator, build_small_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return build_small_corpus(tmp_path_factory.mktemp("synth-control"), clips=40, seed=9)


@pytest.fixture(scope="module")
def model(corpus, tmp_path_factory) -> Path:
    return build_model_with_evaluator(tmp_path_factory.mktemp("control-models"), corpus)


def test_densities_rows_and_metrics():
    assert [density_frames(d, 120) for d in ("1", "5", "25%", "100%", "500")] == [1, 5, 30, 120, 120]
    assert density_frames("1%", 40) == 1
    for bad in ("0", "x", "0%", "150%", "-2"):
        with pytest.raises(UsageError, match="--control-density"):
            density_frames(bad, 100)
    with pytest.raises(UsageError, match="unknown joint 'hand'"):
        ControlEvalConfig(joints=("hand",))
    rows = ControlEvalConfig(joints=("pelvis", "random"), densities=("1", "100%")).rows()
    assert rows == [None, ("pelvis", "1"), ("pelvis", "100%"), ("random", "1"), ("random", "100%")]
    m = control_metrics([np.array([0.1, 0.7]), np.array([0.2, 0.2, 0.2])])
    assert m == pytest.approx({"avg_err": 0.28, "traj_err": 0.5, "loc_err": 0.2})


def test_targets_come_from_the_real_clip(corpus):
    clips = load_clips(corpus, "test", 4, 196, max_clips=3)
    assert all(len(c.feats) % 4 == 0 and c.caption for c in clips)
    for row in (("right_wrist", "5"), ("pelvis", "100%"), ("random", "25%")):
        ts = targets_for(clips, row, seed=1)
        assert ts == [] or len(ts) == 3
        for c, t in zip(clips, ts, strict=True):
            frames, joints = np.nonzero(np.isfinite(t).any(-1))
            assert len(set(joints.tolist())) == 1
            assert len(frames) == density_frames(row[1], len(c.joints))
            if row[0] != "random":
                assert joints[0] == SMPL22_NAMES.index(row[0])
            np.testing.assert_array_equal(t[frames, joints], c.joints[frames, joints])
    a, b = targets_for(clips, ("random", "5"), 1), targets_for(clips, ("random", "5"), 1)
    assert all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b, strict=True))


@pytest.mark.slow
def test_control_task_end_to_end(corpus, model, run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    report = tmp_path / "control.json"
    code, out, err = run_cli("eval", "--data", corpus, "--model", model, "--task", "control", "--max-clips", 4,
                             "--control-joints", "pelvis,right_wrist", "--control-density", "2,100%", "--batch-size", 4,
                             "--refine-steps", "1,1,1,1", "--device", "cpu", "--out", report)
    assert code == 0, err
    assert all(len(line) <= 80 for line in out.splitlines())
    for name in ("real motion", "unconstrained", "pelvis 2", "pelvis 100%", "right_wrist 2", "right_wrist 100%"):
        assert name in out
    rep = json.loads(report.read_text())
    rows = {r["control"]: r for r in rep["results"]["rows"]}
    assert list(rows) == ["unconstrained", "pelvis 2", "pelvis 100%", "right_wrist 2", "right_wrist 100%"]
    assert "avg_err" not in rows["unconstrained"]
    for name in ("pelvis 2", "pelvis 100%"):  # the root correction puts the pelvis on its targets
        assert rows[name]["avg_err"] < 1e-3 and rows[name]["traj_err"] == 0.0 and rows[name]["loc_err"] == 0.0
    for r in rows.values():
        assert r["fid"] >= 0 and 0 <= r["foot_skate"] <= 1 and 0 <= r["foot_skate_post"] <= 1 and 0 <= r["program"] <= 1
    for name in ("right_wrist 2", "right_wrist 100%"):  # the post-process pins the constrained joints on their targets
        assert rows[name]["avg_err"] > rows[name]["avg_err_post"] and rows[name]["avg_err_post"] < 1e-6
    assert rep["results"]["real"]["program"] >= 0.95  # the detectors' self-check on the corpus's own motion
    assert rep["config"]["task"] == "control" and rep["dataset"]["eval_items"] == 4
    md = markdown_table(rep["results"])
    assert md.splitlines()[0].startswith("| control | err m |") and len(md.splitlines()) == 2 + 1 + len(rows)
