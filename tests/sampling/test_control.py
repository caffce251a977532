"""Spatial control in the sampler: the logit hook on both runners, with edits, the latent refinement, the
target frames and the root correction (tiny random models; exactness, not quality)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from moscale_cli.motion.features import recover_from_ric
from moscale_cli.motion.normalize import Normalizer
from moscale_cli.motion.quaternion import yaw_quat
from moscale_cli.sampling.control import (
    ControlConfig,
    ControlHook,
    JointObjective,
    controlled_sample,
    refine_latent,
)
from moscale_cli.sampling.fast import StaticRunner
from moscale_cli.sampling.sampler import EditSpec, SamplingConfig, sample
from moscale_cli.sampling.targets import (
    ControlTargets,
    TargetFrame,
    correct_root,
    correction_weights,
    target_errors,
)

from .helpers import text, tiny_pair

FAST = SamplingConfig(refine_steps=(1, 1, 2, 2))
CTRL = ControlConfig(scales=(0, 1, 2, 3), steps=2, refine_steps=5)


@pytest.fixture(scope="module")
def pair():
    return tiny_pair()


@pytest.fixture(scope="module")
def norm():
    rng = np.random.default_rng(3)
    return Normalizer(rng.normal(0, 0.05, 263).astype(np.float32), rng.uniform(0.05, 0.2, 263).astype(np.float32))


def walk(T: int = 120) -> np.ndarray:
    """A de-normalised feature timeline: turning while stepping forward, arms swinging."""
    rng = np.random.default_rng(0)
    f = np.zeros((T, 263), dtype=np.float32)
    f[:, 0] = 0.01
    f[:, 2] = 0.03
    f[:, 3] = 0.95
    from moscale_cli.motion.skeleton import SMPL22

    rest = SMPL22.rest_pose()
    ric = np.repeat((rest[1:] + [0, 0.95, 0])[None], T, 0)
    ric[:, 19, 1] += 0.2 * np.sin(np.arange(T) / 7.0)
    f[:, 4:67] = ric.reshape(T, -1) + rng.normal(0, 1e-3, (T, 63))
    return f


def targets_of(T: int, spec: dict[tuple[int, int], tuple[float | None, ...]]) -> np.ndarray:
    a = np.full((T, 22, 3), np.nan)
    for (t, j), pos in spec.items():
        a[t, j] = [np.nan if v is None else v for v in pos]
    return a


def test_the_hook_gives_the_same_motions_on_both_runners(pair, norm):
    tok, gen = pair
    lengths = [120, 96]
    tg = ControlTargets.from_arrays([targets_of(120, {(60, 0): (0.5, None, 1.0), (90, 21): (0.2, 1.2, 0.4)}),
                                     targets_of(96, {(40, 20): (0.1, 1.0, 0.3)})], 120)
    a = controlled_sample(gen, tok, norm, text(2), lengths, tg, FAST, CTRL, 4)
    b = controlled_sample(gen, tok, norm, text(2), lengths, tg, FAST, CTRL, 4, runner=StaticRunner(gen, "eager"))
    for x, y in zip(a.ids, b.ids, strict=True):
        assert torch.equal(x, y)
    assert torch.equal(a.feats, b.feats) and torch.equal(a.fhat, b.fhat)
    plain = sample(gen, tok, text(2), lengths, FAST, 4)
    assert any(not torch.equal(x, y) for x, y in zip(a.ids, plain.ids, strict=True))  # the hook changed the draws


def test_rows_without_targets_are_sampled_as_without_control(pair, norm):
    tok, gen = pair
    tg = ControlTargets.from_arrays([targets_of(120, {(60, 21): (0.3, 1.1, 0.5)}), None], 120)
    out = controlled_sample(gen, tok, norm, text(2), [120, 120], tg, FAST, CTRL, 2)
    plain = sample(gen, tok, text(2), [120, 120], FAST, 2)
    for x, y in zip(out.ids, plain.ids, strict=True):
        assert torch.equal(x[1], y[1])
    assert torch.equal(out.feats[1], plain.feats[1])
    assert not torch.equal(out.fhat[0], plain.fhat[0])


def test_control_with_an_edit_keeps_the_locked_tokens_and_latent(pair, norm):
    tok, gen = pair
    src = sample(gen, tok, text(1), [160], FAST, 1)
    masks = []
    for s in src.ids:
        m = torch.zeros_like(s, dtype=torch.bool)
        m[:, s.shape[1] // 2 :] = True
        masks.append(m)
    spec = EditSpec(src.ids, masks)
    tg = ControlTargets.from_arrays([targets_of(160, {(140, 0): (1.0, None, 2.0), (150, 21): (0.5, 1.3, 2.0)})], 160)
    out = controlled_sample(gen, tok, norm, text(1), [160], tg, FAST, CTRL, 3, edit=spec)
    for k, (o, s, m) in enumerate(zip(out.ids, src.ids, masks, strict=True)):
        assert torch.equal(o[~m], s[~m]), k
    unrefined = controlled_sample(gen, tok, norm, text(1), [160], tg, FAST, CTRL.replace(refine_steps=0), 3, edit=spec)
    for a, b in zip(out.ids, unrefined.ids, strict=True):
        assert torch.equal(a, b)
    grid = masks[-1][0]
    moved = out.fhat[0] - unrefined.fhat[0]
    assert torch.equal(moved[:, ~grid], torch.zeros_like(moved[:, ~grid]))  # the refinement stays in the edited tokens
    assert moved[:, grid].abs().max() > 0


def test_logit_optimisation_and_refinement_lower_the_objective(pair, norm):
    tok, gen = pair
    tg = ControlTargets.from_arrays([targets_of(120, {(30, 21): (0.4, 1.4, 0.6), (100, 10): (0.3, 0.0, 1.5)})], 120)
    obj = JointObjective(tok, norm, tg)
    lens = torch.tensor([120])
    plain = sample(gen, tok, text(1), lens, FAST, 0)
    hooked = sample(gen, tok, text(1), lens, FAST, 0, hook=ControlHook(tok, norm, tg, ControlConfig(steps=8, lr=3.0)))
    assert obj.loss(hooked.fhat, lens).item() < obj.loss(plain.fhat, lens).item()
    before = obj.loss(plain.fhat, lens).item()
    refined = refine_latent(tok, norm, plain.fhat, lens, tg, ControlConfig(refine_steps=30, refine_lr=0.1))
    assert obj.loss(refined, lens).item() < 0.5 * before


def test_root_correction_meets_pelvis_targets_exactly_and_keeps_frozen_frames():
    f = walk()
    T = len(f)
    j = recover_from_ric(f.astype(np.float64), 22)
    spec = {(40, 0): (j[40, 0, 0] + 0.3, None, j[40, 0, 2] - 0.2), (80, 0): (None, j[80, 0, 1] + 0.05, j[80, 0, 2] + 0.4),
            (100, 0): (j[100, 0, 0] - 0.5, None, None)}
    frozen = np.zeros(T, dtype=bool)
    frozen[:20] = True
    frozen[110:] = True
    tg = ControlTargets.from_arrays([targets_of(T, spec)], T, base=[f], weight=[(~frozen).astype(np.float32)])
    g = correct_root(f, tg, 0)
    assert np.abs(target_errors(g[None], tg)[0]).max() < 1e-5
    assert np.array_equal(g[frozen], f[frozen])
    jg = recover_from_ric(g.astype(np.float64), 22)
    np.testing.assert_allclose(jg[:20], j[:20], atol=1e-5)  # nothing moves before the first open frame
    np.testing.assert_allclose(jg[110:], j[110:], atol=1e-4)  # the path is back where it was at the frozen frames
    # the whole body moves with the pelvis: joints keep their offsets from it
    np.testing.assert_allclose(jg - jg[:, :1], j - j[:, :1], atol=1e-5)


def test_the_objectives_model_of_the_correction_is_the_correction():
    """``ControlTargets.correction`` (used inside the objective) predicts what ``correct_root`` does."""
    f = walk()
    T = len(f)
    q = yaw_quat(np.array(0.6))
    tf = TargetFrame(rot=tuple(q.tolist()), origin=(1.0, 0.1, -2.0), scale=1.2)
    pj = recover_from_ric(torch.from_numpy(f)[None], 22)[0].numpy()
    spec = {(30, 0): (1.0, None, None), (70, 0): (0.2, 0.9, -1.0), (70, 21): (0.0, 1.0, 0.0), (119, 0): (None, None, 2.0)}
    tg = ControlTargets.from_arrays([targets_of(T, spec)], T, target_frames=[tf])
    ft = torch.from_numpy(f)[None]
    jt = torch.from_numpy(pj)[None]
    predicted = jt + tg.correction(jt, ft).unsqueeze(2)
    g = correct_root(f, tg, 0)
    actual = recover_from_ric(g.astype(np.float64), 22)
    np.testing.assert_allclose(predicted[0].numpy(), actual, atol=1e-4)
    assert target_errors(g[None], tg)[0][[0, 1, 3]].max() < 1e-4  # every pelvis target met (row 2: the wrist)


def test_correction_weights_interpolate_between_targets():
    T = 11
    m = np.zeros((T, 3), dtype=bool)
    m[5, 0] = True
    m[8, 1] = True
    W = correction_weights(m)
    # ground plane: 0 at frame 0, ramping to the target at 5, held after it
    np.testing.assert_allclose(W[:, 5, 0], [0, 0.2, 0.4, 0.6, 0.8, 1, 1, 1, 1, 1, 1], atol=1e-6)
    # height: the only target held over the whole run
    np.testing.assert_allclose(W[:, 8, 1], np.ones(T), atol=1e-6)
    frozen = np.zeros(T, dtype=bool)
    frozen[9:] = True
    W = correction_weights(m, frozen)
    # back to the path by the first frozen frame (the steps of frames 5..8 share the way back)
    np.testing.assert_allclose(W[:, 5, 0], [0, 0.2, 0.4, 0.6, 0.8, 1, 0.75, 0.5, 0.25, 0, 0], atol=1e-6)
    np.testing.assert_allclose(W[:, 8, 1], [1] * 9 + [0, 0], atol=1e-6)


def test_a_target_frame_maps_the_motion_into_the_users_space():
    f = walk()
    T = len(f)
    j = recover_from_ric(f.astype(np.float64), 22)
    yaw, origin, scale = 0.7, np.array([1.0, 0.2, -2.0]), 1.3
    q = yaw_quat(np.array(yaw))
    from moscale_cli.motion.quaternion import qrot

    user = (qrot(q, j) + origin) / scale
    tg = ControlTargets.from_arrays([targets_of(T, {(50, 20): tuple(user[50, 20])})], T,
                                    target_frames=[TargetFrame(rot=tuple(q.tolist()), origin=tuple(origin), scale=scale)])
    assert target_errors(f[None], tg)[0].max() < 1e-5
    # anchoring: frames placed against frame 10 of a reference turned by 0.5 rad and moved to (3, *, 4)
    ang = np.zeros((T, 2))
    ang[:, 0] = 0.5
    root = np.zeros((T, 2, 3))
    root[:, 0] = [3.0, 0.0, 4.0]
    anchor = np.full((T, 2), -1)
    anchor[:, 0] = 10
    tf = TargetFrame(anchor, ang, root)
    ft = torch.from_numpy(f)[None]
    tg = ControlTargets.from_arrays([targets_of(T, {(10, 0): (3.0, None, 4.0)})], T, target_frames=[tf])
    moved = tg.to_target_frame(recover_from_ric(ft, 22), ft)[0].numpy()
    np.testing.assert_allclose(moved[10, 0, [0, 2]], [3.0, 4.0], atol=1e-5)
    d = np.linalg.norm(moved[:, 0, [0, 2]] - moved[10, 0, [0, 2]], axis=-1)
    np.testing.assert_allclose(d, np.linalg.norm(j[:, 0, [0, 2]] - j[10, 0, [0, 2]], axis=-1), atol=1e-5)  # rigid
