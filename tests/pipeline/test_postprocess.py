"""The post-process as every pipeline task applies it (tiny random-weight model): on by default, off with
``postprocess=False``, rigid bones, features of the written joints, kept frames of edits bitwise."""

from __future__ import annotations

import numpy as np
import pytest

from moscale_cli.motion.features import recover_from_ric
from moscale_cli.motion.kinematics import bone_lengths
from moscale_cli.motion.skeleton import SMPL22
from moscale_cli.sampling.config import SamplingConfig

FAST = SamplingConfig(refine_steps=(1, 1, 1, 1))


def spread(j: np.ndarray) -> float:
    lengths = bone_lengths(SMPL22.parents, np.asarray(j, dtype=np.float64))[:, 1:]
    return float((lengths.max(0) - lengths.min(0)).max())


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32).view(np.int32)


def test_generate_is_postprocessed_by_default_and_raw_on_request(tiny_pipeline):
    kw = dict(frames=48, seed=2, sampling=FAST)
    raw = tiny_pipeline.generate("a person walks", postprocess=False, **kw)[0]
    clean = tiny_pipeline.generate("a person walks", **kw)[0]
    # off: the joints as decoded from the model's features
    assert np.array_equal(raw.joints, np.asarray(recover_from_ric(raw.features), dtype=np.float32))
    assert spread(raw.joints) > 1e-3
    # on (default): rigid bones (float32 storage), features of the written joints
    assert spread(clean.joints) < 2e-5 and not np.allclose(clean.joints, raw.joints, atol=1e-3)
    assert clean.features.shape == (48, 263)
    np.testing.assert_allclose(recover_from_ric(clean.features), clean.joints, atol=1e-5)


@pytest.fixture(scope="module")
def joints_source(tiny_pipeline) -> np.ndarray:
    return tiny_pipeline.generate("a person walks in a circle", frames=100, seed=7, sampling=FAST)[0].joints


def test_edit_changes_only_the_regions(tiny_pipeline, joints_source):
    src = joints_source
    m = tiny_pipeline.edit(src, "a person jumps", regions=[(30, 60)], sampling=FAST, seed=1)
    raw = tiny_pipeline.edit(src, "a person jumps", regions=[(30, 60)], sampling=FAST, seed=1, postprocess=False)
    keep = np.ones(100, bool)
    keep[30:60] = False
    assert np.array_equal(bits(m.joints[keep]), bits(src[keep]))  # the source's frames, bitwise
    assert np.array_equal(bits(raw.joints[keep]), bits(src[keep]))
    assert not np.allclose(m.joints[~keep], raw.joints[~keep], atol=1e-4)
    inner = m.joints[40:50]  # away from the seams' fades: the source's own skeleton, rigid
    assert spread(inner) < 2e-5
    np.testing.assert_allclose(bone_lengths(SMPL22.parents, inner)[0, 1:],
                               np.median(bone_lengths(SMPL22.parents, src), axis=0)[1:], atol=2e-5)
    assert m.seams is not None and len(m.seams.jumps) == 2 and m.seams.p95 == raw.seams.p95


def test_inbetween_and_compose(tiny_pipeline, joints_source):
    src = joints_source
    m = tiny_pipeline.inbetween("a person turns", source=src, keep_start=20, keep_end=20, sampling=FAST, seed=3)
    keep = np.zeros(100, bool)
    keep[:20] = keep[80:] = True
    assert np.array_equal(bits(m.joints[keep]), bits(src[keep]))
    c = tiny_pipeline.compose([("walk forward", 60), ("sit down", 60)], overlap=20, sampling=FAST, seed=4)
    assert c.joints.shape == (120, 22, 3) and spread(c.joints) < 2e-5
    np.testing.assert_allclose(recover_from_ric(c.features), c.joints, atol=1e-5)
