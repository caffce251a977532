"""Spatial control with the installed default model: the sampler itself brings the motion to a pelvis waypoint
(before the root correction makes it exact), a key pose is reached, a wrist target is reached."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from moscale_cli.pipeline.constraints import Constraints

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipe():
    from moscale_cli.pipeline import MoScalePipeline

    torch.set_num_threads(min(2, torch.get_num_threads()))
    return MoScalePipeline.from_pretrained(None, device="cpu")


def test_a_pelvis_waypoint_is_reached_by_the_sampler_and_met_by_the_output(pipe):
    from moscale_cli.sampling.control import ControlConfig, controlled_sample
    from moscale_cli.sampling.targets import ControlTargets, target_errors

    c = Constraints.from_waypoint("100:1.5,2.5")
    T = 160
    tg = ControlTargets.from_arrays([c.resolve(T, origin=True)], T)
    tf = pipe.encode_prompts(["a person walks forward"])
    scfg = pipe.check_sampling(None)
    lens = torch.tensor([T])
    raw = {}
    for name, ctl in (("plain", None), ("control", ControlConfig())):
        res = controlled_sample(pipe.generator, pipe.tokenizer, pipe.normalizer, tf, lens, tg if ctl else None, scfg,
                                ctl, 0)
        raw[name] = float(target_errors(pipe.normalizer.denormalize(res.feats), tg)[0][0])
    assert raw["plain"] > 0.5  # the walk goes elsewhere on its own
    assert raw["control"] < 0.1  # the sampler (logits, then latent) brings it there, before any root correction
    m = pipe.generate("a person walks forward", frames=T, constraints=c, seed=0)[0]
    u = pipe.generate("a person walks forward", frames=T, seed=0)[0]
    assert np.hypot(*(m.joints[100, 0, [0, 2]] - [1.5, 2.5])) < 1e-3
    assert np.hypot(*(u.joints[100, 0, [0, 2]] - [1.5, 2.5])) > 0.5


def test_a_key_pose_and_a_wrist_target(pipe):
    ref = pipe.generate("a person raises both arms above the head", seconds=6, seed=3)[0]
    pose = ref.joints[60]
    c = Constraints.from_json([{"pose": 70, "joints": pose.tolist()}])
    m = pipe.generate("a person stands and waves", seconds=6, constraints=c, seed=1)[0]
    u = pipe.generate("a person stands and waves", seconds=6, seed=1)[0]
    mpjpe = np.linalg.norm(m.joints[70] - pose, axis=-1).mean()
    assert mpjpe < 0.05 < np.linalg.norm(u.joints[70] - pose, axis=-1).mean()
    w = Constraints.from_json([{"joint": "right_wrist", "frames": [70], "positions": [[-0.4, 1.5, 0.6]]}])
    m = pipe.generate("a person waves the right hand", seconds=6, constraints=w, seed=2)[0]
    assert m.target_errors().max() < 0.05
