"""Find where each action of a sequence happens in a motion, and in which order.

A generated motion has the clip's length but no spans, so the spans are found from the motion itself:

1. every action gets a per-frame *evidence* in [0, 1] from a few kinematic cues (moving forward,
   turning left, airborne, pelvis low, left wrist up beside the head, ...): the rule of :data:`EVIDENCE`
   that its entry in the action table (:mod:`moscale_cli.data.synth.vocabulary`) names;
2. consecutive actions with the same evidence (walk then jog forward) form one group and share a segment;
3. a dynamic programme cuts the clip into one contiguous segment per group, in a given order, each at
   least ``MIN_SEG`` frames long, maximising the summed evidence of each segment's group;
4. the cut is made for every order of the groups that reads differently; the order with the highest
   score (the program's order on ties) gives every action its segment, and the order check passes when
   that order is the program's.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from moscale_cli.data.synth.vocabulary import SIDE_LIMBS, action_def
from moscale_cli.evaluation.program.detectors import flights, posture_frames
from moscale_cli.evaluation.program.signals import FPS, Signals, smooth, torso_angles
from moscale_cli.motion.skeleton import L_ANKLE, L_WRIST, R_ANKLE, R_WRIST

MIN_SEG = 10  # frames (0.5 s): the shortest segment the cut may give an action


def soft(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """0 below ``lo``, 1 above ``hi``, linear in between."""
    return np.clip((np.asarray(x, dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0)


def dilate(mask: np.ndarray, r: int) -> np.ndarray:
    m = np.asarray(mask, dtype=bool)
    out = m.copy()
    for k in range(1, r + 1):
        out[k:] |= m[:-k]
        out[:-k] |= m[k:]
    return out


class Cues:
    """Smoothed per-frame cues the evidence functions combine (computed once per clip)."""

    def __init__(self, sig: Signals) -> None:
        self.sig = sig
        v = smooth(sig.vel, 3.0)
        self.fwd, self.left = v[:, 1], v[:, 0]
        self.speed = np.hypot(v[:, 0], v[:, 1])
        self.yaw_rate = smooth(np.gradient(sig.yaw) * FPS, 3.0)
        self.lift = smooth(sig.foot_h.max(1), 2.0)
        self.foot = [smooth(sig.foot_h[:, s], 1.0) for s in (0, 1)]
        self.ankle_z = [smooth(sig.local[:, a, 2], 1.0) for a in (L_ANKLE, R_ANKLE)]
        self.flight = _flight_mask(sig)
        self.air = smooth(dilate(self.flight, 9).astype(np.float64), 1.0)
        self.lift_max = _window_max(sig.foot_h.max(1), 8)
        self.hand_gap = np.linalg.norm(sig.local[:, L_WRIST] - sig.local[:, R_WRIST], axis=-1)
        self.wrist_vz = [smooth(np.gradient(sig.arm(s)[:, 2]) * FPS, 1.0) for s in (0, 1)]
        self.low = soft(0.9 - sig.pelvis_h, 0.05, 0.2)
        self.arm = [smooth(sig.arm(s), 1.0) for s in (0, 1)]  # wrist - shoulder: out, up, forward
        self.wrist_v = [smooth(np.linalg.norm(np.gradient(sig.arm(s), axis=0), axis=-1) * FPS, 2.0) for s in (0, 1)]
        pitch, _ = torso_angles(sig)
        self.pitch = pitch
        self.spread = smooth(np.abs(sig.local[:, L_ANKLE, 0] - sig.local[:, R_ANKLE, 0]), 1.0)
        self.jacks_zone = smooth(dilate(self.spread > 0.4, 10).astype(np.float64), 2.0)
        self.jump_fwd_zone = smooth(dilate(self.flight & (self.fwd > 0.3), 9).astype(np.float64), 2.0)
        self.spinning = soft(np.abs(self.yaw_rate), 1.5, 2.5)
        self.seated = (posture_frames(sig) == 1).astype(np.float64)
        dh = smooth(np.gradient(sig.pelvis_h) * FPS, 2.0)
        self.descend = soft(-dh, 0.1, 0.3)
        self.rise = soft(dh, 0.1, 0.3)
        rel = sig.local - sig.local[:, :1]
        jv = np.linalg.norm(np.gradient(rel, axis=0), axis=-1).mean(1) * FPS
        self.activity = smooth(jv, 2.0) + self.speed + np.abs(self.yaw_rate) * 0.3

    def x(self, s: int) -> np.ndarray:
        return self.arm[s][:, 0]

    def y(self, s: int) -> np.ndarray:
        return self.arm[s][:, 1]

    def z(self, s: int) -> np.ndarray:
        return self.arm[s][:, 2]


def _window_max(x: np.ndarray, r: int) -> np.ndarray:
    pad = np.concatenate([np.full(r, x[0]), x, np.full(r, x[-1])])
    return np.lib.stride_tricks.sliding_window_view(pad, 2 * r + 1).max(-1)


def _flight_mask(sig: Signals) -> np.ndarray:
    m = np.zeros(sig.T, dtype=bool)
    for a, b in flights(sig):
        m[a:b] = True
    return m


def _sides(side: str | None) -> tuple[int, ...]:
    """The limbs a label's side names (both when it names none)."""
    return SIDE_LIMBS.get(side or "both", (0, 1))


