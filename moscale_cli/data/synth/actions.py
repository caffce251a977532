"""Action generators: each turns an ActionSpec into pose channels (n, NP) starting and ending near the
standing pose (sitting down ends seated, standing up starts seated), plus the frames of its counted
events (jump apex, wave peak, clap, ...). Root motion is not generated here: the composer derives it
from the planted feet (contact channels), the yaw-rate channel and the airborne channels.

Each action's entry in the action table (:mod:`.vocabulary`) names its generator in :data:`GENERATORS`; a
generator shared by several actions tells them apart by their entries' fields (verb, manner, kind,
postures), not by their names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from moscale_cli.data.synth import rig
from moscale_cli.data.synth.curves import bump, gaussian_smooth, keys, smoothstep
from moscale_cli.data.synth.program import FPS, ActionSpec
from moscale_cli.data.synth.rig import (
    C_AIR,
    C_AIR_VZ,
    C_ARM,
    C_CONTACT,
    C_LEG,
    C_NECK_PITCH,
    C_NECK_YAW,
    C_PELVIS_PITCH,
    C_SPINE_PITCH,
    C_SPINE_ROLL,
    C_SPINE_YAW,
    C_YAW_RATE,
    STAND_H,
)
from moscale_cli.data.synth.vocabulary import SIDE_LIMBS, check_registry


@dataclass
class Segment:
    P: np.ndarray  # (n, NP)
    events: list[int] = field(default_factory=list)
    # frames where the motion may pause (between repetitions, or in a held pose): the composer holds the pose
    # there for a while (time warp) and lets the idle layer play over it
    rests: list[int] = field(default_factory=list)
    still: np.ndarray | None = None  # (n,) idle weight of the segment's own frames (None: 0, it acts throughout)


def frames(sec: float, tempo: float = 1.0) -> int:
    return max(2, int(round(sec * FPS / tempo)))


def hold(base: np.ndarray, n: int) -> np.ndarray:
    return np.repeat(base[None], n, 0).copy()


def arm_params(side: int, wrist, pole) -> np.ndarray:
    """(elev, azim, twist, elbow) for wrist targets relative to the shoulder (mirrored-left coords)."""
    e, a, t, el = rig.arm_ik(side, np.asarray(wrist, dtype=np.float64), np.asarray(pole, dtype=np.float64))
    return np.stack([e, a, t, el], -1)


def blend_arm(P: np.ndarray, side: int, target: np.ndarray, w: np.ndarray) -> None:
    """Blend arm channels of P toward per-frame targets (n,4) with weights w (n,)."""
    a = C_ARM[side]
    P[:, a : a + 4] = P[:, a : a + 4] * (1 - w[:, None]) + target * w[:, None]


def envelope(n: int, rise: int, fall: int) -> np.ndarray:
    t = np.arange(n, dtype=np.float64)
    return smoothstep(t / max(rise, 1)) * smoothstep((n - 1 - t) / max(fall, 1))


# ---------------------------------------------------------------------------------------------------
# locomotion
def gait(
    base: np.ndarray,
    n: int,
    cadence: float,
    stride: float,
    direction: tuple[float, float],
    beta: float,
    lift: float,
    yaw_rate: np.ndarray | None = None,
    arm_amp: float = 0.3,
    elbow: float = 0.3,
    lean: float = 0.0,
    knee_fwd: float = 0.0,
    push: float = 0.35,
) -> np.ndarray:
    """Stepping pattern: stance toes move linearly under the body (the composer's foot lock turns that
    into root motion), swing toes travel back with a lift; amplitude ramps in and out over one step.
    One more cycle follows the ``n`` frames: the feet step back under the body (to the standing pose)
    so that the next action starts from a planted, closed stance."""
    step_frames = FPS / cadence
    tail = _gait_tail(cadence)
    ramp = int(step_frames * 0.8 * (1.0 + stride * cadence / 2.0))  # ~0.7 s to reach running speed
    ramp = min(ramp, max(1, n // 2 - 1))
    env = np.concatenate([envelope(n, ramp, ramp), np.zeros(tail)])
    if yaw_rate is not None:
        yaw_rate = np.concatenate([yaw_rate, np.zeros(tail)])
    n = n + tail
    P = hold(base, n)
    t = np.arange(n) / FPS
    u0 = 0.75  # left foot starts its swing a little after the start
    dx, dz = direction
    half = stride * beta  # stance toe travel is +-half (stride = body travel per step)
    cyc = t * cadence / 2 + u0
    stance_any = np.zeros(n, dtype=bool)
    stance, still = [], []
    rate = env * 2.0 / (beta * 2 * step_frames)  # stance progress per frame (same for both feet)
    travel = np.concatenate([[0.0], np.cumsum(rate[1:])])
    for side in (0, 1):
        u = np.mod(cyc + 0.5 * side, 1.0)
        st = u < beta
        s_sw = (u - beta) / (1 - beta)
        s_st = u / beta
        prog, sepw, swing_amp = _stance_progress(st, s_sw, env, travel)
        sdx = dx if side == 0 else -dx  # mirrored coordinates for the right leg
        c = C_LEG[side]
        P[:, c] = base[c] + half * (sdx * prog + abs(dx) * sepw)
        P[:, c + 2] = base[c + 2] + half * dz * prog + env * np.where(st, 0.0, knee_fwd * np.sin(np.pi * s_sw))
        lift_c = np.where(st, 0.0, lift * np.sin(np.pi * np.clip(s_sw, 0, 1)) ** 1.5)
        P[:, c + 1] = base[c + 1] + np.maximum(env, swing_amp) * lift_c
        pitch = np.where(
            st,
            push * smoothstep((s_st - 0.55) / 0.45) - 0.12 * (1 - smoothstep(s_st / 0.2)),
            push + (-0.12 - push) * smoothstep(s_sw),
        )
        P[:, c + 3] = env * pitch
        stance.append(st)
        still.append(~st & (swing_amp < 1e-3) & (env < 1e-3))
        stance_any |= st
    for side in (0, 1):
        contact = stance[side] | still[side]
        P[:, C_CONTACT[side]] = contact.astype(np.float64)
    # arms swing against the legs
    phase_r = 2 * np.pi * np.mod(cyc + 0.5, 1.0)
    sgn = 1.0 if dz >= 0 else -1.0
    for side in (0, 1):
        a = C_ARM[side]
        ph = phase_r if side == 0 else phase_r + np.pi
        flex = 0.05 + env * (arm_amp * sgn * np.cos(ph) + 0.1 * elbow)
        abd = np.full(n, 0.16) + 0.1 * abs(dx) * env
        e, az = rig.arm_from_flex(flex, abd)
        P[:, a], P[:, a + 1] = e, az
        P[:, a + 3] = base[a + 3] + env * (elbow - base[a + 3])
    P[:, C_SPINE_PITCH] += env * lean
    P[:, C_SPINE_YAW] += env * 0.08 * arm_amp * np.cos(phase_r) * sgn
    if yaw_rate is not None:
        # turn while one foot carries the body: little yaw during double support (feet would skid)
        one = ~(stance[0] & stance[1])
        if stride > 0:  # walking a curve: keep the smoothing off double support (turns on the spot keep theirs:
            one[1:-1] &= one[:-2] & one[2:]  # a spin's yaw packed into fewer frames would whip the arms)
        single = gaussian_smooth(one.astype(np.float64), 0.6)
        total = yaw_rate.sum()
        shaped = yaw_rate * single
        P[:, C_YAW_RATE] = shaped * (total / shaped.sum()) if abs(shaped.sum()) > 1e-9 else yaw_rate
    return P


def _gait_tail(cadence: float) -> int:
    """Frames :func:`gait` adds after the stepping: the closing steps back under the body."""
    return int(np.ceil(2 * FPS / cadence)) + 3


def _stance_progress(
    st: np.ndarray, s_sw: np.ndarray, env: np.ndarray, travel: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Toe progress along the stride (+1 = landing spot at full amplitude) for one leg: during stance it
    decreases by the common ``travel`` (so both planted feet move alike), during swing it eases to the
    next landing spot; also the lateral separation weight (env at landing) and, on swing frames, how far
    that swing carries the foot (in stride units, at most 1: scales the foot lift)."""
    n = len(st)
    prog = np.zeros(n)
    sepw = np.zeros(n)
    amp = np.zeros(n)
    t = 0
    cur_p, cur_s = 0.0, 0.0
    while t < n:
        if st[t]:
            t_land = t
            p_land, s_land = env[t], env[t]
            while t < n and st[t]:
                prog[t] = p_land - (travel[t] - travel[t_land])
                sepw[t] = s_land
                t += 1
            cur_p, cur_s = prog[t - 1], s_land
        else:
            a = t
            while t < n and not st[t]:
                t += 1
            nxt_p = env[t] if t < n else 0.0
            w = smoothstep(s_sw[a:t])
            if t >= n:
                w = smoothstep(np.linspace(0, 1, t - a + 1)[1:]) if t > a else w
            elif a == 0 and len(w) and w[0] < 1:  # the first step out of standing starts where the foot stands
                w = (w - w[0]) / (1 - w[0])
            nxt_s = env[t] if t < n else 0.0
            prog[a:t] = cur_p + (nxt_p - cur_p) * w
            sepw[a:t] = cur_s + (nxt_s - cur_s) * w
            # a swing already under way at the first frame is the first step out of standing: its lift
            # follows the ramp-in (env), so the gait starts with both feet on the floor
            amp[a:t] = 0.0 if a == 0 else min(1.0, abs(nxt_p - cur_p) + abs(nxt_s - cur_s))
    return prog, sepw, amp


