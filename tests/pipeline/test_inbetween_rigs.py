"""In-betweening across rigs gives one skeleton for the whole result (issue 22, item 5): a Bandai-Namco BVH clip
before the gap and a HumanML3D joints clip after it used to give an NPY whose neck changed length after the gap."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from moscale_cli.motion.skeleton import SMPL22
from moscale_cli.sampling.config import SamplingConfig

FAST = SamplingConfig(refine_steps=(1, 1, 1, 1))


def _bone_lengths(joints: np.ndarray) -> np.ndarray:
    """(T, 21) length of every SMPL-22 bone in every frame."""
    par = SMPL22.parents
    kids = [k for k in range(22) if par[k] >= 0]
    j = np.asarray(joints, dtype=np.float64)
    return np.linalg.norm(j[:, kids] - j[:, [par[k] for k in kids]], axis=-1)


def test_start_bvh_end_joints_one_skeleton(tiny_pipeline, bvh_fixture_dir: Path, hml_fixture_dir: Path, tmp_path):
    from moscale_cli.io.files import load_motion
    from moscale_cli.pipeline.sources import load_source

    a = load_source(bvh_fixture_dir / "dataset-2_walk-turn-left_normal_001.bvh")
    end = np.load(hml_fixture_dir / "new_joints" / "012314.npy")[:40]
    b_path = tmp_path / "hm.npy"
    np.save(b_path, end)
    b = load_source(b_path)
    la, lb = _bone_lengths(a.joints).mean(0), _bone_lengths(b.joints).mean(0)
    assert np.abs(la - lb).max() > 0.05  # two rigs: bones differ by more than 5 cm
    m = tiny_pipeline.inbetween("a person turns", start=a, end=b, frames=24, seed=0, sampling=FAST)
    assert m.space == "source" and m.skeleton == a.name
    lengths = _bone_lengths(m.joints)
    assert np.abs(lengths - la).max() < 2e-3  # every frame, the end clip included, has the start clip's bones
    neck = SMPL22.joint_names.index("neck") - 1  # bone parent -> neck (bones are joints 1..21 in order)
    assert lengths[:, neck].std() < 1e-3
    # the end clip keeps its own motion: its root path moves as the source's did (turned and shifted as a whole)
    n_a = a.frames + 24
    step_out = np.linalg.norm(np.diff(m.joints[n_a:, 0, [0, 2]], axis=0), axis=-1)
    step_src = np.linalg.norm(np.diff(b.joints[:, 0, [0, 2]], axis=0), axis=-1)
    np.testing.assert_allclose(step_out, step_src, atol=1e-4)
    # every output format writes the same skeleton: the NPY joints re-read and the BVH's bones
    from moscale_cli.io.files import save_motion

    save_motion(tmp_path / "o.npy", m.joints)
    save_motion(tmp_path / "o.bvh", m.joints)
    assert np.abs(_bone_lengths(np.load(tmp_path / "o.npy")) - la).max() < 2e-3
    assert np.abs(_bone_lengths(load_motion(tmp_path / "o.bvh").joints) - la).max() < 2e-3
