"""The program-task detectors on procedural-corpus clips: every action passes on its own clip, sequences pass,
and hand-broken clips fail exactly the attribute that was broken."""

from __future__ import annotations

import numpy as np
import pytest

from moscale_cli.data.synth.corpus import generate_clip
from moscale_cli.data.synth.program import ActionSpec, Program
from moscale_cli.data.synth.timing import min_frames
from moscale_cli.data.synth.vocabulary import VOCABULARY
from moscale_cli.evaluation.program import ATTRS, ClipScore, score_clip
from moscale_cli.evaluation.program.detectors import circle, path_length
from moscale_cli.evaluation.program.signals import Signals
from moscale_cli.motion.features import body_forward
from moscale_cli.motion.skeleton import PELVIS, R_ELBOW, R_SHOULDER, R_WRIST, SMPL22_LR_PAIRS


def clip(*specs: dict, seed: int = 0, index: int = 0, shortest: bool = False) -> tuple[np.ndarray, dict]:
    """Joints and label of a corpus clip rendering the given actions (the corpus API, seeded); ``shortest``:
    at the program's physical minimum (no pauses, little idle)."""
    prog = Program([ActionSpec(**s) for s in specs])
    c = generate_clip(seed, index, prog, frames=min_frames(prog) if shortest else None)
    return c.joints.astype(np.float64), c.label(seed, index)


def failed(score: ClipScore) -> set[tuple[str | None, str]]:
    return {(c.action, c.attribute) for c in score.checks if c.status == "fail"}


def default_spec(name: str) -> dict:
    d = VOCABULARY[name]
    spec: dict = {"action": name}
    if d.counts:
        spec["count"] = 2
    if d.sides:
        spec["side"] = d.sides[-1]
    if d.directions:
        spec["direction"] = d.directions[0]
    if d.angles:
        spec["angle"] = 180
    if d.durations is not None:
        spec["duration"] = d.durations[0]
    return spec


# ------------------------------------------------------------------------------------------ broken clips
def mirror(j: np.ndarray) -> np.ndarray:
    """Left <-> right: negate x and swap the joint chains."""
    m = j.copy()
    m[..., 0] *= -1
    for a, b in SMPL22_LR_PAIRS:
        m[:, [a, b]] = m[:, [b, a]]
    return m


def cut_frames(j: np.ndarray, a: int, b: int) -> np.ndarray:
    """Drop frames [a, b); the rest is moved so that the pelvis path stays continuous."""
    off = (j[b, PELVIS] - j[a - 1, PELVIS]) * np.array([1.0, 0.0, 1.0])
    return np.concatenate([j[:a], j[b:] - off])


def scale_turn(j: np.ndarray, s: float) -> np.ndarray:
    """Every frame turned about its pelvis so that the facing changes ``s`` times as much."""
    f = body_forward(j)
    yaw = np.unwrap(np.arctan2(f[:, 0], f[:, 2]))
    d = (s - 1) * (yaw - yaw[0])
    c, sn = np.cos(d)[:, None], np.sin(d)[:, None]
    p = j[:, PELVIS : PELVIS + 1] * np.array([1.0, 0.0, 1.0])
    r = j - p
    out = r.copy()
    out[..., 0] = c * r[..., 0] + sn * r[..., 2]
    out[..., 2] = -sn * r[..., 0] + c * r[..., 2]
    return out + p


def shift_right_arm(j: np.ndarray, k: int) -> np.ndarray:
    """The right elbow and wrist (relative to the right shoulder) ``k`` frames late."""
    idx = np.clip(np.arange(len(j)) - k, 0, len(j) - 1)
    out = j.copy()
    arm, sh = [R_ELBOW, R_WRIST], [R_SHOULDER]
    out[:, arm] = j[:, sh] + (j[idx][:, arm] - j[idx][:, sh])
    return out


def swap_at(j: np.ndarray, t: int) -> np.ndarray:
    """Frames [t, T) first, then [0, t), the second part moved to continue the first's pelvis path."""
    first, second = j[t:], j[:t]
    off = (first[-1, PELVIS] - second[0, PELVIS]) * np.array([1.0, 0.0, 1.0])
    return np.concatenate([first, second + off])