def _sign(direction: str | None) -> float:
    return 1.0 if direction == "left" else -1.0


def _band(x: np.ndarray, lo: float, hi: float, ramp: float) -> np.ndarray:
    """1 inside [lo, hi], falling to 0 over ``ramp`` outside."""
    return soft(x, lo - ramp, lo) * (1.0 - soft(x, hi, hi + ramp))


def _each(side: str | None, f: Callable[[int], np.ndarray]) -> np.ndarray:
    """Evidence that holds for every arm/leg the action names (the weakest of them)."""
    return np.min([f(s) for s in _sides(side)], axis=0)


def _straight(c: Cues) -> np.ndarray:
    return 1.0 - soft(np.abs(c.yaw_rate), 0.3, 0.7)


def _climb(c: Cues) -> np.ndarray:  # slow forward steps with feet lifted high
    return soft(c.lift_max, 0.15, 0.2) * soft(c.fwd, 0.05, 0.15) * (1 - soft(c.fwd, 0.8, 1.2))


def _forward(c: Cues) -> np.ndarray:  # moving forward on the ground, not climbing
    return soft(c.fwd, 0.15, 0.5) * _straight(c) * (1 - c.air) * (1 - _climb(c))


def _walking(c: Cues) -> np.ndarray:  # not spinning on the spot (the body-frame velocity swings then)
    return 1 - c.spinning


def _hop(c: Cues, side: str | None) -> np.ndarray:  # the other foot held up (>= 9 frames), hopping nearby
    s = _sides(side)[0]
    held = (-_window_max(-(c.foot[1 - s] - c.foot[s]), 4) > 0.1) & dilate(c.flight, 12)
    return smooth(dilate(held, 8).astype(np.float64), 2.0)


def _march(c: Cues) -> np.ndarray:  # both feet lifted high within +-8 frames, on the ground, on the spot
    both = np.minimum(_window_max(c.foot[0], 8), _window_max(c.foot[1], 8))
    return soft(both, 0.08, 0.12) * (1 - c.air) * (1 - soft(c.speed, 0.2, 0.5))


def _jacks(c: Cues) -> np.ndarray:  # feet apart with both hands up (within +-10 frames)
    up = (c.spread > 0.4) & (c.y(0) > 0.0) & (c.y(1) > 0.0)
    return smooth(dilate(up, 10).astype(np.float64), 2.0)


def _clap(c: Cues) -> np.ndarray:  # hands meeting in front of the body (within the last/next 8 frames)
    touch = (c.hand_gap < 0.15) & (c.z(0) > 0.15) & (c.z(1) > 0.15)
    return smooth(dilate(touch, 8).astype(np.float64), 2.0)


def _throw(c: Cues, side: str | None) -> np.ndarray:  # the hand thrust forward from above the shoulder
    s = _sides(side)[0]
    return smooth(dilate((c.wrist_vz[s] > 1.5) & (c.y(s) > 0.15), 12).astype(np.float64), 2.0)


def _deep(c: Cues) -> np.ndarray:  # pelvis at crouching depth (a squat's bottom stays higher)
    return soft(0.5 - c.sig.pelvis_h, 0.0, 0.06)


def _kick(c: Cues, side: str | None) -> np.ndarray:  # a foot swung high in front (around the kick)
    s = _sides(side)[0]
    up = (c.foot[s] > 0.2) & (c.ankle_z[s] > 0.3)
    return smooth(dilate(up, 8).astype(np.float64), 2.0)


def _wave(c: Cues, s: int) -> np.ndarray:  # hand up beside the head (wrist 10-45 cm above the shoulder, out)
    return _band(c.y(s), 0.12, 0.42, 0.08) * soft(c.x(s), 0.05, 0.15)


