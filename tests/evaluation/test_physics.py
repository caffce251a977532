"""Physical plausibility metrics on hand-made motions with known answers, on real clips, and the physics task."""

from __future__ import annotations

import json

import numpy as np
import pytest

from moscale_cli.errors import UsageError
from moscale_cli.evaluation.physics import (
    PhysicsConfig,
    bone_cv,
    floating,
    foot_skate,
    jerk,
    penetration,
    physics_metrics,
    physics_summary,
)
from moscale_cli.motion.skeleton import SMPL22

T = 40


def standing(n: int = T, lift: float = 0.0) -> np.ndarray:
    """The rest pose, feet flat on the floor (toes and ankles at y = 0) plus ``lift``, still for n frames."""
    rest = SMPL22.rest_pose().astype(np.float64)
    rest[:, 1] -= rest[:, 1].min() - lift
    return np.repeat(rest[None], n, axis=0)


def test_still_standing_is_clean():
    m = physics_metrics(standing())
    assert m == {"foot_skate": 0.0, "floating": 0.0, "penetration_mm": 0.0, "jerk": 0.0, "bone_cv": 0.0,
                 "bone_cv_max": 0.0}


def test_a_sliding_foot():
    j = standing()
    j[10:20, 11, 0] += np.arange(10) * 0.05  # the right toe slides 5 cm per frame (1 m/s) for 9 steps ...
    j[20:, 11, 0] += 0.45  # ... and then stays
    assert foot_skate(j) == pytest.approx(9 / (T - 1))
    j2 = j.copy()
    j2[10:20, 11, 1] = 0.06  # lifted above the 5 cm contact height while it moves: not skating
    assert foot_skate(j2) == 0.0
    assert foot_skate(j, PhysicsConfig(skate_speed=1.5)) == 0.0  # slower than the threshold


def test_a_floating_body():
    j = standing(lift=0.10)  # 10 cm up the whole time: 40 frames = 2 s unsupported
    assert floating(j) == 1.0
    j = standing()
    j[5:20, :, 1] += 0.2  # 15 frames = 0.75 s in the air: longer than a jump
    j[25:33, :, 1] += 0.2  # 8 frames = 0.4 s: a jump
    assert floating(j) == pytest.approx(15 / T)


def test_a_penetrating_foot():
    j = standing()
    j[:20, 10, 1] = -0.02  # the left toe 2 cm under the floor for half the clip
    assert penetration(j) == pytest.approx(0.01)
    assert physics_metrics(j)["penetration_mm"] == pytest.approx(10.0)


def test_a_jittery_joint():
    j = standing()
    a = 0.001
    j[:, 20, 0] += a * (-1.0) ** np.arange(T)  # the left wrist shakes by 1 mm every frame
    # third difference of (-1)^t a is 8a in size at every step, for 1 joint of 22: 8a * fps^3 / 22
    assert jerk(j) == pytest.approx(8 * a * 20.0**3 / 22)


def test_a_stretching_bone():
    j = standing()
    eps = 0.1
    fore = j[:, 20] - j[:, 18]  # left forearm
    j[:, 20] = j[:, 18] + fore * (1 + eps * (-1.0) ** np.arange(T))[:, None]  # lengths L(1 +- eps)
    mean_cv, worst = bone_cv(j)
    assert worst == pytest.approx(100 * eps) and mean_cv == pytest.approx(100 * eps / 21)


def test_summary_means_over_clips_and_errors():
    a = standing()
    b = standing(lift=0.10)
    s = physics_summary([a, b])
    assert s["floating"] == pytest.approx(0.5) and s["clips"] == 2
    with pytest.raises(UsageError):
        physics_summary([])
    with pytest.raises(UsageError, match="SMPL-22"):
        foot_skate(np.zeros((5, 21, 3)))
    with pytest.raises(UsageError):
        PhysicsConfig(fps=0)


def test_real_fixture_clips(bvh_fixture_dir):
    """Real Bandai-Namco clips: rigid, on the floor; the locomotion clips skate by this definition (a toe
    near the floor moving fast at toe-off and heel strike), the standing ones do not."""
    from moscale_cli.io.bvh import bvh_to_smpl22

    rows = {p.name: physics_metrics(bvh_to_smpl22(p)) for p in sorted(bvh_fixture_dir.glob("*.bvh"))}
    assert len(rows) == 5
    for name, m in rows.items():
        assert m["bone_cv_max"] < 0.01 and m["penetration_mm"] == 0.0 and m["floating"] == 0.0, name
        walking = "_walk" in name or "_run_" in name
        assert (m["foot_skate"] > 0.05) if walking else (m["foot_skate"] == 0.0), name


@pytest.mark.slow
def test_physics_task(tmp_path, run_cli):
    """``moscale eval --task physics`` on a tiny model: the three rows and the JSON report; the post-process
    row has rigid bones."""
    import torch

    from .helpers import build_tiny_model_dir, write_corpus

    torch.set_num_threads(2)
    data = write_corpus(tmp_path / "data", per_class=1, n_classes=4, eval_one_per_class=False)
    model = build_tiny_model_dir(tmp_path / "model", data)
    out = tmp_path / "phys.json"
    code, o, e = run_cli("eval", "--task", "physics", "--model", model, "--data", data, "--out", out,
                         "--refine-steps", "1,1,1,1", "--device", "cpu", "--max-clips", "3")
    assert code == 0, e
    rep = json.loads(out.read_text())
    res = rep["results"]
    assert set(res) == {"real", "model", "postprocessed"} and rep["dataset"]["eval_items"] == 3
    for row in res.values():
        assert set(row) == {"foot_skate", "floating", "penetration_mm", "jerk", "bone_cv", "bone_cv_max"}
        assert all(len(v["values"]) == 3 and np.isfinite(v["mean"]) for v in row.values())
    assert res["postprocessed"]["bone_cv_max"]["mean"] < 1e-6 < res["model"]["bone_cv_max"]["mean"]
    assert "post-processed" in o and "foot skate" in o