def _moving_frames(duration: float, cadence: float) -> int:
    """Frames of stepping for a locomotion of ``duration`` s (the closing steps add about one step)."""
    step = FPS / cadence
    return max(int(round(duration * FPS - step)), int(2 * step))


GAITS = {  # cadence (steps/s), stride (m/step), stance fraction, lift, arm swing, elbow, lean
    "walk": (1.85, 0.62, 0.6, 0.10, 0.3, 0.3, 0.03),
    "jog": (2.6, 0.85, 0.42, 0.16, 0.45, 1.4, 0.1),
    "run": (3.0, 1.05, 0.36, 0.22, 0.6, 1.55, 0.18),
}


def _loco_cadence(spec: ActionSpec) -> float:
    d = spec.definition
    cad = GAITS[d.verb][0] * spec.tempo**0.5
    return cad * {"backward": 0.85, "sideways": 0.75}.get(d.manner or "", 1.0)


def _len_locomotion(spec: ActionSpec) -> int:
    cad = _loco_cadence(spec)
    return _moving_frames(spec.duration or 3.0, cad) + _gait_tail(cad)


CIRCLE_JITTER = (0.96, 1.05)  # a full circle turns 346-378 degrees (a half 173-189, an arc 86-95)


def _locomotion(spec: ActionSpec, base: np.ndarray, rng: np.random.Generator) -> Segment:
    d = spec.definition
    kind, how = d.verb, d.manner  # gait (walk, jog, run) and path (forward, backward, sideways, circle)
    _cad, stride, beta, lift, arm, elbow, lean = GAITS[kind]
    tempo, amp = spec.tempo, spec.amp
    cad = _loco_cadence(spec)
    stride *= tempo**0.5 * amp**0.5 * rng.uniform(0.92, 1.08)
    n = _moving_frames(spec.duration or 3.0, cad)
    yaw = None
    direction = (0.0, 1.0)
    if how == "backward":
        direction, stride = (0.0, -1.0), stride * 0.6
    elif how == "sideways":
        direction = (1.0, 0.0) if spec.direction == "left" else (-1.0, 0.0)
        stride = stride * 0.5
    elif how == "circle":
        # the heading turns by the circle's angle (360: a closed circle; 180: a half circle; 90: an arc) over
        # the stepping, in proportion to the walking speed (the radius follows from the duration)
        turn = np.radians(spec.angle or 360) * rng.uniform(*CIRCLE_JITTER) * (1 if spec.direction == "left" else -1)
        shape = envelope(n, int(FPS / cad), int(FPS / cad))
        yaw = turn * shape / shape.sum()
    if spec.style == "tired":
        lean += 0.15
    P = gait(base, n, cad, stride, direction, beta, lift * amp, yaw, arm * amp, elbow, lean)
    if spec.style == "tired":
        P[:, C_NECK_PITCH] += 0.2
    return Segment(P)


