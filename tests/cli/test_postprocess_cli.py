"""`--postprocess/--no-postprocess` on generate and edit (tiny random-weight model): NPY and BVH of one run
agree within 1 mm with rigid bones; the raw output on request; an edit's kept frames bitwise."""

from __future__ import annotations

import numpy as np

from moscale_cli.io.bvh import bvh_to_smpl22
from moscale_cli.motion.kinematics import bone_lengths
from moscale_cli.motion.skeleton import SMPL22
from moscale_cli.sampling.config import SamplingConfig

FAST = ["--refine-steps", "1,1,1,1", "--device", "cpu"]


def spread(j: np.ndarray) -> float:
    lengths = bone_lengths(SMPL22.parents, np.asarray(j, dtype=np.float64))[:, 1:]
    return float((lengths.max(0) - lengths.min(0)).max())


def test_generate_npy_and_bvh_agree_and_no_postprocess_is_raw(cli_model_dir, run_cli, tmp_path):
    from moscale_cli.pipeline import MoScalePipeline

    args = ["generate", "a person walks forward", "--frames", 48, "--seed", 3, "-m", cli_model_dir, *FAST]
    code, _, e = run_cli(*args, "-o", tmp_path / "a.npy", "-o", tmp_path / "a.bvh")
    assert code == 0, e
    code, _, e = run_cli(*args, "-o", tmp_path / "r.npy", "-o", tmp_path / "r.bvh", "--no-postprocess")
    assert code == 0, e
    # (scale=1: the random model's bodies are too odd in size for the reader's unit detection)
    npy, bvh = np.load(tmp_path / "a.npy"), bvh_to_smpl22(tmp_path / "a.bvh", scale=1.0)
    assert np.linalg.norm(npy - bvh, axis=-1).max() < 1e-3
    assert spread(npy) < 2e-5 and spread(bvh) < 2e-5
    raw = np.load(tmp_path / "r.npy")  # as the pipeline decodes it without the post-process
    pipe = MoScalePipeline.from_pretrained(cli_model_dir, device="cpu")
    m = pipe.generate("a person walks forward", frames=48, seed=3, sampling=SamplingConfig(refine_steps=(1, 1, 1, 1)),
                      postprocess=False)[0]
    assert np.array_equal(raw, m.joints) and spread(raw) > 1e-3
    assert np.linalg.norm(raw - bvh_to_smpl22(tmp_path / "r.bvh", scale=1.0), axis=-1).max() > 1e-3  # the old mismatch


def test_edit_keeps_the_frames_outside_the_regions_bitwise(cli_model_dir, run_cli, tmp_path):
    src = tmp_path / "src.npy"
    code, _, e = run_cli("generate", "a person walks", "--frames", 80, "--seed", 5, "-o", src, "-m", cli_model_dir, *FAST)
    assert code == 0, e
    out = tmp_path / "e.npy"
    code, _, e = run_cli("edit", src, "a person jumps", "--region", "20:50", "-o", out, "-m", cli_model_dir, *FAST)
    assert code == 0, e
    a, b = np.load(src), np.load(out)
    keep = np.ones(80, bool)
    keep[20:50] = False
    assert np.array_equal(a[keep].view(np.int32), b[keep].view(np.int32)) and not np.allclose(a[~keep], b[~keep])
    assert spread(b[30:40]) < 2e-5  # regenerated frames away from the seams: the source's rigid skeleton