# ------------------------------------------------------------------------------------------ tests
@pytest.mark.parametrize("name", sorted(VOCABULARY))
def test_every_action_passes_on_its_corpus_clip(name):
    j, label = clip(default_spec(name), seed=3, index=len(name))
    score = score_clip(j, label)
    assert failed(score) == set(), score.failures()
    checked = {c.attribute for c in score.checks if c.action == name and c.applicable}
    assert "present" in checked
    assert checked <= set(ATTRS[name])


@pytest.mark.parametrize(
    "specs",
    [
        [{"action": "jump_in_place", "count": 3}, {"action": "wave", "count": 2, "side": "right"}, {"action": "walk_backward", "duration": 2.5}],
        [{"action": "stand_up"}, {"action": "turn", "angle": 90, "direction": "left"}, {"action": "sit_down"}],
        [{"action": "squat", "count": 2}, {"action": "kick", "count": 1, "side": "left"}],
        [{"action": "jumping_jacks", "count": 2}, {"action": "spin", "count": 1, "direction": "right"}],
    ],
)
def test_sequences_pass_with_their_order(specs):
    j, label = clip(*specs, seed=5)
    score = score_clip(j, label)
    assert failed(score) == set(), score.failures()
    order = [c for c in score.checks if c.attribute == "order"]
    assert len(order) == 1 and order[0].status == "pass"
    starts = [s[0] for s in score.segments]
    assert starts == sorted(starts) and starts[0] == 0 and score.segments[-1][1] == len(j)


def test_same_looking_neighbours_share_a_segment_and_skip_the_order():
    j, label = clip({"action": "walk_forward", "duration": 2.5}, {"action": "jog_forward", "duration": 2.5})
    score = score_clip(j, label)
    assert failed(score) == set()
    assert score.segments[0] == score.segments[1] == (0, len(j))
    assert [c.status for c in score.checks if c.attribute == "order"] == ["n/a"]