def _len_march(spec: ActionSpec) -> int:
    cad = (1.8 if spec.definition.generator == "march" else 1.3) * spec.tempo  # march / climb
    return _moving_frames(spec.duration or 3.0, cad) + _gait_tail(cad)


def _march(spec: ActionSpec, base: np.ndarray, rng: np.random.Generator) -> Segment:
    cad = 1.8 * spec.tempo
    n = _moving_frames(spec.duration or 3.0, cad)
    P = gait(base, n, cad, 0.0, (0.0, 1.0), 0.55, 0.2 * spec.amp, None, 0.5 * spec.amp, 0.5, 0.0, knee_fwd=0.2)
    return Segment(P)


def _climb(spec: ActionSpec, base: np.ndarray, rng: np.random.Generator) -> Segment:
    cad = 1.3 * spec.tempo
    n = _moving_frames(spec.duration or 3.0, cad)
    P = gait(base, n, cad, 0.38, (0.0, 1.0), 0.6, 0.3 * spec.amp, None, 0.35, 0.6, 0.22, knee_fwd=0.22)
    P[:, C_NECK_PITCH] += 0.15
    return Segment(P)


def _side_step_frames(spec: ActionSpec) -> tuple[float, int]:
    cad = 1.5 * spec.tempo
    return cad, int(round(((spec.count or 2) + 0.6) * 2 / cad * FPS))


def _len_side_step(spec: ActionSpec) -> int:
    cad, n = _side_step_frames(spec)
    return n + _gait_tail(cad)


def _side_step(spec: ActionSpec, base: np.ndarray, rng: np.random.Generator) -> Segment:
    cad, n = _side_step_frames(spec)
    d = (1.0, 0.0) if spec.direction == "left" else (-1.0, 0.0)
    P = gait(base, n, cad, 0.3 * spec.amp, d, 0.6, 0.08, None, 0.05, 0.3, 0.0, push=0.15)
    return Segment(P)


def _turn_timing(spec: ActionSpec) -> tuple[float, float, int]:
    """(signed angle in rad, cadence, stepping frames) of a turn or a spin."""
    sign = 1 if spec.direction == "left" else -1
    if spec.definition.counted:  # a counted turn is a spin: count full turns
        angle, dur, cad = 2 * np.pi * (spec.count or 1) * sign, 0.3 + 1.1 * (spec.count or 1), 2.8
    else:
        angle = np.radians(spec.angle or 180) * sign
        dur, cad = 0.5 + 1.3 * abs(angle) / np.pi, 2.0
    return angle, cad * spec.tempo**0.5, frames(dur, spec.tempo)


def _len_turn(spec: ActionSpec) -> int:
    _, cad, n = _turn_timing(spec)
    return n + _gait_tail(cad)


def _turn(spec: ActionSpec, base: np.ndarray, rng: np.random.Generator) -> Segment:
    spin = spec.definition.counted
    angle, cad, n = _turn_timing(spec)
    lift = 0.07
    lead = int(0.15 * n)
    yaw_total = angle * smoothstep((np.arange(n + 1) - lead) / max(n - 2 * lead, 1))
    P = gait(base, n, cad, 0.0, (0.0, 1.0), 0.6, lift, np.diff(yaw_total), 0.1, 0.4, 0.0)
    P[:, C_NECK_YAW] += 0.3 * np.sign(angle) * bump(len(P), n * 0.4, n * 0.7)
    events = []
    if spin:
        turns = np.abs(yaw_total) / (2 * np.pi)
        events = [int(np.argmax(turns >= k + 1 - 1e-6)) for k in range(spec.count or 1)]
        for side in (0, 1):
            w = bump(len(P), n / 2, n)
            e, az = rig.arm_from_flex(0.2, 0.6)
            blend_arm(P, side, np.tile([e, az, 0.0, 0.6], (len(P), 1)), w)
    return Segment(P, events)


