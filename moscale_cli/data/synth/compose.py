"""Sequence actions into one clip: cross-fade pose channels, track foot yaw, pose the body (FK) and solve
the root path so that planted feet stay where they landed (no foot sliding by construction)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moscale_cli.data.synth import rig
from moscale_cli.data.synth.actions import Segment, generate_action
from moscale_cli.data.synth.curves import smoothstep
from moscale_cli.data.synth.program import MAX_FRAMES, MIN_FRAMES, Program
from moscale_cli.data.synth.rig import C_AIR, C_AIR_VX, C_AIR_VZ, C_CONTACT, C_TWIST, C_YAW_RATE
from moscale_cli.motion.skeleton import L_FOOT, R_FOOT

BLEND = 8  # frames of cross-fade between actions (0.4 s)
TOES = (L_FOOT, R_FOOT)
MAX_TWIST = 0.9


@dataclass
class Composed:
    joints: np.ndarray  # (N, 22, 3) float64, world frame, N = feature frames + 1
    contacts: np.ndarray  # (N, 2) bool, planted left/right foot
    P: np.ndarray  # (N, NP) pose channels


def _crossfade(segments: list[Segment], lead: int, tail: int) -> tuple[np.ndarray, list[int]]:
    """Place segments with BLEND frames of overlap; returns channels and each segment's offset."""
    for seg in segments:  # every segment must outlast the cross-fade
        if len(seg.P) <= BLEND + 1:
            seg.P = np.concatenate([seg.P, np.repeat(seg.P[-1:], BLEND + 2 - len(seg.P), 0)])
    offsets, o = [], lead
    for seg in segments:
        offsets.append(o)
        o += len(seg.P) - BLEND
    n = o + BLEND + tail
    first, last = segments[0].P[0].copy(), segments[-1].P[-1].copy()
    for row in (first, last):
        row[[C_YAW_RATE, C_AIR, C_AIR_VX, C_AIR_VZ]] = 0.0
    P = np.zeros((n, rig.NP))
    P[: offsets[0]] = first
    end = offsets[-1] + len(segments[-1].P)
    P[end:] = last
    for i, (seg, off) in enumerate(zip(segments, offsets, strict=True)):
        m = len(seg.P)
        if i == 0:
            P[off : off + m] = seg.P
            continue
        w = smoothstep((np.arange(BLEND) + 0.5) / BLEND)[:, None]
        prev = P[off : off + BLEND].copy()
        cur = seg.P[:BLEND]
        mixed = prev * (1 - w) + cur * w
        # a foot is planted during the blend only if both actions plant it (a lifting or landing foot
        # must not be pinned above the floor); the other foot carries the body meanwhile
        for c in C_CONTACT:
            mixed[:, c] = np.minimum(prev[:, c], cur[:, c])
        P[off : off + BLEND] = mixed
        P[off + BLEND : off + m] = seg.P[BLEND:]
    return P, offsets


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


def compose(program: Program, rng: np.random.Generator) -> Composed | None:
    """Render a program; None when its length falls outside 2..9.8 s (the caller draws again)."""
    base = rig.neutral(rng)
    segments = [generate_action(spec, base, rng) for spec in program.actions]
    lead, tail = int(rng.integers(0, 8)), int(rng.integers(2, 10))
    total = lead + sum(len(s.P) for s in segments) - BLEND * (len(segments) - 1) + tail
    if total - 1 > MAX_FRAMES:
        return None
    if total - 1 < MIN_FRAMES:
        extra = MIN_FRAMES + 1 - total
        lead += extra // 2
        tail += extra - extra // 2
    P, offsets = _crossfade(segments, lead, tail)
    n = len(P)
    yaw = np.cumsum(P[:, C_YAW_RATE])
    _foot_twist(P, yaw)
    rig.enforce_reach(P)
    body = rig.body_joints(P)
    joints, contact = solve_root(body, P)
    for i, (spec, seg, off) in enumerate(zip(program.actions, segments, offsets, strict=True)):
        start = 0 if i == 0 else off + BLEND // 2
        end = n - 1 if i == len(segments) - 1 else offsets[i + 1] + BLEND // 2
        spec.span = (int(start), int(min(end, n - 1)))
        spec.events = [int(off + e) for e in seg.events if off + e < n - 1]
    return Composed(joints=joints, contacts=contact, P=P)
