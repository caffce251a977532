"""Kinematic detectors: what one action did inside a span of frames ``[a, b)`` of a motion.

Every detector reads :class:`~moscale_cli.evaluation.program.signals.Signals` and returns the measured
value of each attribute it knows (``present``, ``count``, ``side``, ``direction``, ``angle``,
``arms_in_phase``). :data:`DETECTORS` holds them by name; the action table
(:mod:`moscale_cli.data.synth.vocabulary`) names each action's detector and the attributes checked,
:mod:`.table` says against what.
Events (flights, dips, claps...) are found on the whole clip and attributed to the span that holds their
middle frame, so an event cut by a span boundary is still counted once, in one span.

Thresholds are in metres, radians and frames at 20 fps, for the HumanML3D skeleton (pelvis ~0.95 m
above the floor when upright); docs/program-eval.md lists them with what each one separates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.signal import find_peaks

from moscale_cli.data.synth.vocabulary import POSTURES
from moscale_cli.evaluation.program.signals import FPS, Signals, hysteresis, intervals, torso_angles
from moscale_cli.motion.skeleton import L_ANKLE, L_FOOT, L_WRIST, R_ANKLE, R_FOOT, R_WRIST

AIR_H = 0.04  # both feet this far above the floor = airborne (jog/run soles never reach it in the corpus)
STAND_MIN = 0.72  # pelvis at least this high = standing (upright ~0.95, squat bottom <= 0.62, seated ~0.5)
SEAT_FEET_FWD = 0.25  # below STAND_MIN: ankles this far ahead of the pelvis = seated, else crouched
TRAVEL_MIN = 0.15  # metres of travel for a locomotion to count as present
HOP_FOOT_UP = 0.05  # hop side: compare the feet over the frames where one of them is this high
IDLE_RUN = 1.0  # seconds of standing still that make an idle action present
SIDES = ("left", "right")


@dataclass
class Measured:
    """Measured attribute values of one action in its span, plus a short human-readable note each."""

    values: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def set(self, attr: str, value: Any, note: str) -> None:
        self.values[attr] = value
        self.notes[attr] = note


# ------------------------------------------------------------------------------------------ shared measures
def in_span(events: list[tuple[int, int]], a: int, b: int) -> list[tuple[int, int]]:
    """Intervals whose middle frame lies in ``[a, b)``."""
    return [iv for iv in events if a <= (iv[0] + iv[1] - 1) / 2 < b]


def peaks_in_span(x: np.ndarray, a: int, b: int, mask: np.ndarray | None = None, **kw: Any) -> np.ndarray:
    """Frames in ``[a, b)`` of peaks of ``x`` (scipy ``find_peaks`` on the whole clip; with ``mask``, on
    each run of True frames separately). A first or last frame is never a peak: a signal still rising
    when the clip (or the run) ends has not peaked."""
    runs = [(0, len(x))] if mask is None else intervals(mask, min_len=3)
    out = []
    for r0, r1 in runs:
        pk, _ = find_peaks(x[r0:r1], **kw)
        out.extend((pk + r0).tolist())
    pk = np.asarray(out, dtype=np.int64)
    return pk[(pk >= a) & (pk < b)]


def flights(sig: Signals) -> list[tuple[int, int]]:
    """Airborne intervals: both feet rise above ``AIR_H`` and stay above half of it (a dip that keeps
    them off the floor does not split a flight), with >= 2 frames above ``AIR_H``."""
    low = sig.foot_h.min(1)
    ivs = intervals(hysteresis(low, AIR_H, AIR_H / 2), min_len=2, max_gap=1)
    return [(a, b) for a, b in ivs if int((low[a:b] > AIR_H).sum()) >= 2]


def travel(sig: Signals, a: int, b: int) -> np.ndarray:
    """Displacement (left, forward) in metres over ``[a, b)``, integrated in each frame's body frame."""
    return sig.vel[a + 1 : b].sum(0) / FPS if b - a > 1 else np.zeros(2)


