"""Spatial constraints through MoScalePipeline and the CLI: every task reaches pelvis targets in the output's
frame (exactly: the root correction), keeps what it must keep, and refuses what cannot be met. A tiny random
model (exactness, not quality); the default model's behaviour is in ``test_control_default.py``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from moscale_cli.errors import UsageError
from moscale_cli.pipeline.constraints import Constraints
from moscale_cli.sampling.config import SamplingConfig
from moscale_cli.sampling.control import ControlConfig

FAST = SamplingConfig(refine_steps=(1, 1, 1, 2))
CTRL = ControlConfig(steps=1, refine_steps=4)


@pytest.fixture(scope="module")
def pipe(tiny_pipeline):
    torch.set_num_threads(min(2, torch.get_num_threads()))
    return tiny_pipeline


def pelvis_err(joints: np.ndarray, frame: int, x: float, z: float) -> float:
    return float(np.hypot(joints[frame, 0, 0] - x, joints[frame, 0, 2] - z))


def test_generate_meets_a_path_and_waypoints(pipe):
    c = Constraints.from_path("0,0 0.5,1 1,1.5") + Constraints.from_waypoint("30:0.2,0.4")
    m = pipe.generate("a person walks", frames=80, constraints=c, control=CTRL, sampling=FAST, seed=3)[0]
    u = pipe.generate("a person walks", frames=80, sampling=FAST, seed=3)[0]
    for f, x, z in [(40, 0.5, 1.0), (79, 1.0, 1.5), (30, 0.2, 0.4)]:
        assert pelvis_err(m.joints, f, x, z) < 1e-4
        assert pelvis_err(u.joints, f, x, z) > 0.05  # without constraints the motion goes elsewhere
    assert m.targets.shape == (80, 22, 3) and np.isfinite(m.targets).sum() == 8
    assert m.target_errors().max() < 1e-4
    np.testing.assert_allclose(m.joints, __import__("moscale_cli.motion.features", fromlist=["x"]).recover_from_ric(
        m.features, 22), atol=1e-5)  # the features hold the corrected motion


@pytest.mark.slow  # spatial control runs (1.5 s each)
def test_several_samples_and_prompts_each_meet_the_targets(pipe):
    c = Constraints.from_waypoint("50:0.6,0.8")
    ms = pipe.generate(["walk", "run"], frames=[60, 72], num_samples=2, constraints=c, control=CTRL, sampling=FAST,
                       seed=1, batch_size=3)
    assert len(ms) == 4
    assert all(pelvis_err(m.joints, 50, 0.6, 0.8) < 1e-4 for m in ms)


def test_a_length_left_to_the_estimator_grows_to_the_last_target(pipe):
    c = Constraints.from_waypoint("150:0,1")
    m = pipe.generate("a person walks", constraints=c, control=CTRL, sampling=FAST, seed=2)[0]
    assert m.frames >= 152 and m.frames % 4 == 0
    with pytest.raises(UsageError, match="frame 150 is outside the motion"):
        pipe.generate("a person walks", frames=100, constraints=c, control=CTRL, sampling=FAST)
    with pytest.raises(UsageError, match="past the longest motion"):
        pipe.generate("a person walks", constraints=Constraints.from_waypoint("300:0,1"), sampling=FAST)
    with pytest.raises(UsageError, match="frame 0 is asked to be at x = 1"):
        pipe.generate("a person walks", frames=60, constraints=Constraints.from_path("1,0 2,2"), sampling=FAST)


def test_edit_of_features_keeps_the_kept_frames_and_meets_the_targets(pipe):
    src = pipe.generate("a person walks in a circle", frames=120, seed=7, sampling=FAST)[0]
    c = Constraints.from_json([{"joint": "pelvis", "frames": [70], "positions": [[0.7, None, 0.9]]},
                               {"joint": "left_wrist", "frames": [60], "positions": [[0.4, 1.2, 0.5]]}])
    m = pipe.edit(src.features, "a person jumps", regions=[(40, 100)], constraints=c, control=CTRL, sampling=FAST, seed=1)
    keep = np.ones(120, bool)
    keep[40:100] = False
    assert np.array_equal(m.features[keep], src.features[keep])
    assert pelvis_err(m.joints, 70, 0.7, 0.9) < 1e-4
    assert m.space == "model" and m.target_errors().size == 2
    with pytest.raises(UsageError, match=r"frame 20 is kept from the source \(generated: 40:100\)"):
        pipe.edit(src.features, "jump", regions=[(40, 100)], constraints=Constraints.from_waypoint("20:0,1"), sampling=FAST)


def test_edit_of_joints_meets_targets_in_the_sources_own_space(pipe):
    """A joints source edited where it is: targets are in its space (turned, shifted, larger than the template)."""
    src = pipe.generate("a person walks", frames=120, seed=5, sampling=FAST)[0].joints.astype(np.float64)
    th = 0.9
    rot = np.array([[np.cos(th), 0, np.sin(th)], [0, 1, 0], [-np.sin(th), 0, np.cos(th)]])
    joints = (src @ rot.T) * 1.15 + np.array([2.0, 0.0, -1.0])
    x, z = float(joints[70, 0, 0] + 0.4), float(joints[70, 0, 2] - 0.3)
    c = Constraints.from_json([{"joint": "pelvis", "frames": [70], "positions": [[x, None, z]]}])
    m = pipe.edit(joints.astype(np.float32), "a person jumps", regions=[(40, 100)], constraints=c, control=CTRL,
                  sampling=FAST, seed=2)
    assert m.space == "source"
    assert pelvis_err(m.joints, 70, x, z) < 2e-3
    keep = np.ones(120, bool)
    keep[40:100] = False
    assert np.array_equal(m.joints[keep], joints.astype(np.float32)[keep])
    u = pipe.edit(joints.astype(np.float32), "a person jumps", regions=[(40, 100)], sampling=FAST, seed=2)
    assert pelvis_err(u.joints, 70, x, z) > 0.1


@pytest.mark.slow  # spatial control runs (1.5 s each)
def test_inbetween_and_compose_meet_their_targets(pipe):
    a = pipe.generate("walk", frames=60, seed=1, sampling=FAST)[0]
    b = pipe.generate("run", frames=60, seed=2, sampling=FAST)[0]
    c = Constraints.from_waypoint("80:0.5,1.5")
    m = pipe.inbetween("a person turns", start=a.features, end=b.features, frames=40, constraints=c, control=CTRL,
                       sampling=FAST, seed=3)
    assert pelvis_err(m.joints, 80, 0.5, 1.5) < 1e-4
    k = pipe.compose([("walk", 150), ("turn", 120)], overlap=20, constraints=Constraints.from_path("0,0 1,2 0,3"),
                     control=CTRL, sampling=FAST, seed=4)
    assert k.frames == 270
    for f, x, z in [(0, 0, 0), (134, 1, 2), (269, 0, 3)]:
        assert pelvis_err(k.joints, f, x, z) < 2e-4
    assert k.targets.shape == (270, 22, 3)


@pytest.mark.slow
def test_the_cli_reads_constraints_and_reports_the_error(run_cli, tiny_model_dir, tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"constraints": [{"joint": "pelvis", "frames": [40], "positions": [[0.3, None, 0.6]]}]}))
    out = tmp_path / "m.npy"
    code, o, e = run_cli("generate", "a person walks", "--frames", 60, "--model", tiny_model_dir, "--constraints", f,
                         "--waypoint", "50:0.5,0.5", "--refine-steps", "1,1,1,1", "-o", out, "--device", "cpu")
    assert code == 0, e
    j = np.load(out)
    assert pelvis_err(j, 40, 0.3, 0.6) < 1e-4 and pelvis_err(j, 50, 0.5, 0.5) < 1e-4
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"constraints": [{"joint": "left_hand", "frames": [10], "positions": [[0, 1, 0]]}]}))
    code, o, e = run_cli("generate", "walk", "--frames", 60, "--model", tiny_model_dir, "--constraints", bad, "-o", out)
    assert code == 2 and "bad.json: entry 1: unknown joint 'left_hand' (did you mean left_wrist?)" in e
    assert len([ln for ln in e.splitlines() if ln.strip()]) == 1
    code, o, e = run_cli("generate", "walk", "--frames", 60, "--model", tiny_model_dir, "--path", "0,0 1", "-o", out)
    assert code == 2 and "--path '0,0 1': point 2 '1' is not x,z" in e
    src = tmp_path / "src.npy"
    np.save(src, np.load(out))
    rep = tmp_path / "r.json"
    code, o, e = run_cli("edit", src, "a person jumps", "--region", "20:50", "--waypoint", "35:0.2,0.2", "--model",
                         tiny_model_dir, "--refine-steps", "1,1,1,1", "-o", tmp_path / "e.npy", "--report", rep)
    assert code == 0, e
    r = json.loads(rep.read_text())
    assert r["constraints"]["targets"] == 1 and r["constraints"]["max_error_m"] < 2e-3


@pytest.mark.slow  # spatial control runs (1.5 s each)
def test_the_post_process_keeps_constrained_joints_on_their_targets(pipe):
    """Every task's post-process pins the constrained joints: a wrist the tiny model cannot reach by itself ends on
    its target, and switching the post-process off shows the raw motion (the control's own result)."""
    c = Constraints.from_json([{"joint": "right_wrist", "frames": [30, 50], "positions": [[-0.3, 1.4, 0.5], [0.1, 1.2, 0.8]]},
                               {"joint": "left_foot", "frames": [40], "positions": [[0.2, 0.05, 0.6]]},
                               {"joint": "pelvis", "frames": [45], "positions": [[0.1, None, 0.7]]}])
    raw = pipe.generate("a person waves", frames=60, constraints=c, control=CTRL, sampling=FAST, seed=1, postprocess=False)[0]
    m = pipe.generate("a person waves", frames=60, constraints=c, control=CTRL, sampling=FAST, seed=1)[0]
    assert raw.target_errors()[:2].max() > 0.01  # the tiny model's raw wrist is off
    assert m.target_errors().max() < 1e-5
    src = pipe.generate("a person walks", frames=88, seed=5, sampling=FAST)[0].joints * 1.1
    e = pipe.edit(src, "a person waves", regions=[(20, 70)], constraints=c, control=CTRL, sampling=FAST, seed=2)
    assert e.space == "source" and e.target_errors().max() < 1e-5
    keep = np.ones(88, bool)
    keep[20:70] = False
    assert np.array_equal(e.joints[keep], src.astype(np.float32)[keep])
