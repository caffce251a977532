"""Corpus v3: clip lengths independent of the program, idle around and between actions, pauses and bouts,
continuous tempo; the labels (spans, events, natural length) stay true to the motion."""

from __future__ import annotations

import numpy as np
import pytest

from moscale_cli.data.synth import rig
from moscale_cli.data.synth.actions import Segment, generate_action, segment_frames
from moscale_cli.data.synth.compose import insert_pauses
from moscale_cli.data.synth.corpus import generate_clip
from moscale_cli.data.synth.program import (
    MAX_FRAMES,
    MIN_FRAMES,
    PACE,
    ActionSpec,
    Program,
    sample_program,
)
from moscale_cli.data.synth.timing import draw_length, min_frames, natural_frames, plan_clip
from moscale_cli.data.synth.vocabulary import VOCABULARY
from moscale_cli.errors import UsageError
from moscale_cli.evaluation.program.signals import compute_signals, torso_angles
from moscale_cli.motion.skeleton import SMPL22


def _spec(name: str, **kw) -> ActionSpec:
    d = VOCABULARY[name]
    args = dict(
        count=d.counts[-1] if d.counts else None,
        side=d.sides[-1] if d.sides else None,
        direction=d.directions[-1] if d.directions else None,
        angle=180 if d.angles else None,
        duration=3.0 if d.durations else None,
    )
    args.update(kw)
    return ActionSpec(name, **args)


def _rising(mask: np.ndarray) -> int:
    m = mask.astype(int)
    return int((np.diff(m) == 1).sum() + m[0])


@pytest.mark.parametrize("name", sorted(VOCABULARY))
def test_planned_lengths_are_the_generators_lengths(name):
    base = rig.neutral(np.random.default_rng(0))
    for count in VOCABULARY[name].counts or (None,):
        for speed in ("slow", "normal", "fast"):
            for style in (None, "energetic", "tired"):
                for pace in PACE:
                    spec = _spec(name, count=count, speed=speed, style=style, pace=pace)
                    seg = generate_action(spec, base, np.random.default_rng(1))
                    assert len(seg.P) == segment_frames(spec), (name, count, speed, style, pace)
                    want = (count - 1) if count is not None and name not in ("side_step", "spin") else len(seg.rests)
                    assert len(seg.rests) == want and all(0 < r < len(seg.P) - 1 for r in seg.rests)