def path_length(sig: Signals, a: int, b: int) -> float:
    """Length in metres of the pelvis's ground path over ``[a, b)``: the sum of the per-frame speeds (the
    Euclidean norm of the body-frame velocity), whatever the heading (a diagonal step counts once)."""
    return float(np.linalg.norm(sig.vel[a + 1 : b], axis=-1).sum() / FPS) if b - a > 1 else 0.0


def travel_direction(disp: np.ndarray, min_dist: float = TRAVEL_MIN) -> str:
    """The dominant direction of a (left, forward) displacement, or "none" below ``min_dist``."""
    left, fwd = float(disp[0]), float(disp[1])
    if np.hypot(left, fwd) < min_dist:
        return "none"
    if abs(fwd) >= abs(left):
        return "forward" if fwd > 0 else "backward"
    return "left" if left > 0 else "right"


def turned(sig: Signals, a: int, b: int) -> float:
    """Yaw change over ``[a, b)`` in radians (+ = to the left)."""
    return float(sig.yaw[max(b - 1, a)] - sig.yaw[a])


def posture_frames(sig: Signals) -> np.ndarray:
    """(T,) per-frame posture: 0 standing, 1 seated, 2 crouched (the order of POSTURES; see STAND_MIN,
    SEAT_FEET_FWD)."""
    h = sig.pelvis_h
    feet_fwd = 0.5 * (sig.local[:, L_ANKLE, 2] + sig.local[:, R_ANKLE, 2])
    out = np.where(feet_fwd > SEAT_FEET_FWD, 1, 2)
    return np.where(h >= STAND_MIN, 0, out)


def posture_at(sig: Signals, a: int, b: int) -> str:
    """Majority posture over the frames ``[a, b)``."""
    p = posture_frames(sig)[a:b]
    return POSTURES[int(np.bincount(p, minlength=3).argmax())]


def raised_frames(sig: Signals, side: int, a: int, b: int, min_rel: float) -> int:
    """Frames in ``[a, b)`` where the wrist is at least ``min_rel`` above its shoulder."""
    return int((sig.arm(side)[a:b, 1] > min_rel).sum())


def sides_of(flags: tuple[bool, bool]) -> str:
    if flags[0] and flags[1]:
        return "both"
    if flags[0]:
        return "left"
    if flags[1]:
        return "right"
    return "none"


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "es" if noun.endswith(("ch", "sh")) else "s")


# ------------------------------------------------------------------------------------------ detectors
def locomotion(sig: Signals, a: int, b: int, spec: dict) -> Measured:
    """Walk/jog/run forward, backward, sideways; side steps. Present = travels; direction = dominant
    component of the travel in the body frame."""
    m = Measured()
    d = travel(sig, a, b)
    dist = float(np.hypot(*d))
    m.set("present", dist >= TRAVEL_MIN, f"travelled {dist:.2f} m")
    direction = travel_direction(d)
    m.set("direction", direction, f"travelled {dist:.2f} m {direction} (left {d[0]:+.2f}, forward {d[1]:+.2f})")
    return m


def circle(sig: Signals, a: int, b: int, spec: dict) -> Measured:
    """Walk/jog/run in a circle: travels (path length >= 0.5 m) and turns (>= 0.35 rad); direction = turning
    direction; angle = |heading change| in degrees (a closed circle turns about 360)."""
    m = Measured()
    dist = path_length(sig, a, b)
    yaw = turned(sig, a, b)
    ok = dist >= 0.5 and abs(yaw) >= 0.35
    m.set("present", ok, f"path {dist:.2f} m, turned {np.degrees(yaw):+.0f} deg")
    m.set("direction", "left" if yaw > 0 else "right", f"turned {np.degrees(yaw):+.0f} deg (+ = left)")
    m.set("angle", round(float(np.degrees(abs(yaw)))), f"turned {np.degrees(abs(yaw)):.0f} deg")
    return m