# ---------------------------------------------------------------------------------------------------
# jumps
def _jump_series(
    base: np.ndarray,
    count: int,
    tempo: float,
    amp: float,
    height: float,
    forward: float = 0.0,
    hop_side: int | None = None,
    feet_apart: bool = False,
) -> Segment:
    """Crouch, take off, fly, land, recover - ``count`` times. Jumping jacks alternate feet apart/
    together and arms up/down on every landing (two jumps per jack). Rests: between jumps (between jacks:
    feet together, arms down), standing."""
    crouch, push, fly, land, rec, lead, end = _jump_timing(tempo, hop_side is not None, feet_apart)
    n_jumps = count * (2 if feet_apart else 1)
    per = crouch + push + fly + land + rec
    n = lead + per * n_jumps + end
    rests = [lead + j * per for j in range(2 if feet_apart else 1, n_jumps, 2 if feet_apart else 1)]
    P = hold(base, n)
    h_down = 0.16 * amp ** 0.5 if not feet_apart else 0.07
    toe_y = np.full(n, -STAND_H)
    pitch = np.zeros(n)
    air = np.zeros(n)
    contact = np.ones(n)
    arm_w = np.zeros(n)  # arm swing (0 = down, 1 = up/forward)
    apart = np.zeros(n)
    events = []
    tk, yk, pk, ak, zk = [0.0], [-STAND_H], [0.0], [0.0], [0.0]
    ap_t, ap_k = [0.0], [0.0]
    state_apart = 0.0
    for j in range(n_jumps):
        s = lead + j * per
        f_top = s + crouch + push + fly / 2
        tk += [s + crouch, s + crouch + push, s + crouch + push + fly, s + crouch + push + fly + land, s + per]
        yk += [-STAND_H + h_down, -STAND_H - 0.05, -STAND_H + 0.04, -STAND_H + h_down * 0.7, -STAND_H]
        pk += [0.0, 0.45, 0.35, 0.0, 0.0]
        # jumping forward: the body rolls over the planted feet before take-off and after landing
        zk += [0.08, -0.12, 0.14, 0.05, 0.0] if forward else [0.0] * 5
        if feet_apart:
            new_apart = 1.0 - state_apart
            ak += [state_apart, state_apart, new_apart, new_apart, new_apart]
            f0 = s + crouch + push
            ap_t += [f0 + 1, f0 + fly - 1]
            ap_k += [state_apart, new_apart]
            state_apart = new_apart
            if new_apart == 1.0:
                events.append(int(s + crouch + push + fly))
        else:
            ak += [-0.7, 0.35, 0.9, -0.1, 0.0]
            events.append(int(round(f_top)))
        f0 = s + crouch + push
        tt = np.arange(n)
        sfl = (tt - f0) / fly
        inside = (sfl > 0) & (sfl < 1)
        air = np.where(inside, 4 * height * amp * sfl * (1 - sfl), air)
        contact = np.where((tt >= f0 + 1) & (tt <= f0 + fly - 1), 0.0, contact)
        if forward:
            P[(tt >= f0) & (tt < f0 + fly), C_AIR_VZ] = forward / fly
    tk.append(n - 1)
    yk.append(-STAND_H)
    pk.append(0.0)
    ak.append(0.0)
    ap_t.append(n - 1)
    ap_k.append(0.0)
    toe_y = keys(n, tk, yk)
    pitch = keys(n, tk, pk)
    toe_dz = keys(n, tk, zk + [0.0])
    arm_w = keys(n, tk, ak)
    apart = keys(n, ap_t, ap_k) if feet_apart else np.zeros(n)
    P[:, C_AIR] = air
    legs = (0, 1) if hop_side is None else (hop_side,)
    for side in legs:
        c = C_LEG[side]
        P[:, c + 1] = toe_y
        P[:, c + 3] = pitch
        P[:, c + 2] = base[c + 2] + toe_dz
        P[:, C_CONTACT[side]] = contact
        P[:, c] = base[c] + 0.26 * apart
    if hop_side is not None:
        other = 1 - hop_side
        c = C_LEG[other]
        w = keys(n, [0, lead, n - lead, n - 1], [0, 1, 1, 0])
        P[:, c + 1] = -STAND_H + w * 0.28
        P[:, c + 2] = base[c + 2] - w * 0.12
        P[:, c + 3] = w * 0.5
        P[:, C_CONTACT[other]] = (w < 1e-3).astype(np.float64)
        P[:, C_SPINE_ROLL] = (0.06 if hop_side == 0 else -0.06) * w
        arm_w *= 0.4
    # arms
    for side in (0, 1):
        a = C_ARM[side]
        if feet_apart:
            up = arm_params(side, [[0.16, 0.48, 0.02]], [[1.0, 0.0, -0.2]])[0]
            # go through the side (T-pose) so the hands never cross the body
            mid = arm_params(side, [[0.5, 0.05, 0.0]], [[0.0, -0.3, -1.0]])[0]
            w = np.clip(arm_w, 0, 1)
            low = P[:, a : a + 4].copy()
            tgt = np.where((w < 0.5)[:, None], low + (mid - low) * (2 * w[:, None]), mid + (up - mid) * (2 * w[:, None] - 1))
            P[:, a : a + 4] = tgt
        else:
            flex = 0.05 + 0.9 * arm_w
            e, az = rig.arm_from_flex(flex, np.full(n, 0.2))
            P[:, a], P[:, a + 1] = e, az
            P[:, a + 3] = base[a + 3] + 0.3 * np.abs(arm_w)
    P[:, C_SPINE_PITCH] += 0.25 * np.clip(-toe_y - STAND_H, -1, 0) * -1.0
    return Segment(P, events, rests)


FLY_TEMPO = 0.35  # the flight time follows the tempo only weakly (gravity sets it; the crouch takes the rest)


def _jump_timing(tempo: float, hop: bool, jacks: bool) -> tuple[int, ...]:
    """Frames of (crouch, push, fly, land, recover) of one jump, and of the lead-in and lead-out."""
    ft = tempo**FLY_TEMPO
    if jacks:
        crouch, push, fly, land, rec = frames(0.1, tempo), frames(0.06, tempo), frames(0.26, ft), frames(0.1, tempo), frames(0.06, tempo)
    elif hop:
        crouch, push, fly, land, rec = frames(0.22, tempo), frames(0.12, tempo), frames(0.25, ft), frames(0.16, tempo), frames(0.12, tempo)
    else:
        crouch, push, fly, land, rec = frames(0.3, tempo), frames(0.12, tempo), frames(0.32, ft), frames(0.16, tempo), frames(0.2, tempo)
    lead = frames(0.35, tempo) if hop else 2
    return crouch, push, fly, land, rec, lead, lead if hop else 2


def _len_jump(spec: ActionSpec) -> int:
    jacks, hop = spec.definition.generator == "jumping_jacks", spec.definition.generator == "hop"
    crouch, push, fly, land, rec, lead, end = _jump_timing(spec.tempo, hop, jacks)
    return lead + end + (crouch + push + fly + land + rec) * (spec.count or 1) * (2 if jacks else 1)


def _jump(spec: ActionSpec, base: np.ndarray, rng: np.random.Generator) -> Segment:
    fwd = spec.definition.manner == "forward"
    h = (0.22 if fwd else 0.25) * rng.uniform(0.85, 1.15)
    return _jump_series(base, spec.count or 1, spec.tempo, spec.amp, h, forward=rng.uniform(0.45, 0.75) * spec.amp if fwd else 0.0)