def _raise(c: Cues, s: int, direction: str | None) -> np.ndarray:
    level = _band(c.y(s), -0.12, 0.15, 0.1)  # arm held near shoulder height
    if direction == "forward":
        return soft(c.z(s), 0.3, 0.42) * level
    if direction == "sideways":
        return soft(c.x(s), 0.3, 0.42) * level * (1 - soft(c.wrist_v[s], 0.3, 0.6))
    return soft(c.y(s), 0.3, 0.42)


def _punch(c: Cues) -> np.ndarray:  # fists up at the chin (guard) or a fist thrust forward
    guard = _each("both", lambda s: _band(c.y(s), 0.0, 0.2, 0.05) * _band(c.z(s), 0.15, 0.32, 0.05))
    strike = np.max([soft(c.z(s), 0.38, 0.45) * _band(c.y(s), -0.1, 0.2, 0.1) for s in (0, 1)], axis=0)
    return np.maximum(guard, strike)


def _idle(c: Cues) -> np.ndarray:  # still and in the neutral pose
    neutral = (c.sig.pelvis_h > 0.8) * _each("both", lambda s: 1 - soft(c.y(s), -0.4, -0.3))
    neutral = neutral * (1 - soft(c.lift_max, 0.04, 0.08)) * (1 - soft(c.pitch, 0.15, 0.25))
    return (1.0 - soft(c.activity, 0.15, 0.4)) * neutral


EvidenceFn = Callable[[Cues, dict], np.ndarray]


@dataclass(frozen=True)
class Evidence:
    """An evidence rule: ``fn(cues, spec)`` gives the per-frame evidence of an action (its label ``spec``);
    ``fields`` are the label fields it depends on. Two actions whose rule and values of those fields are
    equal look alike to the cut (their key is equal)."""

    fn: EvidenceFn
    fields: tuple[str, ...] = ()


# evidence rule name (the action table's ``evidence``) -> rule
EVIDENCE: dict[str, Evidence] = {
    "forward": Evidence(lambda c, s: _forward(c)),
    "backward": Evidence(lambda c, s: soft(-c.fwd, 0.15, 0.5) * _walking(c)),
    "lateral": Evidence(
        lambda c, s: soft(_sign(s.get("direction")) * c.left, 0.1, 0.3) * _walking(c), ("direction",)
    ),
    "circle": Evidence(
        lambda c, s: soft(c.speed, 0.3, 0.8) * soft(_sign(s.get("direction")) * c.yaw_rate, 0.15, 0.4) * _walking(c),
        ("direction",),
    ),
    "march": Evidence(lambda c, s: _march(c)),
    "climb": Evidence(lambda c, s: _climb(c)),
    "turn": Evidence(
        lambda c, s: soft(_sign(s.get("direction")) * c.yaw_rate, 0.3, 1.0)
        * (1 - soft(c.speed, 0.4, 1.0) * (1 - c.spinning))
        * (1 - 0.5 * soft(np.abs(c.yaw_rate), 3.0, 4.5)),
        ("direction",),
    ),
    "spin": Evidence(lambda c, s: soft(_sign(s.get("direction")) * c.yaw_rate, 2.5, 4.0), ("direction",)),
    "jump": Evidence(
        lambda c, s: c.air * (1 - soft(np.abs(c.foot[0] - c.foot[1]), 0.08, 0.15)) * (1 - c.jacks_zone) * (1 - c.jump_fwd_zone),
    ),
    "jump_forward": Evidence(lambda c, s: c.jump_fwd_zone),
    "hop": Evidence(lambda c, s: _hop(c, s.get("side")), ("side",)),
    "jacks": Evidence(lambda c, s: _jacks(c)),
    "wave": Evidence(lambda c, s: _each(s.get("side"), lambda k: _wave(c, k)), ("side",)),
    "raise": Evidence(
        lambda c, s: _each(s.get("side"), lambda k: _raise(c, k, s.get("direction"))), ("side", "direction")
    ),
    "arm_circles": Evidence(
        lambda c, s: _each(s.get("side"), lambda k: soft(c.x(k), 0.3, 0.4) * soft(c.wrist_v[k], 0.3, 0.6)), ("side",)
    ),
    "clap": Evidence(lambda c, s: _clap(c)),
    "punch": Evidence(lambda c, s: _punch(c)),
    "kick": Evidence(lambda c, s: _kick(c, s.get("side")), ("side",)),
    "squat": Evidence(lambda c, s: c.low * (1 - c.seated) * (1 - _deep(c))),
    "crouch": Evidence(lambda c, s: _deep(c) * (1 - c.seated)),
    "sit_down": Evidence(lambda c, s: np.maximum(0.5 * c.seated, c.descend)),
    "stand_up": Evidence(lambda c, s: np.maximum(0.5 * c.seated, c.rise)),
    "bow": Evidence(lambda c, s: soft(c.pitch, 0.2, 0.45) * (c.sig.pelvis_h > 0.75)),
    "stretch": Evidence(lambda c, s: _each("both", lambda k: soft(c.y(k), 0.3, 0.42))),
    "throw": Evidence(lambda c, s: _throw(c, s.get("side")), ("side",)),
    "idle": Evidence(lambda c, s: _idle(c)),
}