@pytest.mark.parametrize(
    "program",
    [
        [ActionSpec("jumping_jacks", count=1)],
        [ActionSpec("jumping_jacks", count=5)],
        [ActionSpec("wave", count=4, side="both")],
        [ActionSpec("walk_forward", duration=3.0), ActionSpec("squat", count=2), ActionSpec("sit_down")],
        [ActionSpec("idle", duration=2.0), ActionSpec("clap", count=3)],
    ],
)
def test_a_clip_takes_any_length_from_its_minimum_to_9_8_s(program):
    prog = Program(program)
    lo = min_frames(prog)
    assert MIN_FRAMES <= lo <= MAX_FRAMES
    assert lo <= natural_frames(prog) <= MAX_FRAMES
    for k, frames in enumerate(sorted({lo, (lo + MAX_FRAMES) // 2, MAX_FRAMES})):
        clip = generate_clip(4, k, Program([ActionSpec(**a.to_dict() | {"span": None, "events": []}) for a in program]), frames=frames)
        assert clip.joints.shape[0] == clip.feats.shape[0] == frames
        for a, want in zip(clip.program.actions, program, strict=True):
            assert a.count == want.count  # never shortened
            if a.count is not None and a.action != "side_step":
                assert len(a.events) == a.count
            assert PACE[0] - 1e-9 <= a.pace <= PACE[1] + 1e-9


def test_below_the_minimum_is_refused_not_shortened():
    prog = Program([ActionSpec("jumping_jacks", count=4)])
    lo = min_frames(prog)
    assert lo > 40  # four jumping jacks do not fit in 2 s
    with pytest.raises(UsageError, match=f"{lo}..196"):
        generate_clip(0, 0, prog, frames=lo - 1)
    with pytest.raises(ValueError):
        plan_clip(prog, lo - 2, np.random.default_rng(0))


@pytest.mark.parametrize("count", [1, 4])
@pytest.mark.parametrize("frames", [None, 196])
def test_jumping_jack_count_holds_at_any_length(count, frames):
    """One jumping jack in 9.8 s is one jumping jack (the rest is idle), and so on."""
    clip = generate_clip(9, count, Program([ActionSpec("jumping_jacks", count=count)]), frames=frames)
    j = clip.joints
    hands_up = (j[:, 20, 1] > j[:, 15, 1]) & (j[:, 21, 1] > j[:, 15, 1])
    assert _rising(hands_up) == count
    assert _rising((j[:, [10, 11], 1] > 0.03).all(-1)) == 2 * count


def test_length_is_drawn_independently_of_the_count():
    """Every count is seen at every feasible length: the draw is uniform over [minimum, 196] (65 %) or near
    the natural length (35 %)."""
    rng = np.random.default_rng(0)
    for count in (1, 4):
        prog = Program([ActionSpec("jumping_jacks", count=count)])
        lengths = np.array([draw_length(prog, rng) for _ in range(600)])
        lo = min_frames(prog)
        assert lengths.min() == lo and lengths.max() == MAX_FRAMES
        third = (MAX_FRAMES - lo) / 3
        for k in range(3):  # each third of the feasible range holds at least a sixth of the clips
            inside = (lengths >= lo + k * third) & (lengths <= lo + (k + 1) * third)
            assert inside.mean() > 1 / 6, (count, k, inside.mean())


def test_pauses_hold_the_motion_and_keep_its_events():
    base = rig.neutral(np.random.default_rng(0))
    seg = generate_action(ActionSpec("wave", count=3, side="right"), base, np.random.default_rng(0))
    r = seg.rests[0]
    out = insert_pauses(seg, [(r, 15)])
    assert len(out.P) == len(seg.P) + 15
    # the events land on the same poses, the first one before the pause, the others 15 frames later
    np.testing.assert_allclose(out.P[out.events[0]], seg.P[seg.events[0]], atol=1e-9)
    assert out.events[1:] == [e + 15 for e in seg.events[1:]]
    for a, b in zip(out.events[1:], seg.events[1:], strict=True):
        np.testing.assert_allclose(out.P[a], seg.P[b], atol=1e-9)
    # the pose is held (idle weight 1) inside the pause, and the motion is intact before and after it
    still = out.still
    assert still is not None and still.max() == 1.0 and (still > 0.99).sum() >= 15 - 4
    np.testing.assert_allclose(out.P[: r - 4], seg.P[: r - 4])
    np.testing.assert_allclose(out.P[-(len(seg.P) - r - 4) :], seg.P[r + 4 :])
    held = out.P[still > 0.99]
    np.testing.assert_allclose(held, np.broadcast_to(seg.P[r], held.shape), atol=1e-12)  # exactly the rest pose
    for g in (2, 3, 5):  # any pause length holds the rest frame itself
        short = insert_pauses(seg, [(r, g)])
        assert len(short.P) == len(seg.P) + g
        np.testing.assert_allclose(short.P[short.still > 0.99], np.broadcast_to(seg.P[r], (int((short.still > 0.99).sum()), seg.P.shape[1])), atol=1e-12)


def test_an_idle_segment_is_idle_throughout():
    seg = generate_action(ActionSpec("idle", duration=2.0), rig.neutral(), np.random.default_rng(0))
    assert isinstance(seg, Segment) and seg.still is not None and (seg.still == 1).all()


# ------------------------------------------------------------------------------------------ labels
@pytest.fixture(scope="module")
def clips() -> list:
    return [generate_clip(21, i) for i in range(40)]


def _outside(clip) -> np.ndarray:
    cov = np.zeros(clip.joints.shape[0], dtype=bool)
    for a in clip.program.actions:
        cov[a.span[0] : a.span[1]] = True
    return ~cov


def test_labels_match_the_motion(clips):
    for clip in clips:
        T = clip.joints.shape[0]
        assert MIN_FRAMES <= clip.natural_frames <= MAX_FRAMES
        prev_end = 0
        for a in clip.program.actions:
            s0, s1 = a.span
            assert prev_end <= s0 < s1 <= T  # ordered, not overlapping
            prev_end = s1
            assert all(s0 <= e < s1 for e in a.events)
            if a.count is not None and a.action != "side_step":
                assert len(a.events) == a.count, (clip.name, a.action)
        label = clip.label(21, 0)
        assert label["natural_frames"] == clip.natural_frames and "pace" in label["actions"][0]


def test_outside_the_spans_the_person_stands_idle_and_never_freezes(clips):
    n_idle = 0
    for clip in clips:
        j = clip.joints.astype(np.float64)
        out = _outside(clip)[1:]
        if not out.any():
            continue
        n_idle += int(out.sum())
        speed = np.linalg.norm(np.diff(j, axis=0), axis=-1) * 20.0  # (T-1, 22) m/s
        assert speed.mean(1)[out].max() < 0.3, clip.name  # idle, not acting
        assert (j[1:, [10, 11], 1][out] < 0.03).all()  # feet on the floor
        # never a frozen pose: within every half second of idle something moves (breathing, sway, looking)
        idle = np.concatenate([[False], out])
        for t in range(len(j) - 10):
            if idle[t : t + 10].all():
                assert np.ptp(j[t : t + 10], axis=0).max() > 2e-3, (clip.name, t)
        # the planted feet do not slide while idle
        for side, foot in enumerate((10, 11)):
            planted = clip.contacts[1:, side] & clip.contacts[:-1, side] & out
            assert speed[planted, foot].max(initial=0.0) < 0.05
    assert n_idle > 500  # the corpus has idle frames to test


def test_idle_is_a_real_share_of_the_corpus(clips):
    share = np.mean([_outside(c).mean() for c in clips])
    assert 0.1 < share < 0.6


def test_bones_rigid_feet_planted_and_smooth(clips):
    parents = list(SMPL22.parents[1:])
    total = count = 0.0
    for clip in clips:
        j = clip.joints.astype(np.float64)
        bl = np.linalg.norm(j[:, 1:] - j[:, parents], axis=-1)
        np.testing.assert_allclose(bl, np.broadcast_to(SMPL22.bone_lengths[1:], bl.shape), atol=1e-5)
        step = np.linalg.norm(np.diff(j, axis=0), axis=-1) * 20.0
        assert step.max() < 12.0
        for side, foot in enumerate((10, 11)):
            planted = clip.contacts[1:, side] & clip.contacts[:-1, side]
            total += step[planted, foot].sum()
            count += planted.sum()
    # m/s; 0.0004 now, 0.0009 when an action's first step was blended with the idle before it, 0.0013 in corpus v2
    assert total / count < 0.0007


def test_programs_that_fit_no_clip_are_rare_and_drawn_again():
    rng = np.random.default_rng(3)
    too_long = sum(min_frames(sample_program(rng)) > MAX_FRAMES for _ in range(300))
    assert too_long < 30
    for i in range(20):
        clip = generate_clip(5, i)
        assert min_frames(clip.program) <= clip.joints.shape[0]


# ------------------------------------------------------------------------------------------ the motions
def _one(name: str, frames: int | None = 196, index: int = 0, **kw):
    clip = generate_clip(13, index, Program([_spec(name, **kw)]), frames=frames)
    return clip, compute_signals(clip.joints), clip.program.actions[0]


@pytest.mark.parametrize("style", [None, "tired", "energetic"])
def test_claps_bring_the_palms_together(style):
    for index, frames in enumerate((None, 196)):
        _, sig, a = _one("clap", frames, index, count=3, style=style)
        gap = np.linalg.norm(sig.local[:, 20] - sig.local[:, 21], axis=-1)
        assert all(gap[e] < 0.08 for e in a.events), [round(float(gap[e]), 3) for e in a.events]
        assert len(a.events) == 3


@pytest.mark.parametrize("side", ["left", "right", "both"])
def test_punches_retract_between_strikes(side):
    _, sig, a = _one("punch", None, 1, count=4, side=side)
    seq = [k % 2 for k in range(4)] if side == "both" else [0 if side == "left" else 1] * 4
    for k, e in enumerate(a.events[:-1]):
        s = seq[k]
        z = sig.arm(s)[:, 2]
        nxt = next((a.events[i] for i in range(k + 1, 4) if seq[i] == s), a.span[1])
        assert z[e] - z[e:nxt].min() > 0.2  # the fist comes back at least 20 cm toward the body


@pytest.mark.parametrize("count", [1, 2, 4])
def test_every_counted_wave_is_a_full_swing(count):
    from scipy.signal import find_peaks

    _, sig, a = _one("wave", None, count, count=count, side="right")
    x, y = sig.arm(1)[:, 0], sig.arm(1)[:, 1]
    up = y > 0.2
    peaks, _ = find_peaks(np.where(up, x, x.min()), prominence=0.1)
    assert len(peaks) == count  # the raise and the lowering add no swing
    prev = int(np.argmax(up))
    for e in a.events:
        assert x[e] - x[prev : e + 1].min() > 0.15  # out from beside the head, every time
        prev = e


@pytest.mark.parametrize("name", ["walk_circle", "jog_circle", "run_circle"])
def test_a_circle_closes(name):
    for index, frames in enumerate((None, 196)):
        _, sig, a = _one(name, frames, index, direction="left" if index else "right")
        s0, s1 = a.span
        deg = np.degrees(abs(sig.yaw[s1 - 1] - sig.yaw[s0]))
        assert 330 <= deg <= 390, deg


@pytest.mark.parametrize(("angle", "lo", "hi"), [(180, 150, 210), (90, 60, 120)])
def test_half_circles_and_arcs(angle, lo, hi):
    _, sig, a = _one("walk_circle", None, 2, angle=angle, direction="left")
    deg = np.degrees(sig.yaw[a.span[1] - 1] - sig.yaw[a.span[0]])
    assert lo <= deg <= hi


@pytest.mark.parametrize("style", [None, "tired"])
def test_bows_bend_the_upper_body_30_degrees(style):
    _, sig, a = _one("bow", None, 3, count=2, style=style)
    pitch, _ = torso_angles(sig)
    for e in a.events:
        assert np.degrees(pitch[e - 10 : e + 11].max()) >= 30
