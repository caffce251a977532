from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from moscale_cli.errors import UsageError
from moscale_cli.motion.features import recover_from_ric
from moscale_cli.pipeline import LengthAdjustedWarning
from moscale_cli.sampling.config import SamplingConfig
from moscale_cli.text.encoder import PromptTruncatedWarning

FAST = SamplingConfig(refine_steps=(1, 1, 1, 1))


def test_generate_shapes_and_denormalisation(tiny_pipeline):
    ms = tiny_pipeline.generate(["a person walks forward"], frames=48, num_samples=2, sampling=SamplingConfig(refine_steps=(1, 1, 1, 2)))
    assert len(ms) == 2
    for k, m in enumerate(ms):
        assert m.joints.shape == (48, 22, 3) and m.features.shape == (48, 263) and m.frames == 48
        assert m.caption == "a person walks forward" and m.sample_index == k
        assert np.isfinite(m.joints).all()
        # features of the (post-processed) joints: they give back the joints
        assert np.allclose(m.joints, recover_from_ric(m.features), atol=1e-5)
    assert not np.allclose(ms[0].features, ms[1].features)


def test_denormalise_uses_model_stats(tiny_pipeline):
    """The features returned equal the sampler's normalised output mapped through the model's mean/std."""
    from moscale_cli.sampling.sampler import sample

    p = tiny_pipeline
    m = p.generate(["wave"], frames=40, seed=3, sampling=FAST, postprocess=False)[0]
    assert np.allclose(m.joints, recover_from_ric(m.features), atol=1e-5)
    text = p.text_encoder.encode(["wave"])
    scfg = FAST
    gen = torch.Generator().manual_seed(3)
    raw = sample(p.generator, p.tokenizer, text, torch.tensor([40]), scfg, gen, batch_size=1).feats[0, :40].numpy()
    expect = raw * p.normalizer.std + p.normalizer.mean
    assert np.allclose(m.features, expect, atol=1e-5)


def test_same_seed_same_motion_other_seed_differs(tiny_pipeline):
    kw = dict(frames=40, sampling=FAST)
    a = tiny_pipeline.generate("a person jumps", seed=5, **kw)[0]
    b = tiny_pipeline.generate("a person jumps", seed=5, **kw)[0]
    c = tiny_pipeline.generate("a person jumps", seed=6, **kw)[0]
    assert np.array_equal(a.joints, b.joints)
    assert not np.array_equal(a.joints, c.joints)


def test_length_estimator_and_seconds(tiny_pipeline):
    ms = tiny_pipeline.generate(["kick", "spin around"], num_samples=3, seed=1, sampling=FAST)
    assert len(ms) == 6
    assert all(40 <= m.frames <= 196 and m.frames % 4 == 0 and m.joints.shape[0] == m.frames for m in ms)
    again = tiny_pipeline.generate(["kick", "spin around"], num_samples=3, seed=1, sampling=FAST)
    assert [m.frames for m in ms] == [m.frames for m in again]
    m = tiny_pipeline.generate("kick", seconds=2.4, sampling=FAST)[0]
    assert m.frames == 48 and m.seconds == pytest.approx(2.4)
    mixed = tiny_pipeline.generate(["kick", "bow"], frames=[44, None], sampling=FAST)
    assert mixed[0].frames == 44 and 40 <= mixed[1].frames <= 196


def test_length_rounding_warns(tiny_pipeline):
    with pytest.warns(LengthAdjustedWarning, match="using 48 frames"):
        m = tiny_pipeline.generate("kick", frames=50, sampling=FAST)[0]
    assert m.frames == 48


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(prompts=""), "empty"),
        (dict(prompts=["walk", "   "]), "prompt 2 is empty"),
        (dict(prompts="walk", frames=36), "shorter than the minimum of 40 frames"),
        (dict(prompts="walk", frames=200), "longer than the maximum of 196 frames"),
        (dict(prompts="walk", seconds=20.0), "longer than the maximum"),
        (dict(prompts="walk", seconds=-1.0), "positive number of seconds"),
        (dict(prompts="walk", frames=40, seconds=2.0), "either frames or seconds"),
        (dict(prompts="walk", frames=40, num_samples=0), "num_samples"),
        (dict(prompts="walk", frames=40, sampling=SamplingConfig(refine_steps=(1, 2))), "one count for each"),
        (dict(prompts="walk", frames=40, sampling="fast"), "SamplingConfig"),
        (dict(prompts=None, unconditional=True), "needs a length"),
    ],
)
def test_bad_input(tiny_pipeline, kwargs, match):
    with pytest.raises(UsageError, match=match):
        tiny_pipeline.generate(**kwargs)


