"""Sequence actions into one clip: cross-fade pose channels, track foot yaw, pose the body (FK) and solve
the root path so that planted feet stay where they landed (no foot sliding by construction)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from moscale_cli.data.synth import rig
from moscale_cli.data.synth.actions import Segment, generate_action
from moscale_cli.data.synth.curves import smoothstep
from moscale_cli.data.synth.idle import apply_idle, idle_layer
from moscale_cli.data.synth.program import Program
from moscale_cli.data.synth.rig import C_AIR, C_AIR_VX, C_AIR_VZ, C_CONTACT, C_LEG, C_TWIST, C_YAW_RATE
from moscale_cli.data.synth.timing import BLEND, ClipPlan, draw_length, plan_clip
from moscale_cli.motion.skeleton import L_FOOT, R_FOOT

TOES = (L_FOOT, R_FOOT)
MAX_TWIST = 0.9
RAMP = 4  # frames over which the motion slows into a pause and speeds out of it
RATE_CHANNELS = [C_YAW_RATE, C_AIR_VX, C_AIR_VZ]  # per-frame quantities: scaled by the playback rate


@dataclass
class Composed:
    joints: np.ndarray  # (N, 22, 3) float64, world frame, N = feature frames + 1
    contacts: np.ndarray  # (N, 2) bool, planted left/right foot
    P: np.ndarray  # (N, NP) pose channels
    still: np.ndarray | None = None  # (N,) idle weight (1 = idle, 0 = acting)


def insert_pauses(seg: Segment, pauses: list[tuple[int, int]]) -> Segment:
    """Hold the motion still for ``g`` extra frames at each ``(rest frame, g)``: the playback rate eases to
    zero over ``RAMP`` frames, stays there, and eases back (a time warp: nothing of the motion is lost, events
    move with it). The segment's ``still`` is 1 - rate inside pauses."""
    still0 = seg.still if seg.still is not None else np.zeros(len(seg.P))
    if not pauses:
        return Segment(seg.P, list(seg.events), [], still0)
    n = len(seg.P)
    total = n + sum(g for _, g in pauses)
    rate = np.ones(total)
    shift = 0
    for r, g in sorted(pauses):
        if g < 2:
            raise ValueError(f"a pause lasts at least 2 frames, got {g}")
        m = min(RAMP, g) // 2 * 2  # even: the held pose is exactly frame r (the slow-down covers m / 2 frames)
        ramp = smoothstep((np.arange(m) + 0.5) / m)
        d = np.concatenate([ramp, np.ones(g - m), ramp[::-1]])
        t0 = r + 1 - m // 2 + shift
        if t0 < 1 or t0 + len(d) > total - 1:
            raise ValueError(f"pause at frame {r} of a {n}-frame segment does not fit")
        rate[t0 : t0 + len(d)] = 1.0 - d
        shift += g
    tau = np.concatenate([[0.0], np.cumsum(rate[1:])])
    tau = np.clip(tau, 0.0, n - 1)
    i0 = np.minimum(np.floor(tau).astype(int), n - 2)
    f = (tau - i0)[:, None]
    P = seg.P[i0] * (1 - f) + seg.P[i0 + 1] * f
    P[:, RATE_CHANNELS] *= rate[:, None]
    still = np.maximum(still0[i0] * (1 - f[:, 0]) + still0[i0 + 1] * f[:, 0], 1.0 - rate)
    events = [int(np.searchsorted(tau, e - 1e-9)) for e in seg.events]
    return Segment(P, events, [], still)