def foot_lifts(sig: Signals, a: int, b: int, height: float) -> tuple[int, int]:
    """Lifts of each foot above ``height`` (intervals with their middle in the span)."""
    return tuple(
        len(in_span(intervals(hysteresis(sig.foot_h[:, f], height, height / 2), min_len=2), a, b)) for f in (0, 1)
    )  # type: ignore[return-value]


def march(sig: Signals, a: int, b: int, spec: dict) -> Measured:
    """Stepping in place: >= 3 foot lifts above 10 cm, each foot at least once; travel under 0.5 m."""
    m = Measured()
    lifts = foot_lifts(sig, a, b, 0.1)
    dist = float(np.hypot(*travel(sig, a, b)))
    ok = min(lifts) >= 1 and sum(lifts) >= 3 and dist < 0.5
    m.set("present", ok, f"foot lifts L{lifts[0]} R{lifts[1]} above 10 cm, travelled {dist:.2f} m")
    return m


def climb(sig: Signals, a: int, b: int, spec: dict) -> Measured:
    """High steps while moving forward: travels and lifts a foot above 15 cm (walking stays under 13 cm)."""
    m = locomotion(sig, a, b, spec)
    lifts = foot_lifts(sig, a, b, 0.15)
    ok = bool(m.values["present"]) and sum(lifts) >= 1
    m.set("present", ok, m.notes["present"] + f", foot lifts above 15 cm L{lifts[0]} R{lifts[1]}")
    return m


def turn(sig: Signals, a: int, b: int, spec: dict) -> Measured:
    """Turn in place: the facing changes by >= 45 deg; angle = |change|; direction = its sign."""
    m = Measured()
    yaw = turned(sig, a, b)
    deg = float(np.degrees(abs(yaw)))
    m.set("present", deg >= 45.0, f"turned {deg:.0f} deg")
    m.set("angle", round(deg), f"turned {deg:.0f} deg")
    m.set("direction", "left" if yaw > 0 else "right", f"turned {np.degrees(yaw):+.0f} deg (+ = left)")
    return m


def spin(sig: Signals, a: int, b: int, spec: dict) -> Measured:
    """Spins: count = full turns (|yaw change| / 360, rounded); direction = its sign."""
    m = Measured()
    yaw = turned(sig, a, b)
    turns = abs(yaw) / (2 * np.pi)
    n = int(np.floor(turns + 0.5))
    m.set("present", turns >= 0.75, f"turned {np.degrees(abs(yaw)):.0f} deg")
    m.set("count", n, f"turned {turns:.2f} full turns ({plural(n, 'spin')})")
    m.set("direction", "left" if yaw > 0 else "right", f"turned {np.degrees(yaw):+.0f} deg (+ = left)")
    return m


def jump(sig: Signals, a: int, b: int, spec: dict) -> Measured:
    """Jumps (in place, forward): count = airborne intervals; jump_forward also travels forward."""
    m = Measured()
    n = len(in_span(flights(sig), a, b))
    m.set("present", n >= 1, f"{plural(n, 'flight')}")
    m.set("count", n, f"counted {plural(n, 'jump')}")
    d = travel(sig, a, b)
    direction = travel_direction(d)
    m.set("direction", direction, f"travelled {np.hypot(*d):.2f} m {direction}")
    return m


def hop(sig: Signals, a: int, b: int, spec: dict) -> Measured:
    """Hops on one leg: count = airborne intervals; side = the supporting (lower) foot."""
    m = jump(sig, a, b, spec)
    m.notes["count"] = m.notes["count"].replace("jump", "hop")
    h = sig.foot_h[a:b]
    up = h.max(1) > HOP_FOOT_UP  # frames with a foot off the floor: standing frames before, between and after
    diff = float(np.mean(h[up, 0] - h[up, 1])) if up.any() else 0.0  # the hops say nothing about the leg
    side = "right" if diff > 0.06 else "left" if diff < -0.06 else "both"
    m.set("side", side, f"mean foot height L-R {diff:+.2f} m while a foot is up (the raised foot is not the hopping one)")
    return m