def test_unconditional(tiny_pipeline):
    ms = tiny_pipeline.generate(None, frames=40, unconditional=True, num_samples=2, sampling=FAST)
    assert len(ms) == 2 and ms[0].caption == "" and ms[0].joints.shape == (40, 22, 3)


def test_long_prompt_warns_and_truncates(tiny_pipeline):
    long = "a person walks forward slowly then turns left and waves with both hands before sitting down"
    with pytest.warns(PromptTruncatedWarning):
        m = tiny_pipeline.generate(long, frames=40, sampling=FAST)[0]
    assert m.joints.shape == (40, 22, 3)


def test_batching_covers_all_rows(tiny_pipeline):
    seen = []
    ms = tiny_pipeline.generate(["a", "b", "c"], frames=40, num_samples=2, batch_size=4, sampling=FAST,
                                on_batch=seen.append)
    assert seen == [4, 2]
    assert [(m.prompt_index, m.sample_index) for m in ms] == [(i, k) for i in range(3) for k in range(2)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tiny_pipeline.generate(["a"], frames=40, sampling=FAST)


def test_python_api_example_runs(tiny_model_dir, tmp_path, monkeypatch, capsys):
    import runpy
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "examples" / "python_api.py"
    monkeypatch.setattr(sys, "argv", ["python_api.py", "--model", str(tiny_model_dir), "--out", str(tmp_path), "--device", "cpu"])
    runpy.run_path(str(script), run_name="__main__")
    printed = capsys.readouterr().out
    assert printed.count(".bvh") == 4
    assert np.load(tmp_path / "motion_0.npy").shape == (80, 22, 3)
    assert np.load(tmp_path / "motion_2.npy").shape == (80, 22, 3)
    assert (tmp_path / "motion_3.bvh").is_file()


def test_recommended_guidance_from_the_model_directory(tiny_model_dir, tmp_path, monkeypatch):
    """A model directory's "sampling" block sets the guidance a caller leaves unset; an explicit cfg wins, and
    generating with the recommendation equals generating with that cfg given explicitly (bitwise)."""
    import shutil

    import moscale_cli.sampling.sampler as sampler_mod
    from moscale_cli.errors import CheckpointError
    from moscale_cli.model_dir import update_model_dir
    from moscale_cli.pipeline import MoScalePipeline

    d = tmp_path / "rec"
    shutil.copytree(tiny_model_dir, d)
    plain = MoScalePipeline.from_pretrained(d, device="cpu")
    assert plain.check_sampling(None).cfg == 5.0  # no recommendation: the reference's g
    cfg = update_model_dir(d, sampling={"cfg": 2.0})
    assert cfg["sampling"] == {"cfg": 2.0}
    pipe = MoScalePipeline.from_pretrained(d, device="cpu")
    assert pipe.check_sampling(None).cfg == 2.0
    assert pipe.check_sampling(FAST).cfg == 2.0 and pipe.check_sampling(FAST).refine_steps == (1, 1, 1, 1)
    assert pipe.check_sampling(SamplingConfig(cfg=3.0)).cfg == 3.0
    used = []
    real_sample = sampler_mod.sample
    monkeypatch.setattr(sampler_mod, "sample", lambda *a, **k: used.append(a[4].cfg) or real_sample(*a, **k))
    kw = dict(frames=40, seed=3)
    rec = pipe.generate("a person jumps", sampling=FAST, **kw)[0]
    explicit = plain.generate("a person jumps", sampling=FAST.replace(cfg=2.0), **kw)[0]
    pipe.generate("a person jumps", sampling=FAST.replace(cfg=5.0), **kw)
    assert used == [2.0, 2.0, 5.0]
    assert np.array_equal(rec.joints, explicit.joints)
    for bad in ({"cfg": -1}, {"top_p": 0.5}, {"cfg": "x"}):
        with pytest.raises(CheckpointError, match="recommended sampling"):
            update_model_dir(d, sampling=bad)
    # a hand-edited block is refused when the directory is read, naming the file (no internal error)
    import json

    cfg["sampling"] = {"cfg": "abc"}
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"config.json: recommended sampling setting cfg must be a number"):
        MoScalePipeline.from_pretrained(d, device="cpu")


