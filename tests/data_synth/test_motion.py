"""Synthetic motions: every action renders, counts are visible, bones rigid, feet planted, smooth."""

from __future__ import annotations

import numpy as np
import pytest

from moscale_cli.data.synth.corpus import generate_clip
from moscale_cli.data.synth.program import ACTION_NAMES, MAX_FRAMES, MIN_FRAMES, ActionSpec, Program
from moscale_cli.data.synth.vocabulary import VOCABULARY
from moscale_cli.motion.features import recover_from_ric
from moscale_cli.motion.skeleton import (
    HEAD,
    L_FOOT,
    L_HIP,
    L_SHOULDER,
    L_WRIST,
    PELVIS,
    R_FOOT,
    R_HIP,
    R_SHOULDER,
    R_WRIST,
    SMPL22,
)

PARENTS = list(SMPL22.parents[1:])


def _spec(name: str, **kw) -> ActionSpec:
    d = VOCABULARY[name]
    args = dict(
        count=d.counts[1] if d.counts else None,
        side=d.sides[0] if d.sides else None,
        direction=d.directions[-1] if d.directions else None,
        angle=180 if d.angles else None,
        duration=3.0 if d.durations is not None else None,
    )
    args.update(kw)
    return ActionSpec(name, **args)


def _clip(*specs: ActionSpec, index: int = 0):
    return generate_clip(7, index, program=Program(list(specs)))


def _rising_edges(mask: np.ndarray) -> int:
    m = mask.astype(int)
    return int((np.diff(m) == 1).sum() + m[0])


def _foot_slide(joints: np.ndarray, contacts: np.ndarray) -> tuple[float, int]:
    """Sum of horizontal foot-joint speeds (m/s) over frames where that foot is planted, and the count.
    (The ankle may move while planted: the heel rises at push-off.)"""
    total, count = 0.0, 0
    for side, (_ankle, foot) in enumerate((SMPL22.foot_left, SMPL22.foot_right)):
        planted = contacts[1:, side] & contacts[:-1, side]
        v = np.linalg.norm(np.diff(joints[:, foot][:, [0, 2]], axis=0), axis=-1) * 20.0
        total += float(v[planted].sum())
        count += int(planted.sum())
    return total, count


def _check_clip(clip) -> None:
    j = clip.joints.astype(np.float64)
    t = j.shape[0]
    assert MIN_FRAMES <= t <= MAX_FRAMES
    assert clip.feats.shape == (t, 263) and clip.feats.dtype == np.float32
    assert np.isfinite(clip.feats).all()
    bl = np.linalg.norm(j[:, 1:] - j[:, PARENTS], axis=-1)
    np.testing.assert_allclose(bl, np.broadcast_to(SMPL22.bone_lengths[1:], bl.shape), atol=1e-5)
    # no jumps between frames: joints move < 12 m/s, the pelvis < 8 m/s
    step = np.linalg.norm(np.diff(j, axis=0), axis=-1) * 20.0
    assert step.max() < 12.0
    assert step[:, 0].max() < 8.0
    # the lowest joint touches the floor; nothing goes far below it
    assert abs(j[..., 1].min()) < 1e-5
    rec = recover_from_ric(clip.feats)
    np.testing.assert_allclose(rec, j, atol=1e-4)
    # spans: in order, not overlapping (idle frames may lie before, between and after them), events inside
    end = 0
    for a in clip.program.actions:
        s0, s1 = a.span
        assert end <= s0 < s1 <= t
        assert all(s0 <= e < s1 for e in a.events)
        end = s1


@pytest.mark.parametrize("name", ACTION_NAMES)
def test_every_action_renders_a_valid_clip(name):
    clip = _clip(_spec(name))
    _check_clip(clip)
    total, count = _foot_slide(clip.joints, clip.contacts)
    assert count > 0, "a foot must be planted at some point"
    assert total / count < 0.02, f"{name}: feet slide {100 * total / count:.1f} cm/s while planted"


def test_at_least_30_actions():
    assert len(ACTION_NAMES) >= 30


def test_sequences_of_three_render():
    clip = _clip(_spec("walk_forward", duration=2.5), _spec("turn", angle=180), _spec("sit_down"))
    _check_clip(clip)
    assert [a.action for a in clip.program.actions] == ["walk_forward", "turn", "sit_down"]
    j = clip.joints
    # walked forward (>1 m), turned around (facing -Z at the end), and ended seated (low pelvis)
    assert np.linalg.norm(j[clip.program.actions[0].span[1], PELVIS, [0, 2]] - j[0, PELVIS, [0, 2]]) > 1.0
    across = j[-1, L_HIP] - j[-1, R_HIP]
    forward = np.cross(across, np.array([0.0, 1.0, 0.0]))
    assert forward[2] < -0.05
    assert j[-1, PELVIS, 1] < 0.6


def test_foot_sliding_is_small_over_random_clips():
    total, count = 0.0, 0
    for i in range(12):
        clip = generate_clip(11, i)
        _check_clip(clip)
        s, c = _foot_slide(clip.joints, clip.contacts)
        total, count = total + s, count + c
    assert total / count < 0.02