def _crossfade(
    parts: list[np.ndarray], stills: list[np.ndarray], idle: list[bool] | None = None
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Chain pieces with BLEND frames of overlap; returns channels, idle weights and each piece's offset.
    Two action pieces cross-fade; next to an idle piece (``idle[i]``: a hold of the action's own first or last
    pose) the action's frames are kept as they are (a blend would slow a first or last step and make the
    planted feet disagree), only the idle weight ramps over the overlap."""
    parts = list(parts)
    stills = list(stills)
    idle = idle if idle is not None else [False] * len(parts)
    for i, p in enumerate(parts):  # every piece must outlast the cross-fade
        if len(p) <= BLEND + 1:
            k = BLEND + 2 - len(p)
            parts[i] = np.concatenate([p, np.repeat(p[-1:], k, 0)])
            stills[i] = np.concatenate([stills[i], np.repeat(stills[i][-1:], k)])
    offsets, o = [], 0
    for p in parts:
        offsets.append(o)
        o += len(p) - BLEND
    n = o + BLEND
    P = np.zeros((n, rig.NP))
    W = np.zeros(n)
    for i, (seg, st, off) in enumerate(zip(parts, stills, offsets, strict=True)):
        m = len(seg)
        if i == 0:
            P[off : off + m] = seg
            W[off : off + m] = st
            continue
        w = smoothstep((np.arange(BLEND) + 0.5) / BLEND)[:, None]
        prev = P[off : off + BLEND].copy()
        cur = seg[:BLEND]
        if idle[i] and not idle[i - 1]:
            mixed = prev  # action -> idle: the action ends as it was made, the hold continues from it
        elif idle[i - 1] and not idle[i]:
            mixed = cur.copy()  # idle -> action: the action starts as it was made
        else:
            mixed = prev * (1 - w) + cur * w
            # a foot is planted during the blend only if both pieces plant it (a lifting or landing foot
            # must not be pinned above the floor); the other foot carries the body meanwhile
            for c in C_CONTACT:
                mixed[:, c] = np.minimum(prev[:, c], cur[:, c])
        P[off : off + BLEND] = mixed
        P[off + BLEND : off + m] = seg[BLEND:]
        W[off : off + BLEND] = W[off : off + BLEND] * (1 - w[:, 0]) + st[:BLEND] * w[:, 0]
        W[off + BLEND : off + m] = st[BLEND:]
    return P, W, offsets


def _foot_twist(P: np.ndarray, yaw: np.ndarray) -> None:
    """World yaw of each foot stays fixed while it is planted and swings to the body's yaw while it is
    lifted; the hip twist makes up the difference (so feet do not skid while the body turns)."""
    n = len(P)
    for side in (0, 1):
        planted = P[:, C_CONTACT[side]] > 0.5
        fy = np.empty(n)
        fy[0] = yaw[0]
        t = 1
        while t < n:
            if planted[t]:
                fy[t] = fy[t - 1]
                t += 1
                continue
            a = t - 1
            b = t
            while b < n and not planted[b]:
                b += 1
            target = yaw[min(b, n - 1)]
            k = np.arange(t, b)
            fy[t:b] = fy[a] + (target - fy[a]) * smoothstep((k - a) / max(b - 1 - a, 1))
            t = b
        P[:, C_TWIST[side]] = np.clip(fy - yaw, -MAX_TWIST, MAX_TWIST) * (1 if side == 0 else -1)


def solve_root(body: np.ndarray, P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Body-frame joints (N,22,3) + channels -> world joints and contacts. Planted toes are locked
    (horizontally and on the floor), airborne frames follow the given velocity or keep momentum."""
    n = len(body)
    yaw = np.cumsum(P[:, C_YAW_RATE])
    rot = rig.ry(yaw)  # (N,3,3)
    wb = np.einsum("nij,nkj->nki", rot, body)
    contact = np.stack([P[:, c] > 0.5 for c in C_CONTACT], -1)
    root = np.zeros((n, 3))
    for t in range(1, n):
        feet = [f for f in (0, 1) if contact[t, f] and contact[t - 1, f]]
        if feet:
            d = np.mean([wb[t - 1, TOES[f]] + root[t - 1] - wb[t, TOES[f]] for f in feet], axis=0)
            root[t, [0, 2]] = d[[0, 2]]
        else:
            v_body = np.array([P[t, C_AIR_VX], 0.0, P[t, C_AIR_VZ]])
            if np.any(v_body != 0):
                v = rot[t] @ v_body
            else:
                v = root[t - 1] - root[t - 2] if t >= 2 else np.zeros(3)
            root[t, [0, 2]] = root[t - 1, [0, 2]] + v[[0, 2]]
    # height: planted toes on the floor; airborne frames interpolate + the jump arc
    grounded = contact.any(-1)
    h = np.full(n, np.nan)
    for t in np.nonzero(grounded)[0]:
        h[t] = -np.mean([body[t, TOES[f], 1] for f in (0, 1) if contact[t, f]])
    if not grounded.any():
        h[:] = -body[:, TOES, 1].min(-1)
    idx = np.arange(n)
    h = np.interp(idx, idx[grounded], h[grounded]) if grounded.any() else h
    # airborne: never lower than what keeps both toes above the floor (take-off and landing frames)
    clear = -body[:, TOES, 1].min(-1)
    root[:, 1] = np.where(grounded, h, np.maximum(h + P[:, C_AIR], clear))
    return wb + root[:, None, :], contact