def _hop(spec: ActionSpec, base: np.ndarray, rng: np.random.Generator) -> Segment:
    side = 0 if spec.side == "left" else 1
    return _jump_series(base, spec.count or 1, spec.tempo, spec.amp, 0.1, hop_side=side)


def _jacks(spec: ActionSpec, base: np.ndarray, rng: np.random.Generator) -> Segment:
    return _jump_series(base, spec.count or 1, spec.tempo, 1.0, 0.09 * spec.amp, feet_apart=True)


# ---------------------------------------------------------------------------------------------------
# arms
ARM_TIMING = {"wave": (0.5, 0.45), "clap": (0.45, 0.4), "arm_circles": (0.8, 0.5)}  # period, raise (s)


def _arm_timing(spec: ActionSpec) -> tuple[int, int]:
    period, lead = ARM_TIMING[spec.definition.generator]
    return frames(period, spec.tempo), frames(lead, spec.tempo)


def _len_periodic_arm(spec: ActionSpec) -> int:
    period, lead = _arm_timing(spec)
    return 2 * lead + (spec.count or 2) * period


def _hanging_wrist(base: np.ndarray, side: int) -> np.ndarray:
    """The wrist relative to its shoulder in the standing pose (mirrored coordinates, as ``arm_ik`` takes)."""
    j = rig.body_joints(base[None])[0]
    d = j[20 + side] - j[16 + side]
    return d * np.array([-1.0, 1.0, 1.0]) if side == 1 else d


def _periodic_arm(
    base: np.ndarray,
    sides: tuple[int, ...],
    count: int,
    period: int,
    lead: int,
    path: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    event_phase: float,
    raise_via: tuple[list[float], list[float]] | None = None,
) -> Segment:
    """Raise the arm(s) to the start of a periodic wrist path, run ``count`` cycles, lower them. Rests: the
    start of every cycle but the first (the path is still there when it starts at a turning point).

    ``raise_via`` (wrist, pole): raise and lower the wrist along a path in space through this waypoint
    (instead of blending the arm angles, which swings the hand out sideways on the way up)."""
    n = 2 * lead + count * period
    P = hold(base, n)
    t = np.arange(n, dtype=np.float64)
    ph = np.clip((t - lead) / period, 0, count)
    wrist, pole = path(ph)
    wrist = np.asarray(wrist, dtype=np.float64)
    pole = np.broadcast_to(np.asarray(pole, dtype=np.float64), wrist.shape).copy()
    w = keys(n, [0, lead, n - lead - 1, n - 1], [0, 1, 1, 0])
    for side in sides:
        if raise_via is None:
            blend_arm(P, side, arm_params(side, wrist, pole), w)
            continue
        hang = _hanging_wrist(base, side)
        via, via_pole = np.asarray(raise_via[0]), np.asarray(raise_via[1])
        wr, po = wrist.copy(), pole.copy()
        for a, b, start, stop in ((0, lead, hang, wrist[lead]), (n - lead - 1, n - 1, wrist[n - lead - 1], hang)):
            k = np.arange(a, b + 1)
            u = keys(len(k), [0, (b - a) / 2, b - a], [start, via, stop])
            wr[k] = u
            po[k] = keys(len(k), [0, (b - a) / 2, b - a], [pole[a], via_pole, pole[b]])
        # the angles blend in over the first third of the raise (the wrist is still low: no swing)
        wb = keys(n, [0, lead / 3, n - 1 - lead / 3, n - 1], [0, 1, 1, 0])
        blend_arm(P, side, arm_params(side, wr, po), wb)
    events = [int(round(lead + (k + event_phase) * period)) for k in range(count)]
    return Segment(P, events, [lead + k * period for k in range(1, count)])


def _wave(spec: ActionSpec, base: np.ndarray, rng: np.random.Generator) -> Segment:
    """Each wave swings the raised hand from beside the head out and back in (the event: the outermost
    point); it starts and ends in (the rests), so every counted swing is a full out-and-back."""
    period, lead = _arm_timing(spec)
    a = 0.12 * spec.amp

    def path(ph):
        x = 0.26 - a * np.cos(2 * np.pi * ph)
        wrist = np.stack([x, np.full_like(ph, 0.3), np.full_like(ph, 0.1)], -1)
        return wrist, np.array([0.4, -1.0, 0.1])

    via = ([0.1, -0.12, 0.24], [0.5, -1.0, 0.2])
    return _periodic_arm(base, SIDE_LIMBS[spec.side or "right"], spec.count or 2, period, lead, path, 0.5, via)


def _clap(spec: ActionSpec, base: np.ndarray, rng: np.random.Generator) -> Segment:
    period, lead = _arm_timing(spec)

    def path(ph):
        apart = 0.5 + 0.5 * np.cos(2 * np.pi * ph)
        x = -0.185 + 0.2 * spec.amp * apart
        wrist = np.stack([x, np.full_like(ph, -0.12), 0.34 - 0.03 * apart], -1)
        return wrist, np.array([1.0, -1.0, -0.3])

    return _periodic_arm(base, (0, 1), spec.count or 2, period, lead, path, 0.5)


def _arm_circles(spec: ActionSpec, base: np.ndarray, rng: np.random.Generator) -> Segment:
    period, lead = _arm_timing(spec)
    r = 0.14 * spec.amp

    def path(ph):
        ang = 2 * np.pi * ph
        wrist = np.stack([np.full_like(ph, 0.47), r * np.cos(ang), r * np.sin(ang)], -1)
        return wrist, np.array([0.0, -0.3, -1.0])

    return _periodic_arm(base, SIDE_LIMBS[spec.side or "both"], spec.count or 2, period, lead, path, 0.0)


HOLD_S = 0.6  # the shortest hold of a held pose (raised arms, crouch, seat); pauses at its rest lengthen it