def _wrist_y(sig: Signals) -> tuple[np.ndarray, np.ndarray]:
    return sig.arm(0)[:, 1], sig.arm(1)[:, 1]


def jumping_jacks(sig: Signals, a: int, b: int, spec: dict) -> Measured:
    """Jumping jacks: count = leg spreads (ankles > 40 cm apart, until < 30 cm) and arm raises (each wrist
    > 20 cm above its shoulder, until < 5 cm) must all match; arms_in_phase = correlation of the two wrist
    heights."""
    m = Measured()
    spread = np.abs(sig.local[:, L_ANKLE, 0] - sig.local[:, R_ANKLE, 0])
    legs = len(in_span(intervals(hysteresis(spread, 0.4, 0.3), min_len=2, max_gap=1), a, b))
    yl, yr = _wrist_y(sig)
    arms = [len(in_span(intervals(hysteresis(y, 0.2, 0.05), min_len=2, max_gap=1), a, b)) for y in (yl, yr)]
    m.set("present", legs >= 1 and min(arms) >= 1, f"legs apart {legs}x, arms up L{arms[0]} R{arms[1]}")
    # the count is the number of jacks when legs and both arms agree, else the three numbers (never equal
    # to an expected count)
    count: int | str = legs if arms[0] == legs and arms[1] == legs else f"legs {legs}, arms {arms[0]}/{arms[1]}"
    m.set("count", count, f"legs apart {legs}x, left arm up {arms[0]}x, right arm up {arms[1]}x")
    in_phase(m, sig, a, b)
    return m


def in_phase(m: Measured, sig: Signals, a: int, b: int) -> None:
    """arms_in_phase: Pearson correlation of the left and right wrist heights (above the pelvis) over the
    span; 0 when either hand stays still (std < 1 mm)."""
    x, y = sig.wrist_h(0)[a:b], sig.wrist_h(1)[a:b]
    corr = 0.0 if len(x) < 3 or x.std() < 1e-3 or y.std() < 1e-3 else float(np.corrcoef(x, y)[0, 1])
    m.set("arms_in_phase", corr, f"left/right wrist height correlation {corr:.2f}")


def wave(sig: Signals, a: int, b: int, spec: dict) -> Measured:
    """Waves: side = wrists held above the shoulder (>= 6 frames); count = outward swings of the raised
    wrist (peaks of its lateral position, prominence >= 5 cm)."""
    m = Measured()
    up = tuple(raised_frames(sig, s, a, b, 0.05) >= 6 for s in (0, 1))
    side = sides_of(up)  # type: ignore[arg-type]
    m.set("side", side, f"hand(s) raised: {side}")
    counts = []
    for s in (0, 1):
        if not up[s]:
            continue
        arm = sig.arm(s)
        counts.append(len(peaks_in_span(arm[:, 0], a, b, mask=arm[:, 1] > 0.2, prominence=0.05)))
    n = max(counts) if counts else 0
    m.set("present", n >= 1, f"raised {side}, {plural(n, 'swing')}")
    m.set("count", n, f"counted {plural(n, 'wave')}")
    in_phase(m, sig, a, b)
    return m


def clap(sig: Signals, a: int, b: int, spec: dict) -> Measured:
    """Claps: minima of the wrist-to-wrist distance under 15 cm with >= 8 cm prominence."""
    m = Measured()
    gap = np.linalg.norm(sig.local[:, L_WRIST] - sig.local[:, R_WRIST], axis=-1)
    n = len(peaks_in_span(-gap, a, b, height=-0.15, prominence=0.08))
    m.set("present", n >= 1, f"{plural(n, 'clap')}")
    m.set("count", n, f"counted {plural(n, 'clap')}")
    return m