def _hold_pose(row: np.ndarray, n: int, base: np.ndarray) -> np.ndarray:
    """``n`` frames of the pose ``row`` standing still: rates zeroed, a lifted foot put down where it stands
    in ``base`` (a walk's first frame has a foot in the air: the blend into it lifts it)."""
    row = row.copy()
    row[[C_YAW_RATE, C_AIR, C_AIR_VX, C_AIR_VZ]] = 0.0
    for side in (0, 1):
        if row[C_CONTACT[side]] < 0.5:
            c = C_LEG[side]
            row[c : c + 4] = base[c : c + 4]
            row[C_CONTACT[side]] = 1.0
    return np.repeat(row[None], n, 0)


def render(plan: ClipPlan, rng: np.random.Generator) -> Composed:
    """Render a clip plan: every bout of every action (with its pauses), idle stretches between them, the
    idle layer over the idle frames, foot yaw, IK/FK and the root path. Fills each action's ``span`` (first
    to last frame of its bouts, half blends excluded) and ``events`` (feature-frame indices)."""
    base = rig.neutral(rng)
    items: list[tuple[int | None, Segment | int]] = [(None, plan.idle[0])]  # (action index, segment | idle frames)
    for i, ap in enumerate(plan.actions):
        bout_seed = int(rng.integers(2**32))  # the same amplitudes for every bout of one action
        for j, bout in enumerate(ap.bouts):
            seg = generate_action(replace(ap.spec, count=bout.count), base, np.random.default_rng(bout_seed))
            items.append((i, insert_pauses(seg, [(seg.rests[r], g) for r, g in bout.pauses])))
            if j < len(ap.gaps) and ap.gaps[j] > 0:
                items.append((None, ap.gaps[j]))
        items.append((None, plan.idle[i + 1]))
    parts, stills, owner, events = [], [], [], []
    for k, (who, it) in enumerate(items):
        if isinstance(it, Segment):
            parts.append(it.P)
            stills.append(it.still if it.still is not None else np.zeros(len(it.P)))
            owner.append(who)
            events.append(it.events)
            continue
        if it <= 0:
            continue
        prev = next((x for _, x in reversed(items[:k]) if isinstance(x, Segment)), None)
        nxt = next((x for _, x in items[k + 1 :] if isinstance(x, Segment)), None)
        row = prev.P[-1] if prev is not None else nxt.P[0]  # type: ignore[union-attr]
        parts.append(_hold_pose(row, it + BLEND, base))
        stills.append(np.ones(it + BLEND))
        owner.append(None)
        events.append([])
    P, W, offsets = _crossfade(parts, stills, [who is None for who in owner])
    n = len(P)
    if n != plan.frames:  # pragma: no cover - plans are exact (tests check every action)
        raise AssertionError(f"rendered {n} frames, the plan has {plan.frames}")
    apply_idle(P, W, idle_layer(n, rng), base)
    yaw = np.cumsum(P[:, C_YAW_RATE])
    _foot_twist(P, yaw)
    rig.enforce_reach(P)
    body = rig.body_joints(P)
    joints, contact = solve_root(body, P)
    T = n - 1  # feature frames
    for i, ap in enumerate(plan.actions):
        mine = [k for k, who in enumerate(owner) if who == i]
        first, last = mine[0], mine[-1]
        # a span holds its bouts whole (their blends with idle included); next to another action's bout it
        # ends in the middle of their blend
        start = offsets[first] + (BLEND // 2 if first > 0 and owner[first - 1] is not None else 0)
        end = offsets[last] + len(parts[last]) - (BLEND // 2 if last < len(parts) - 1 and owner[last + 1] is not None else 0)
        spec = ap.spec
        spec.span = (int(start), int(min(end, T)))
        spec.events = [int(offsets[k] + e) for k in mine for e in events[k] if offsets[k] + e < T]
    return Composed(joints=joints, contacts=contact, P=P, still=W)


def compose(program: Program, rng: np.random.Generator, frames: int | None = None) -> Composed:
    """Render ``program`` as a clip of ``frames`` feature frames (default: drawn with :func:`draw_length`).
    The program's actions get the rendered pace, duration, span and events."""
    if frames is None:
        frames = draw_length(program, rng)
    plan = plan_clip(program, frames, rng)
    out = render(plan, rng)
    for a, ap in zip(program.actions, plan.actions, strict=True):
        a.pace, a.duration, a.span, a.events = round(ap.spec.pace, 3), ap.spec.duration, ap.spec.span, ap.spec.events
        if a.duration is not None:
            a.duration = round(a.duration, 2)
    return out