def _len_raise_arms(spec: ActionSpec) -> int:
    return 2 * frames(0.6, spec.tempo) + frames(HOLD_S)


def _raise_arms(spec: ActionSpec, base: np.ndarray, rng: np.random.Generator) -> Segment:
    up = frames(0.6, spec.tempo)
    n = _len_raise_arms(spec)
    P = hold(base, n)
    tgt, pole = {
        "up": ([0.1, 0.5, 0.05], [1.0, 0.0, -0.3]),
        "forward": ([0.0, 0.02, 0.5], [0.5, -1.0, 0.0]),
        "sideways": ([0.5, 0.03, 0.0], [0.0, -0.3, -1.0]),
    }[spec.direction or "up"]
    w = keys(n, [0, up, n - up - 1, n - 1], [0, 1, 1, 0])
    for side in SIDE_LIMBS[spec.side or "both"]:
        blend_arm(P, side, np.tile(arm_params(side, [tgt], [pole])[0], (n, 1)), w)
    return Segment(P, [up], [up + frames(HOLD_S) // 2])


def _punch_timing(spec: ActionSpec) -> tuple[int, int, int]:
    return frames(0.45, spec.tempo), frames(0.14, spec.tempo), frames(0.3, spec.tempo)


def _len_punch(spec: ActionSpec) -> int:
    lead, ext, ret = _punch_timing(spec)
    return 2 * lead + (spec.count or 1) * (ext + ret)


def _punch(spec: ActionSpec, base: np.ndarray, rng: np.random.Generator) -> Segment:
    """Guard up, then each strike extends a fist and brings it all the way back to the guard (the rests:
    both fists at the guard between strikes), guard down."""
    lead, ext, ret = _punch_timing(spec)
    count = spec.count or 1
    seq = [0 if spec.side == "left" else 1] * count if spec.side != "both" else [k % 2 for k in range(count)]
    n = 2 * lead + count * (ext + ret)
    P = hold(base, n)
    guard = [arm_params(s, [[-0.1, 0.08, 0.22]], [[0.3, -1.0, 0.0]])[0] for s in (0, 1)]
    wg = keys(n, [0, lead, n - lead - 1, n - 1], [0, 1, 1, 0])
    strike = [np.zeros(n), np.zeros(n)]
    events = []
    for k, s in enumerate(seq):
        f = lead + k * (ext + ret)
        strike[s] += keys(n, [f, f + ext, f + ext + ret], [0, 1, 0]) * ((np.arange(n) >= f) & (np.arange(n) <= f + ext + ret))
        events.append(f + ext)
    for s in (0, 1):
        punch = arm_params(s, [[-0.1, 0.06, 0.5]], [[0.2, -1.0, 0.0]])[0]
        target = guard[s][None] + (punch - guard[s])[None] * strike[s][:, None]
        blend_arm(P, s, target, wg)
        P[:, C_SPINE_YAW] += (-0.3 if s == 0 else 0.3) * strike[s]
    return Segment(P, events, [lead + k * (ext + ret) for k in range(1, count)])


def _len_throw(spec: ActionSpec) -> int:
    return 4 + sum(frames(x, spec.tempo) for x in (0.6, 0.22, 0.35, 0.6))


def _throw(spec: ActionSpec, base: np.ndarray, rng: np.random.Generator) -> Segment:
    s = 0 if spec.side == "left" else 1
    wind, rel, fol, rec = (frames(x, spec.tempo) for x in (0.6, 0.22, 0.35, 0.6))
    n = 2 + wind + rel + fol + rec + 2
    P = hold(base, n)
    k_t = [0, 2, 2 + wind, 2 + wind + rel, 2 + wind + rel + fol, n - 1]
    poses = [
        P[0, C_ARM[s] : C_ARM[s] + 4],
        P[0, C_ARM[s] : C_ARM[s] + 4],
        arm_params(s, [[0.25, 0.3, -0.2]], [[0.6, -0.4, -0.6]])[0],
        arm_params(s, [[0.05, 0.25, 0.45]], [[0.6, -0.8, 0.0]])[0],
        arm_params(s, [[-0.15, -0.3, 0.3]], [[0.6, -1.0, 0.0]])[0],
        P[0, C_ARM[s] : C_ARM[s] + 4],
    ]
    a = C_ARM[s]
    P[:, a : a + 4] = keys(n, k_t, poses)
    sign = -1.0 if s == 0 else 1.0
    P[:, C_SPINE_YAW] = keys(n, k_t, [0, 0, -0.45 * sign, 0.3 * sign, 0.35 * sign, 0])
    P[:, C_SPINE_PITCH] += keys(n, k_t, [0, 0, -0.12, 0.2, 0.35, 0])
    return Segment(P, [2 + wind + rel])


# ---------------------------------------------------------------------------------------------------
# whole body
def _dips(n: int, per: int, count: int, down: int, stay: int) -> tuple[np.ndarray, list[int]]:
    """A 0..1 weight over ``n`` frames dipping ``count`` times, every ``per`` frames from frame 2: ``down``
    frames to 1, ``stay`` frames at 1, ``down`` frames back to 0; and the middle frame of each stay (events)."""
    tk, wk, events = [0.0], [0.0], []
    for k in range(count):
        f = 2 + k * per
        tk += [f, f + down, f + down + stay, f + 2 * down + stay]
        wk += [0.0, 1.0, 1.0, 0.0]
        events.append(f + down + stay // 2)
    tk.append(n - 1)
    wk.append(0.0)
    return keys(n, tk, wk), events


def _squat_timing(spec: ActionSpec) -> tuple[int, int, int]:
    down, bottom = frames(0.75, spec.tempo), frames(0.2, spec.tempo)
    return down, bottom, 2 * down + bottom + frames(0.1, spec.tempo)


def _len_squat(spec: ActionSpec) -> int:
    return _squat_timing(spec)[2] * (spec.count or 1) + 4


def _squat(spec: ActionSpec, base: np.ndarray, rng: np.random.Generator) -> Segment:
    down, bottom, per = _squat_timing(spec)
    count = spec.count or 1
    n = per * count + 4
    P = hold(base, n)
    depth = 0.42 * spec.amp**0.5
    arms_fwd = rng.random() < 0.6
    w, events = _dips(n, per, count, down, bottom)
    for side in (0, 1):
        c = C_LEG[side]
        P[:, c + 1] += depth * w
        P[:, c + 2] += 0.2 * w
        if arms_fwd:
            e, az = rig.arm_from_flex(0.05 + 1.35 * w, np.full(n, 0.15))
            P[:, C_ARM[side]], P[:, C_ARM[side] + 1] = e, az
    P[:, C_PELVIS_PITCH] += 0.35 * w
    P[:, C_SPINE_PITCH] += 0.2 * w
    P[:, C_NECK_PITCH] -= 0.3 * w
    return Segment(P, events, [2 + k * per for k in range(1, count)])


def _seat_pose(P: np.ndarray, w: np.ndarray, lean: np.ndarray) -> None:
    for side in (0, 1):
        c = C_LEG[side]
        P[:, c + 1] += (STAND_H - 0.5) * w
        P[:, c + 2] += 0.36 * w
        e, az = rig.arm_from_flex(0.05 + 0.55 * w, np.full(len(w), 0.15))
        a = C_ARM[side]
        P[:, a], P[:, a + 1] = e, az
        P[:, a + 3] += 0.6 * w
    P[:, C_PELVIS_PITCH] += 0.1 * w + 0.35 * lean
    P[:, C_SPINE_PITCH] += 0.25 * lean
    P[:, C_NECK_PITCH] -= 0.25 * lean


def _len_sit(spec: ActionSpec) -> int:
    return frames(1.5, spec.tempo) + frames(HOLD_S) + 2


def _sit(spec: ActionSpec, base: np.ndarray, rng: np.random.Generator) -> Segment:
    move = frames(1.5, spec.tempo)
    rest = frames(HOLD_S)  # seated (the idle before standing up / after sitting down adds more)
    n = move + rest + 2
    P = hold(base, n)
    if spec.definition.end_posture == "seated":  # sitting down (else standing up)
        w = keys(n, [1, 1 + move], [0, 1])
        lean = bump(n, 1 + move * 0.55, move * 0.9)
        event = 1 + move
    else:
        w = keys(n, [rest, rest + move], [1, 0])
        lean = bump(n, rest + move * 0.45, move * 0.9)
        event = rest + move
    _seat_pose(P, w, lean)
    return Segment(P, [event])


def _len_crouch(spec: ActionSpec) -> int:
    return 2 * frames(0.8, spec.tempo) + frames(0.8) + 2


def _crouch(spec: ActionSpec, base: np.ndarray, rng: np.random.Generator) -> Segment:
    down = frames(0.8, spec.tempo)
    stay = frames(0.8)  # a pause at its rest holds the crouch longer
    n = 2 * down + stay + 2
    P = hold(base, n)
    w = keys(n, [1, 1 + down, 1 + down + stay, n - 1], [0, 1, 1, 0])
    for side in (0, 1):
        c = C_LEG[side]
        P[:, c + 1] += (STAND_H - 0.42) * w
        P[:, c + 2] += 0.1 * w
        P[:, c + 3] += 0.45 * w
        e, az = rig.arm_from_flex(0.05 + 0.7 * w, np.full(n, 0.2))
        a = C_ARM[side]
        P[:, a], P[:, a + 1] = e, az
        P[:, a + 3] += 0.7 * w
    P[:, C_PELVIS_PITCH] += 0.45 * w
    P[:, C_SPINE_PITCH] += 0.3 * w
    P[:, C_NECK_PITCH] -= 0.45 * w
    return Segment(P, [1 + down], [1 + down + stay // 2])


def _kick_timing(spec: ActionSpec) -> tuple[int, ...]:
    return tuple(frames(x, spec.tempo) for x in (0.35, 0.25, 0.15, 0.25, 0.3))


def _len_kick(spec: ActionSpec) -> int:
    shift, chamber, ext, back, down = _kick_timing(spec)
    return 2 * shift + (chamber + ext + back + down) * (spec.count or 1)


def _kick(spec: ActionSpec, base: np.ndarray, rng: np.random.Generator) -> Segment:
    s = 0 if spec.side == "left" else 1
    count = spec.count or 1
    shift, chamber, ext, back, down = _kick_timing(spec)
    per = chamber + ext + back + down
    n = 2 * shift + per * count
    P = hold(base, n)
    c = C_LEG[s]
    tk, vals, events = [0.0, shift], [np.zeros(4), np.zeros(4)], []
    for k in range(count):
        f = shift + k * per
        tk += [f + chamber, f + chamber + ext, f + chamber + ext + back, f + per]
        vals += [
            np.array([0.0, STAND_H - 0.5, 0.3, 0.3]),
            np.array([0.0, STAND_H - 0.3 / spec.amp, 0.72, 0.8]),
            np.array([0.0, STAND_H - 0.45, 0.3, 0.3]),
            np.zeros(4),
        ]
        events.append(int(f + chamber + ext))
    tk.append(n - 1)
    vals.append(np.zeros(4))
    off = keys(n, tk, vals)
    P[:, c] += off[:, 0]
    P[:, c + 1] += off[:, 1]
    P[:, c + 2] += off[:, 2]
    P[:, c + 3] += off[:, 3]
    up = off[:, 1] > 1e-3
    P[:, C_CONTACT[s]] = (~up).astype(np.float64)
    wshift = keys(n, [0, shift, n - shift - 1, n - 1], [0, 1, 1, 0])
    P[:, C_SPINE_ROLL] += (-0.08 if s == 0 else 0.08) * wshift
    P[:, C_SPINE_PITCH] -= 0.25 * off[:, 2] / 0.72
    for side in (0, 1):
        g = arm_params(side, [[-0.08, 0.0, 0.25]], [[0.3, -1.0, 0.0]])[0]
        blend_arm(P, side, np.tile(g, (n, 1)), wshift * 0.8)
    return Segment(P, events, [shift + k * per for k in range(1, count)])


def _bow_timing(spec: ActionSpec) -> tuple[int, int, int]:
    down, stay = frames(0.7, spec.tempo), frames(0.4, spec.tempo)
    return down, stay, 2 * down + stay + frames(0.15)


def _len_bow(spec: ActionSpec) -> int:
    return _bow_timing(spec)[2] * (spec.count or 1) + 4


def _bow(spec: ActionSpec, base: np.ndarray, rng: np.random.Generator) -> Segment:
    down, stay, per = _bow_timing(spec)
    count = spec.count or 1
    n = per * count + 4
    P = hold(base, n)
    w, events = _dips(n, per, count, down, stay)
    w = w * (0.9 + 0.2 * (spec.amp - 1))
    P[:, C_PELVIS_PITCH] += 0.45 * w
    P[:, C_SPINE_PITCH] += 0.45 * w
    P[:, C_NECK_PITCH] += 0.25 * w
    for side in (0, 1):
        c = C_LEG[side]
        P[:, c + 2] += 0.07 * w
        e, az = rig.arm_from_flex(0.05 + 0.8 * w, np.full(n, 0.12))
        P[:, C_ARM[side]], P[:, C_ARM[side] + 1] = e, az
    return Segment(P, events, [2 + k * per for k in range(1, count)])


def _stretch_timing(spec: ActionSpec) -> tuple[int, int]:
    return frames(0.8, spec.tempo), frames(2.2 if spec.direction == "sideways" else 1.0, spec.tempo)


def _len_stretch(spec: ActionSpec) -> int:
    up, stay = _stretch_timing(spec)
    return 2 * up + stay + 2


def _stretch(spec: ActionSpec, base: np.ndarray, rng: np.random.Generator) -> Segment:
    up, stay = _stretch_timing(spec)
    side_bend = spec.direction == "sideways"
    n = 2 * up + stay + 2
    P = hold(base, n)
    w = keys(n, [1, 1 + up, 1 + up + stay, n - 1], [0, 1, 1, 0])
    for side in (0, 1):
        tgt = arm_params(side, [[-0.08, 0.5, 0.05]], [[1.0, 0.0, -0.3]])[0]
        blend_arm(P, side, np.tile(tgt, (n, 1)), w)
    if side_bend:
        P[:, C_SPINE_ROLL] = keys(n, [1 + up, 1 + up + stay / 3, 1 + up + 2 * stay / 3, 1 + up + stay], [0, 0.4, -0.4, 0])
    else:
        for side in (0, 1):
            P[:, C_LEG[side] + 3] += 0.35 * w * spec.amp
            P[:, C_LEG[side] + 1] -= 0.04 * w * spec.amp
        P[:, C_SPINE_PITCH] -= 0.12 * w
        P[:, C_NECK_PITCH] -= 0.25 * w
    return Segment(P, [1 + up], [1 + up + (1 if side_bend else stay // 2)])


def _len_idle(spec: ActionSpec) -> int:
    return frames(spec.duration or 2.0)


def _idle(spec: ActionSpec, base: np.ndarray, rng: np.random.Generator) -> Segment:
    """Standing still: the standing pose, idle throughout (the composer's idle layer moves it: weight shifts,
    breathing, looking around)."""
    n = _len_idle(spec)
    return Segment(hold(base, n), still=np.ones(n))


# generator name (the action table's ``generator``) -> function
GENERATORS: dict[str, Callable[[ActionSpec, np.ndarray, np.random.Generator], Segment]] = {
    "locomotion": _locomotion,
    "march": _march,
    "climb": _climb,
    "side_step": _side_step,
    "turn": _turn,
    "jump": _jump,
    "hop": _hop,
    "jumping_jacks": _jacks,
    "wave": _wave,
    "raise_arms": _raise_arms,
    "clap": _clap,
    "squat": _squat,
    "sit": _sit,
    "crouch": _crouch,
    "kick": _kick,
    "punch": _punch,
    "bow": _bow,
    "stretch": _stretch,
    "throw": _throw,
    "idle": _idle,
    "arm_circles": _arm_circles,
}
check_registry("generator", "generator", GENERATORS)


# exact number of frames each generator makes for a spec (the composer plans clip lengths with these; a test
# checks them against the generators for every action, count and tempo)
LENGTHS: dict[str, Callable[[ActionSpec], int]] = {  # generator name -> frames (as GENERATORS)
    "locomotion": _len_locomotion,
    "march": _len_march,
    "climb": _len_march,
    "side_step": _len_side_step,
    "turn": _len_turn,
    "jump": _len_jump,
    "hop": _len_jump,
    "jumping_jacks": _len_jump,
    "wave": _len_periodic_arm,
    "raise_arms": _len_raise_arms,
    "clap": _len_periodic_arm,
    "squat": _len_squat,
    "sit": _len_sit,
    "crouch": _len_crouch,
    "kick": _len_kick,
    "punch": _len_punch,
    "bow": _len_bow,
    "stretch": _len_stretch,
    "throw": _len_throw,
    "idle": _len_idle,
    "arm_circles": _len_periodic_arm,
}
check_registry("length function", "generator", LENGTHS)


def segment_frames(spec: ActionSpec) -> int:
    """Frames :func:`generate_action` makes for ``spec`` (before any pause)."""
    return LENGTHS[spec.definition.generator](spec)


def generate_action(spec: ActionSpec, base: np.ndarray, rng: np.random.Generator) -> Segment:
    d = spec.definition
    seg = GENERATORS[d.generator](spec, base, rng)
    if spec.style == "tired" and d.tired_slump:
        seg.P[:, C_SPINE_PITCH] += 0.12
        seg.P[:, C_NECK_PITCH] += 0.15
    return seg