def test_dropping_one_jump_fails_only_the_count():
    j, label = clip({"action": "jump_in_place", "count": 3})
    ev = label["actions"][0]["events"]
    broken = cut_frames(j, (ev[0] + ev[1]) // 2, (ev[1] + ev[2]) // 2)
    score = score_clip(broken, label)
    assert failed(score) == {("jump_in_place", "count")}
    check = next(c for c in score.checks if c.attribute == "count")
    assert (check.measured, check.expected) == (2, 3)
    assert "counted 2 jumps, expected 3" in score.failures()[0]


def test_dropping_one_squat_in_a_sequence_fails_only_its_count():
    j, label = clip({"action": "walk_forward", "duration": 3.0}, {"action": "squat", "count": 3}, seed=2)
    ev = label["actions"][1]["events"]
    score = score_clip(cut_frames(j, (ev[0] + ev[1]) // 2, (ev[1] + ev[2]) // 2), label)
    assert failed(score) == {("squat", "count")}


@pytest.mark.parametrize(
    ("spec", "attr"),
    [
        ({"action": "wave", "count": 2, "side": "right"}, "side"),
        ({"action": "hop", "count": 2, "side": "left"}, "side"),
        ({"action": "kick", "count": 2, "side": "right"}, "side"),
        ({"action": "punch", "count": 3, "side": "left"}, "side"),
        ({"action": "throw", "side": "left"}, "side"),
        ({"action": "arm_circles", "count": 2, "side": "right"}, "side"),
        ({"action": "raise_arms", "side": "left", "direction": "forward"}, "side"),
        ({"action": "walk_sideways", "direction": "left", "duration": 3.0}, "direction"),
        ({"action": "turn", "angle": 90, "direction": "left"}, "direction"),
        ({"action": "spin", "count": 1, "direction": "right"}, "direction"),
    ],
)
def test_mirroring_fails_only_the_side_or_direction(spec, attr):
    j, label = clip(spec)
    assert failed(score_clip(j, label)) == set()
    assert failed(score_clip(mirror(j), label)) == {(spec["action"], attr)}


def test_reversed_time_turns_walking_forward_into_backward():
    j, label = clip({"action": "walk_forward", "duration": 3.0})
    score = score_clip(j[::-1].copy(), label)
    assert failed(score) == {("walk_forward", "direction")}
    assert next(c for c in score.checks if c.attribute == "direction").measured == "backward"


def test_a_smaller_turn_fails_only_the_angle():
    j, label = clip({"action": "turn", "angle": 180, "direction": "left"})
    score = score_clip(scale_turn(j, 0.4), label)
    assert failed(score) == {("turn", "angle")}
    angle = next(c for c in score.checks if c.attribute == "angle")
    assert abs(angle.measured - 72) <= 10 and angle.expected == 180


def test_seated_throughout_fails_the_sit_down_and_the_start_posture():
    """The default model's "a person sits down": seated from the first frame to the last."""
    j, label = clip({"action": "sit_down"})
    score = score_clip(np.repeat(j[-1:], len(j), axis=0), label)
    assert failed(score) == {("sit_down", "present"), (None, "start_posture")}
    start = next(c for c in score.checks if c.attribute == "start_posture")
    assert (start.measured, start.expected) == ("seated", "standing")


def test_one_arm_out_of_phase_fails_only_arms_in_phase():
    j, label = clip({"action": "jumping_jacks", "count": 3}, shortest=True)
    ev = label["actions"][0]["events"]
    score = score_clip(shift_right_arm(j, (ev[1] - ev[0]) // 2), label)
    assert failed(score) == {("jumping_jacks", "arms_in_phase")}
    assert next(c for c in score.checks if c.attribute == "arms_in_phase").measured < 0.8


def test_swapped_actions_fail_only_the_order():
    j, label = clip({"action": "jump_in_place", "count": 2}, {"action": "wave", "count": 2, "side": "right"})
    assert failed(score_clip(j, label)) == set()
    score = score_clip(swap_at(j, label["actions"][1]["span"][0]), label)
    assert failed(score) == {(None, "order")}
    assert score.segments[1][0] < score.segments[0][0]  # each action was found where it now is


def test_a_missing_action_fails_its_presence_and_the_order():
    j, label = clip({"action": "jump_in_place", "count": 2}, {"action": "wave", "count": 2, "side": "right"})
    t = label["actions"][1]["span"][0]
    still = np.concatenate([j[:t], np.repeat(j[t : t + 1], len(j) - t, axis=0)])  # no wave: stands still
    got = failed(score_clip(still, label))
    assert ("wave", "present") in got and (None, "order") in got
    assert not any(action == "jump_in_place" for action, _ in got)


# ------------------------------------------------------------------------------------------ circle path length
def heading_signals(heading_deg: float, speed: float, turn: float, frames: int = 41) -> Signals:
    """Signals of a pelvis gliding at ``speed`` m/s toward ``heading_deg`` in its body frame (0 = forward,
    90 = left) while the facing turns by ``turn`` radians (the circle detector reads only these)."""
    h = np.radians(heading_deg)
    vel = np.tile([speed * np.sin(h), speed * np.cos(h)], (frames, 1))
    vel[0] = 0.0
    zeros = np.zeros((frames, 22, 3))
    return Signals(zeros, zeros, np.linspace(0.0, turn, frames), vel, np.zeros((frames, 2)))


@pytest.mark.parametrize("heading", [0.0, 30.0, 45.0, 90.0, 135.0])
def test_the_circle_path_is_its_true_length_whatever_the_heading(heading):
    """0.45 m of path (under the 0.5 m a circle needs) is 0.45 m whichever way the body moves: a diagonal path
    measured as |left| + |forward| read 0.64 m and passed."""
    sig = heading_signals(heading, speed=0.225, turn=0.6)  # 2 s at 0.225 m/s = 0.45 m
    assert path_length(sig, 0, sig.T) == pytest.approx(0.45)
    m = circle(sig, 0, sig.T, {"action": "walk_circle", "direction": "left"})
    assert m.notes["present"].startswith("path 0.45 m")
    assert m.values["present"] is False
    assert circle(heading_signals(heading, speed=0.3, turn=0.6), 0, sig.T, {}).values["present"] is True