def test_motions_do_not_depend_on_the_batch_size(tiny_pipeline):
    """Motion r of a request draws from (seed, r): batch sizes 1, 3 and 32 give the same motions, the first one is
    the single-motion result of the seed, and motion 2 of seed s is not motion 1 of seed s + 1 (the old chunk seeds).
    (Batches of other shapes decode with float differences of ~1e-6 in the features; the random tiny model's roots
    wander ~10 m in 2 s, so its joints are compared relative to that.)"""
    prompts = ["a person walks", "a person jumps", "a person waves"]
    kw = dict(frames=[40, 60, 48], num_samples=2, seed=11, sampling=FAST, postprocess=False)  # the sampler's motions
    runs = {bs: tiny_pipeline.generate(prompts, batch_size=bs, **kw) for bs in (1, 3, 32)}
    for bs in (1, 3):
        for a, b in zip(runs[32], runs[bs], strict=True):
            assert np.allclose(a.features, b.features, rtol=0, atol=1e-5)
            assert np.abs(a.joints - b.joints).max() <= 1e-4 * max(1.0, float(np.abs(b.joints).max()))
    assert len({m.features.tobytes() for m in runs[32]}) == 6  # every motion its own stream
    first = tiny_pipeline.generate(prompts[0], frames=40, seed=11, sampling=FAST, postprocess=False)[0]
    assert np.array_equal(first.joints, runs[1][0].joints)
    pair = tiny_pipeline.generate([prompts[0]] * 2, frames=40, seed=11, batch_size=1, sampling=FAST)
    nxt = tiny_pipeline.generate(prompts[0], frames=40, seed=12, sampling=FAST)[0]
    assert not np.allclose(pair[1].joints, nxt.joints)


def test_the_static_runner_gives_the_same_motions(tiny_model_dir, tiny_pipeline, tmp_path):
    """fast="eager" (the static-cache runner, fp32 on CPU) generates, edits, in-betweens and composes exactly as
    the default eager KV-cache runner."""
    from moscale_cli.pipeline import MoScalePipeline

    fast = MoScalePipeline.from_pretrained(tiny_model_dir, device="cpu", fast="eager")
    assert fast.runner is not None and tiny_pipeline.runner is None
    kw = dict(frames=[40, 80], num_samples=2, seed=4, sampling=FAST)
    for a, b in zip(tiny_pipeline.generate(["walk", "jump"], **kw), fast.generate(["walk", "jump"], **kw), strict=True):
        assert np.array_equal(a.features, b.features)
    src = tiny_pipeline.generate("a person walks", frames=100, seed=1, sampling=FAST)[0].features
    def tasks(p):
        return [p.edit(src, "jump", regions=[(30, 60)], seed=2, sampling=FAST),
                p.inbetween("turn", start=src[:40], end=src[60:], frames=20, seed=3, sampling=FAST),
                p.compose([("walk", 120), ("sit", 150)], seed=5, sampling=FAST)]

    for a, b in zip(tasks(tiny_pipeline), tasks(fast), strict=True):
        assert np.array_equal(a.features, b.features) and np.array_equal(a.joints, b.joints)
    with pytest.raises(UsageError, match="CUDA"):
        MoScalePipeline.from_pretrained(tiny_model_dir, device="cpu", fast="graphs")