def revolutions(p: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Full turns of a 2-D path (N, 2) about the median centre of its ``mask`` frames (default: all),
    counting only masked frames within 0.4..1.8 times the median radius (a hand arriving or leaving does not
    add turns). Turns are summed over each run of such frames (a pause or a lowered arm in between does not
    join two runs). The centre and radius come from the frames where the path moves (> 0.3 m/s): a hand held
    still during a pause would pull the median toward where it waits."""
    mask = np.ones(len(p), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if mask.sum() < 4:
        return 0.0
    moving = mask & (np.linalg.norm(np.gradient(p, axis=0), axis=-1) * FPS > 0.3)
    ref = moving if moving.sum() >= 4 else mask
    d = p - np.median(p[ref], axis=0)
    r = np.linalg.norm(d, axis=-1)
    med = np.median(r[ref])
    keep = mask & (r > 0.4 * med) & (r < 1.8 * med)
    total = 0.0
    for u, v in intervals(keep, min_len=3):
        ang = np.unwrap(np.arctan2(d[u:v, 0], d[u:v, 1]))
        total += abs(ang[-1] - ang[0])
    return total / (2 * np.pi)


def arm_circles(sig: Signals, a: int, b: int, spec: dict) -> Measured:
    """Arm circles: side = arms lifted out (wrist above shoulder - 25 cm, >= 6 frames); count = full turns
    of the lifted wrist in the sagittal (up, forward) plane while the arm is out to the side (wrist > 30 cm
    out), rounded."""
    m = Measured()
    up = tuple(raised_frames(sig, s, a, b, -0.25) >= 6 for s in (0, 1))
    side = sides_of(up)  # type: ignore[arg-type]
    m.set("side", side, f"arm(s) lifted: {side}")
    turns = []
    for s in (0, 1):
        if not up[s]:
            continue
        arm = sig.arm(s)[a:b]
        out = (arm[:, 0] > 0.3) & (arm[:, 1] > -0.3)
        turns.append(revolutions(arm[:, 1:], out))
    t = max(turns) if turns else 0.0
    n = int(np.floor(t + 0.5))
    m.set("present", n >= 1, f"lifted {side}, {t:.2f} turns")
    m.set("count", n, f"counted {plural(n, 'arm circle')} ({t:.2f} turns)")
    in_phase(m, sig, a, b)
    return m


def raise_arms(sig: Signals, a: int, b: int, spec: dict) -> Measured:
    """Raise arm(s): side = wrists lifted above shoulder - 20 cm (>= 6 frames); direction from the lifted
    wrist's median position: up (> 25 cm above the shoulder), else forward or sideways, whichever is larger."""
    m = Measured()
    up = tuple(raised_frames(sig, s, a, b, -0.2) >= 6 for s in (0, 1))
    side = sides_of(up)  # type: ignore[arg-type]
    m.set("side", side, f"arm(s) raised: {side}")
    m.set("present", side != "none", f"arm(s) raised: {side}")
    pts = [sig.arm(s)[a:b][sig.arm(s)[a:b, 1] > -0.2] for s in (0, 1) if up[s]]
    if pts:
        p = np.median(np.concatenate(pts), axis=0)
        direction = "up" if p[1] > 0.25 else "forward" if p[2] > p[0] else "sideways"
        note = f"wrist at out {p[0]:+.2f}, up {p[1]:+.2f}, forward {p[2]:+.2f} m from the shoulder"
    else:
        direction, note = "none", "no arm raised"
    m.set("direction", direction, note)
    in_phase(m, sig, a, b)
    return m


def punch(sig: Signals, a: int, b: int, spec: dict) -> Measured:
    """Punches: forward extensions of each wrist (peaks of its forward position >= 42 cm ahead of the
    shoulder, prominence >= 12 cm); count = all of them; side = the arm(s) that punched."""
    m = Measured()
    per = [len(peaks_in_span(sig.arm(s)[:, 2], a, b, height=0.42, prominence=0.12)) for s in (0, 1)]
    side = sides_of((per[0] > 0, per[1] > 0))
    n = sum(per)
    m.set("present", n >= 1, f"{plural(n, 'punch')}")
    m.set("count", n, f"counted {plural(n, 'punch')} (L{per[0]} R{per[1]})")
    m.set("side", side, f"punched with: {side} (L{per[0]} R{per[1]})")
    return m


def kick(sig: Signals, a: int, b: int, spec: dict) -> Measured:
    """Kicks: peaks of a foot's height >= 25 cm while it is >= 20 cm ahead of the pelvis; side = that foot."""
    m = Measured()
    per = []
    for ank, foot in ((L_ANKLE, L_FOOT), (R_ANKLE, R_FOOT)):
        h = np.where(sig.local[:, ank, 2] > 0.2, sig.local[:, foot, 1], 0.0)
        per.append(len(peaks_in_span(h, a, b, height=0.25, prominence=0.1)))
    side = sides_of((per[0] > 0, per[1] > 0))
    n = sum(per)
    m.set("present", n >= 1, f"{plural(n, 'kick')}")
    m.set("count", n, f"counted {plural(n, 'kick')} (L{per[0]} R{per[1]})")
    m.set("side", side, f"kicked with: {side} (L{per[0]} R{per[1]})")
    return m


def squat(sig: Signals, a: int, b: int, spec: dict) -> Measured:
    """Squats: dips of the pelvis below 75 cm (>= 2 frames, until it is back above 80 cm)."""
    m = Measured()
    n = len(in_span(intervals(hysteresis(-sig.pelvis_h, -0.75, -0.8), min_len=2, max_gap=1), a, b))
    m.set("present", n >= 1, f"{plural(n, 'dip')} below 75 cm")
    m.set("count", n, f"counted {plural(n, 'squat')}")
    return m


def bow(sig: Signals, a: int, b: int, spec: dict) -> Measured:
    """Bows: the torso pitches forward > 0.45 rad (26 deg, until < 0.3 rad) while the pelvis stays above 75 cm."""
    m = Measured()
    pitch, _ = torso_angles(sig)
    bent = hysteresis(pitch, 0.45, 0.3) & (sig.pelvis_h > 0.75)
    n = len(in_span(intervals(bent, min_len=2, max_gap=1), a, b))
    m.set("present", n >= 1, f"{plural(n, 'bend')}")
    m.set("count", n, f"counted {plural(n, 'bow')}")
    return m


def _transition(sig: Signals, a: int, b: int, first: int, then: int) -> bool:
    p = posture_frames(sig)[a:b]
    hits = np.nonzero(p == first)[0]
    return bool(len(hits) and (p[hits[0] :] == then).any())


def sit_down(sig: Signals, a: int, b: int, spec: dict) -> Measured:
    """Sit down: a standing frame followed (later in the span) by a seated one."""
    m = Measured()
    ok = _transition(sig, a, b, 0, 1)
    m.set("present", ok, f"{posture_at(sig, a, min(a + 3, b))} -> {posture_at(sig, max(b - 3, a), b)}")
    return m


def stand_up(sig: Signals, a: int, b: int, spec: dict) -> Measured:
    """Stand up: a seated frame followed (later in the span) by a standing one."""
    m = Measured()
    ok = _transition(sig, a, b, 1, 0)
    m.set("present", ok, f"{posture_at(sig, a, min(a + 3, b))} -> {posture_at(sig, max(b - 3, a), b)}")
    return m


def crouch(sig: Signals, a: int, b: int, spec: dict) -> Measured:
    """Crouch: >= 3 crouched frames (pelvis under STAND_MIN, feet under it, not ahead as when seated)."""
    m = Measured()
    p = posture_frames(sig)[a:b]
    low = float(sig.pelvis_h[a:b].min()) if b > a else 0.0
    m.set("present", bool((p == 2).sum() >= 3), f"lowest pelvis {low:.2f} m, {int((p == 2).sum())} crouched frames")
    return m


def stretch(sig: Signals, a: int, b: int, spec: dict) -> Measured:
    """Stretch: both wrists > 30 cm above the shoulders (>= 5 frames); sideways = the torso leans > 0.12
    rad both to the left and to the right inside the span, else up."""
    m = Measured()
    yl, yr = _wrist_y(sig)
    both = int(((yl[a:b] > 0.3) & (yr[a:b] > 0.3)).sum())
    m.set("present", both >= 5, f"{both} frames with both hands overhead")
    _, roll = torso_angles(sig)
    r = roll[a:b] if b > a else np.zeros(1)
    direction = "sideways" if r.max() > 0.12 and r.min() < -0.12 else "up"
    m.set("direction", direction, f"torso lean {np.degrees(r.min()):+.0f}..{np.degrees(r.max()):+.0f} deg")
    in_phase(m, sig, a, b)
    return m


def throw(sig: Signals, a: int, b: int, spec: dict) -> Measured:
    """Throw: side = the wrist that travels clearly more (x1.5) in the body frame; present = it rises
    above the shoulder."""
    m = Measured()
    path = []
    for w in (L_WRIST, R_WRIST):
        p = sig.local[a:b, w]
        path.append(float(np.linalg.norm(np.diff(p, axis=0), axis=-1).sum()) if len(p) > 1 else 0.0)
    if path[0] > 1.5 * path[1]:
        side = "left"
    elif path[1] > 1.5 * path[0]:
        side = "right"
    else:
        side = "both"
    m.set("side", side, f"wrist paths L{path[0]:.2f} R{path[1]:.2f} m")
    s = 0 if side == "left" else 1
    top = float(sig.arm(s)[a:b, 1].max()) if b > a else -1.0
    m.set("present", side != "both" and top > 0.05, f"throwing wrist up to {top:+.2f} m from the shoulder")
    return m


def idle(sig: Signals, a: int, b: int, spec: dict) -> Measured:
    """Standing still: a run of quiet frames (both feet under 5 cm, pelvis > 80 cm, wrists below the
    shoulders, pelvis slower than 0.3 m/s, turning slower than 0.5 rad/s) of at least ``IDLE_RUN`` s (or 40 %
    of the span when that is shorter), over which the body travels < 30 cm and turns < 30 deg. (A still
    stretch somewhere in the span, not its whole: its ends may hold a neighbour's last or first steps.)"""
    m = Measured()
    yl, yr = _wrist_y(sig)
    speed = np.hypot(sig.vel[:, 0], sig.vel[:, 1])
    yaw_rate = np.abs(np.gradient(sig.yaw)) * FPS
    quiet = (
        (sig.foot_h.max(1) < 0.05)
        & (sig.pelvis_h > 0.8)
        & (np.maximum(yl, yr) < 0.0)
        & (speed < 0.3)
        & (yaw_rate < 0.5)
    )[a:b]
    runs = intervals(quiet, min_len=1)
    u, v = max(runs, key=lambda r: r[1] - r[0]) if runs else (0, 0)
    need = max(2, min(int(IDLE_RUN * FPS), int(0.4 * (b - a))))
    dist = float(np.hypot(*travel(sig, a + u, a + v))) if v > u else 0.0
    yaw = abs(turned(sig, a + u, a + v)) if v > u else 0.0
    ok = v - u >= need and dist < 0.3 and yaw < np.radians(30)
    m.set("present", bool(ok), f"stood still for {(v - u) / FPS:.1f} s (travelled {dist:.2f} m, turned {np.degrees(yaw):.0f} deg)")
    return m


Detector = Callable[[Signals, int, int, dict], Measured]
# detector name (the action table's ``detector``) -> function
DETECTORS: dict[str, Detector] = {
    f.__name__: f
    for f in (
        locomotion, circle, march, climb, turn, spin, jump, hop, jumping_jacks, wave, raise_arms, clap,
        squat, sit_down, stand_up, crouch, kick, punch, bow, stretch, throw, idle, arm_circles,
    )
}  # fmt: skip

__all__ = ["DETECTORS", "POSTURES", "Detector", "Measured", "flights", "path_length", "posture_at", "posture_frames"]