def evidence(sig: Signals, actions: list[dict], cues: Cues | None = None) -> tuple[np.ndarray, list[tuple]]:
    """(N, T) per-frame evidence of each action of the program and each action's evidence key (the rule's
    name and the values of its fields)."""
    c = cues if cues is not None else Cues(sig)
    rows, keys = [], []
    for spec in actions:
        name = action_def(spec["action"]).evidence
        rule = EVIDENCE[name]
        rows.append(np.clip(np.asarray(rule.fn(c, spec), dtype=np.float64), 0.0, 1.0))
        keys.append((name, *(spec.get(f) for f in rule.fields)))
    return np.stack(rows), keys


def best_cut(E: np.ndarray, min_seg: int = MIN_SEG) -> tuple[float, list[tuple[int, int]]]:
    """Cut frames ``[0, T)`` into ``N`` contiguous segments in row order maximising the summed evidence
    of each segment's row. Returns the score and the segments ``[start, end)``."""
    n, T = E.shape
    m = max(1, min(min_seg, T // n))
    C = np.concatenate([np.zeros((n, 1)), np.cumsum(E, axis=1)], axis=1)  # C[i, t] = sum E[i, :t]
    NEG = -np.inf
    dp = np.full((n + 1, T + 1), NEG)
    arg = np.zeros((n + 1, T + 1), dtype=np.int64)
    dp[0, 0] = 0.0
    for i in range(1, n + 1):
        for t in range(i * m, T + 1):
            s = np.arange((i - 1) * m, t - m + 1)
            cand = dp[i - 1, s] - C[i - 1, s] + C[i - 1, t]
            k = int(np.argmax(cand))
            dp[i, t], arg[i, t] = cand[k], s[k]
    segs, t = [], T
    for i in range(n, 0, -1):
        s = int(arg[i, t])
        segs.append((s, t))
        t = s
    return float(dp[n, T]), segs[::-1]


def groups(keys: list[tuple]) -> list[list[int]]:
    """Runs of consecutive actions with the same evidence key (e.g. walk then jog forward): the cut cannot
    place a boundary between them, so they share one segment."""
    out: list[list[int]] = []
    for i, k in enumerate(keys):
        if out and keys[out[-1][-1]] == k:
            out[-1].append(i)
        else:
            out.append([i])
    return out


@dataclass
class Cut:
    """Where each action of a program was found, and in which order."""

    segments: list[tuple[int, int]]  # per program action, [start, end); actions of one group share theirs
    program_score: float  # summed evidence of the best cut in the program's order
    best_other_score: float | None  # the same for the best other order that reads differently (None: none)
    in_order: bool | None  # the program's order explains the motion best (None: no other order to compare)


def cut_program(sig: Signals, actions: list[dict], cues: Cues | None = None) -> Cut:
    """Cut the motion in every order of the program's action groups that reads differently, keep the order
    that explains it best (the program's order wins ties) and give each action that order's segment."""
    if len(actions) == 1:
        return Cut([(0, sig.T)], 0.0, None, None)
    E, keys = evidence(sig, actions, cues)
    grp = groups(keys)
    Eg = E[[g[0] for g in grp]]
    kg = [keys[g[0]] for g in grp]
    own, best_segs = best_cut(Eg)
    best, best_perm = own, list(range(len(grp)))
    other: float | None = None
    seen = {tuple(kg)}
    for perm in itertools.permutations(range(len(grp))):
        ks = tuple(kg[i] for i in perm)
        if ks in seen:
            continue
        seen.add(ks)
        score, segs = best_cut(Eg[list(perm)])
        other = score if other is None else max(other, score)
        if score > best + 1e-6:
            best, best_perm, best_segs = score, list(perm), segs
    out: list[tuple[int, int]] = [(0, 0)] * len(actions)
    for pos, g in enumerate(best_perm):
        for i in grp[g]:
            out[i] = best_segs[pos]
    in_order = None if other is None else best_perm == list(range(len(grp)))
    return Cut(out, own, other, in_order)