@pytest.mark.parametrize("count", [1, 2, 4])
@pytest.mark.parametrize("speed", ["slow", "fast"])
def test_jumping_jack_count_is_visible(count, speed):
    clip = _clip(_spec("jumping_jacks", count=count, speed=speed))
    j = clip.joints
    hands_up = (j[:, L_WRIST, 1] > j[:, HEAD, 1]) & (j[:, R_WRIST, 1] > j[:, HEAD, 1])
    assert _rising_edges(hands_up) == count
    airborne = (j[:, [L_FOOT, R_FOOT], 1] > 0.03).all(-1)
    assert _rising_edges(airborne) == 2 * count


@pytest.mark.parametrize("count", [1, 3, 4])
@pytest.mark.parametrize("side", ["left", "right", "both"])
def test_wave_count_is_visible(count, side):
    clip = _clip(_spec("wave", count=count, side=side))
    j = clip.joints
    for s, (wrist, shoulder) in enumerate(((L_WRIST, L_SHOULDER), (R_WRIST, R_SHOULDER))):
        raised = j[:, wrist, 1] > j[:, shoulder, 1] + 0.25
        waving = side in ("both", ("left", "right")[s])
        assert raised.any() == waving
        if waving:
            # each wave swings the hand out from beside the head and back in: count the outward swings
            x = np.abs(j[raised, wrist, 0] - j[raised, shoulder, 0])
            mid, half = 0.5 * (x.max() + x.min()), 0.5 * (x.max() - x.min())
            assert half > 0.05
            state, n = "lo", 0
            for v in x:
                if v > mid + 0.5 * half and state == "lo":
                    n, state = n + 1, "hi"
                elif v < mid - 0.25 * half:
                    state = "lo"
            assert n == count


@pytest.mark.parametrize("count", [1, 2, 3])
def test_squat_jump_clap_counts_are_visible(count):
    j = _clip(_spec("squat", count=count)).joints
    assert _rising_edges(j[:, PELVIS, 1] < 0.75) == count
    j = _clip(_spec("jump_in_place", count=count)).joints
    assert _rising_edges((j[:, [L_FOOT, R_FOOT], 1] > 0.05).all(-1)) == count
    j = _clip(_spec("jump_forward", count=count)).joints
    assert _rising_edges((j[:, [L_FOOT, R_FOOT], 1] > 0.05).all(-1)) == count
    assert j[-1, PELVIS, 2] - j[0, PELVIS, 2] > 0.3 * count
    j = _clip(_spec("clap", count=count)).joints
    assert _rising_edges(np.linalg.norm(j[:, L_WRIST] - j[:, R_WRIST], axis=-1) < 0.12) == count
    j = _clip(_spec("kick", count=count, side="right")).joints
    assert _rising_edges(j[:, R_FOOT, 1] > 0.4) == count
    assert not (j[:, L_FOOT, 1] > 0.1).any()
    j = _clip(_spec("hop", count=count, side="left")).joints
    assert _rising_edges(j[:, L_FOOT, 1] > 0.04) == count
    assert (j[:, R_FOOT, 1] > 0.1).sum() > 10  # the other foot is held up


@pytest.mark.parametrize(("angle", "direction"), [(90, "left"), (180, "right"), (360, "left")])
def test_turn_angle(angle, direction):
    j = _clip(_spec("turn", angle=angle, direction=direction)).joints
    across = j[:, L_HIP] - j[:, R_HIP]  # hips, left - right
    forward = np.cross(across, np.array([0.0, 1.0, 0.0]))
    heading = np.unwrap(np.arctan2(forward[:, 0], forward[:, 2]))  # + = turned to the left
    turned = np.degrees(heading[-1] - heading[0])
    assert turned == pytest.approx(angle if direction == "left" else -angle, abs=12)


def test_directions_of_locomotion():
    j = _clip(_spec("walk_backward", duration=3.0)).joints
    assert j[-1, PELVIS, 2] - j[0, PELVIS, 2] < -0.8
    j = _clip(_spec("walk_sideways", direction="left", duration=3.0)).joints
    assert j[-1, PELVIS, 0] - j[0, PELVIS, 0] > 0.6  # +X is the character's left
    j = _clip(_spec("side_step", direction="right", count=3)).joints
    assert j[-1, PELVIS, 0] - j[0, PELVIS, 0] < -0.5
    walk = _clip(_spec("walk_forward", duration=3.0)).joints
    run = _clip(_spec("run_forward", duration=3.0)).joints
    assert (run[-1, PELVIS, 2] - run[0, PELVIS, 2]) / len(run) > 1.8 * (walk[-1, PELVIS, 2] - walk[0, PELVIS, 2]) / len(walk)
    slow = _clip(_spec("walk_forward", duration=3.0, speed="slow")).joints
    assert (slow[-1, PELVIS, 2] - slow[0, PELVIS, 2]) / len(slow) < (walk[-1, PELVIS, 2] - walk[0, PELVIS, 2]) / len(walk)
