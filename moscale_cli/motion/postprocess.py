"""Post-process of SMPL-22 joints after generation: rigid bones and clean foot contacts (numpy, float64).

Generated joints are recovered from features frame by frame, so bones stretch (a forearm between 0.18 and
0.29 m in one clip) and feet slide while they should stand. :func:`postprocess` turns raw joints (T, 22, 3),
metres, Y up, floor at y = 0, into a motion of one rigid skeleton whose feet stay where they touch the floor:

1. **Rigid bones.** A light low-pass first (Gaussian, ``smooth`` = 0.6 frame: it removes the frame-to-frame
   decoding noise that a rigid fit would otherwise turn into jitter), then the skeleton the BVH writer
   solves for (``motion.rig.smpl22_rest_offsets`` of the raw joints: every bone's median length over the
   clip, the pelvis and chest triangles in their mean shape), or the ``offsets`` given: IK onto the joints
   and FK with those offsets from the same root positions (``motion.kinematics.impose_bones``), so every
   bone keeps its direction and takes its fixed length. With ``keep_hands`` the wrists then go back to where
   the model put them relative to the shoulders (``raw_hands``: before the low-pass, so a fast wave keeps its
   amplitude), wherever the arm reaches (two-bone IK: a punch keeps its reach). A BVH written from the result and read back gives the same joints (to the file's 6 decimals).
2. **Contacts**, found on the (smoothed) input, whose feet the model put on the floor. Per foot, the toe joint
   (SMPL "foot") touches the floor while it is within ``toe_height`` (3 cm) of it and moves slower than
   ``contact_speed`` (vertical motion included: a foot rising or landing is not standing); the ankle while it
   is within ``heel_margin`` of its standing height (its median height while the toe touches) and slower
   than ``contact_speed``. A contact lasts (hysteresis) as long as the joint stays that low and slower than
   ``release_speed``; runs ``merge_gap`` frames apart are merged; a contact ends where its joint has
   travelled ``max_slide`` from where it began (a foot that travels that far is stepping, not standing);
   runs shorter than ``min_contact`` frames or without a slow frame are dropped.
3. **Pinning.** The feet start from where the model put them (``keep_feet``: the legs, not the feet, take up
   the rigid fit). During a contact the joint stays at its mean position over the contact (the toe's height
   held between the floor and ``stance_height`` above it); with pinned frames inside (``pins``, or the frames
   an edit keeps) at their positions instead, moving in a straight line from one to the next. The correction
   fades in and out over ``blend`` frames (smoothstep), longer where a bigger correction would otherwise add
   more than ``fade_speed`` (1 m/s) to the joint's speed (a foot pinned after sliding would snap back to its
   own path in one or two frames). The foot follows its pinned joints: pinned ankle and
   toe place the ankle and point the foot at the toe; one pinned joint moves the foot rigidly.
4. **Root height.** Where a leg cannot reach its ankle target (hip to target longer than ``reach`` times
   thigh + shin), the whole body is lowered by the least amount that lets it (at most ``max_drop``), smoothed
   over time (a running maximum over ``drop_radius`` frames each side, then a moving average as wide: never
   less than needed); never at frames whose pelvis height is pinned, fading to nothing next to kept frames.
5. **Leg IK.** Thigh and shin are re-solved by two-bone IK (``motion.kinematics.two_bone_ik``: lengths kept,
   the knee in its own bending plane) to reach the ankle targets; a foot in the air keeps its place, so
   lowering the root does not lower it. No foot joint goes lower than the floor or its own input height,
   whichever is lower (no new ground penetration; a toe that would is pitched up).
6. **Pins.** ``pins`` = ``{joint: (frames (n,), positions (n, 3))}`` (NaN = a free coordinate) are joints
   that must not move off their targets (a later constraint step passes them). Ankle and toe pins are
   contact targets (step 3); every pinned joint is then brought onto its target: a pinned pelvis moves the
   whole body; another joint moves the chain from its limb's root (collar, hip, spine1) or its nearest
   pinned ancestor: two-bone IK of its last two bones where they reach, else FABRIK along the chain; what
   hangs off the chain follows rigidly. The correction fades in and out over ``pin_blend`` frames. Where no
   pose of the bones reaches a target, the joint is put on it regardless: a constraint is never left.
7. **Kept frames.** ``keep`` (T,) marks frames that must come out bitwise as they went in (the frames an
   edit keeps from its source): the rigid fit fades in over ``pin_blend`` frames away from them, the feet
   touching them are pinned to them, and they are copied back at the end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from moscale_cli.config import ConfigBase
from moscale_cli.errors import MoScaleError
from moscale_cli.motion.kinematics import (
    bone_lengths,
    children_of,
    impose_bones,
    swing,
    two_bone_ik,
)
from moscale_cli.motion.skeleton import L_ANKLE, L_FOOT, R_ANKLE, R_FOOT, SMPL22, SMPL22_ARMS, SMPL22_LEGS

LEGS = SMPL22_LEGS  # (hip, knee, ankle, toe): left, right
FOOT_JOINTS = (L_ANKLE, L_FOOT, R_ANKLE, R_FOOT)  # left ankle, left toe, right ankle, right toe (the order of ``contacts``)
PARENTS = SMPL22.parents

Pins = Mapping[int, tuple[Sequence[int] | np.ndarray, np.ndarray]]


@dataclass
class PostprocessConfig(ConfigBase):
    """Settings of :func:`postprocess` (lengths in metres, speeds in m/s, durations in frames)."""

    rigid: bool = True  # constant bone lengths
    smooth: float = 0.6  # sigma (frames) of the Gaussian low-pass on the joints before the rigid fit; 0 = none
    keep_hands: bool = True  # the rigid fit keeps each wrist where the arm reaches it (relative to the shoulder)
    keep_feet: bool = True  # the feet start from where the model put them (the legs take up the rigid fit)
    raw_hands: bool = True  # the hands kept are the unsmoothed input's (fast gestures keep their amplitude)
    feet: bool = True  # contact detection, pinning, leg IK, root height
    floor: float = 0.0  # height of the floor
    toe_height: float = 0.03  # toe contact: at most this high above the floor
    stance_height: float = 0.02  # a pinned toe is held between the floor and this height above it
    heel_margin: float = 0.03  # ankle contact: at most this above its standing height
    contact_speed: float = 0.8  # contact: horizontal speed below this
    release_speed: float = 2.5  # a contact lasts while the joint stays low and slower than this
    vertical_speed: bool = True  # contact speeds count vertical motion too (a foot rising or landing is not standing)
    min_contact: int = 2  # shortest contact kept
    merge_gap: int = 2  # contacts this many frames apart or fewer are merged
    max_slide: float = 0.3  # m: a contact ends where its joint has moved this far from where it began
    blend: int = 2  # frames of fade in/out around contacts (at least)
    fade_speed: float = 1.0  # m/s: a contact's fade adds at most this speed to its joint (bigger corrections fade longer)
    pin_blend: int = 6  # frames of fade in/out around pins and kept frames
    reach: float = 0.995  # a leg stretches at most to this fraction of thigh + shin
    drop_radius: int = 4  # frames: the lowering of the body is smoothed over this many frames each side
    max_drop: float = 0.1  # m: the body is lowered at most this much (a leg that still cannot reach lets go)

    def __post_init__(self) -> None:
        if self.toe_height <= 0 or self.heel_margin <= 0 or self.contact_speed <= 0:
            raise MoScaleError("post-process: contact heights and speeds must be positive")
        if self.release_speed < self.contact_speed:
            raise MoScaleError("post-process: release_speed must be at least contact_speed")
        if self.smooth < 0 or self.fade_speed < 0:
            raise MoScaleError("post-process: smooth (frames) and fade_speed (m/s) must be >= 0")
        if self.min_contact < 1 or self.merge_gap < 0 or self.blend < 0 or self.pin_blend < 0 or self.drop_radius < 0:
            raise MoScaleError("post-process: min_contact >= 1, merge_gap >= 0 and blends >= 0 frames")
        if self.stance_height < 0:
            raise MoScaleError("post-process: stance_height must be >= 0")
        if self.max_slide <= 0 or self.max_drop < 0:
            raise MoScaleError("post-process: max_slide must be positive and max_drop >= 0")
        if not 0.5 < self.reach <= 1.0:
            raise MoScaleError("post-process: reach must lie in (0.5, 1]")


@dataclass
class PostprocessResult:
    """The cleaned joints (T, 22, 3) float64 and what was done."""

    joints: np.ndarray
    offsets: np.ndarray  # (22, 3) the rigid skeleton's rest offsets
    contacts: np.ndarray  # (T, 4) bool: contact of FOOT_JOINTS (left ankle, left toe, right ankle, right toe)
    drop: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (T,) metres the body was lowered


# ----------------------------------------------------------------------------------------- helpers
def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open runs [a, b) of True in a 1-D boolean array."""
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    d = np.flatnonzero(m[1:] != m[:-1])
    return [(int(a), int(b)) for a, b in zip(d[::2], d[1::2], strict=True)]


def contact_segments(mask: np.ndarray, min_len: int = 2, merge_gap: int = 2) -> list[tuple[int, int]]:
    """Runs of ``mask`` with gaps of at most ``merge_gap`` frames closed, then runs shorter than ``min_len``
    dropped."""
    segs: list[list[int]] = []
    for a, b in runs(mask):
        if segs and a - segs[-1][1] <= merge_gap:
            segs[-1][1] = b
        else:
            segs.append([a, b])
    return [(a, b) for a, b in segs if b - a >= min_len]


def joint_speed(pos_T3: np.ndarray, fps: float, vertical: bool = True) -> np.ndarray:
    """(T,) speed (m/s) of a joint path, 3-D or horizontal only (central differences, one-sided at the ends)."""
    p = np.asarray(pos_T3, dtype=np.float64)[:, [0, 1, 2] if vertical else [0, 2]]
    if p.shape[0] < 2:
        return np.zeros(p.shape[0])
    return np.linalg.norm(np.gradient(p, axis=0), axis=-1) * fps


def check_pins(pins: Pins | None, frames: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """``pins`` checked: joint indices 0..21, frames inside the clip and unique, positions (n, 3) (NaN = free)."""
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for joint, (fr, pos) in (pins or {}).items():
        k = int(joint)
        if not 0 <= k < SMPL22.num_joints:
            raise MoScaleError(f"pinned joint {joint} is not an SMPL-22 joint index (0..21)")
        f = np.asarray(fr, dtype=np.int64).reshape(-1)
        p = np.asarray(pos, dtype=np.float64).reshape(-1, 3)
        if len(f) != len(p):
            raise MoScaleError(f"pinned joint {k}: {len(f)} frames but {len(p)} positions")
        if len(f) and (f.min() < 0 or f.max() >= frames):
            raise MoScaleError(f"pinned joint {k}: frames must lie in 0..{frames - 1}")
        if len(np.unique(f)) != len(f):
            raise MoScaleError(f"pinned joint {k}: a frame is pinned twice")
        if np.isinf(p).any():
            raise MoScaleError(f"pinned joint {k}: positions must be finite (NaN = a free coordinate)")
        order = np.argsort(f)
        out[k] = (f[order], p[order])
    return out


# ------------------------------------------------------------------------------------------- bones
_CHILDREN = children_of(PARENTS)


def _subtree(k: int) -> list[int]:
    out, stack = [], [k]
    while stack:
        c = stack.pop()
        out.append(c)
        stack.extend(_CHILDREN[c])
    return out


SUBTREES = [_subtree(k) for k in range(len(PARENTS))]


def rigid_offsets(joints_TJ3: np.ndarray) -> np.ndarray:
    """(22, 3) rest offsets of the skeleton the BVH writer solves for (``smpl22_rest_offsets``)."""
    from moscale_cli.motion.rig import smpl22_rest_offsets

    return smpl22_rest_offsets(joints_TJ3)


def gaussian_smooth(x_T: np.ndarray, sigma: float) -> np.ndarray:
    """``x`` (T, ...) filtered along time by a Gaussian of ``sigma`` frames. The ends are padded by point
    reflection (``2 x[0] - x[k]``), so the first and last frames keep their values exactly (the first frame's
    pelvis stays over the origin) and a steady motion runs on through them."""
    x = np.asarray(x_T, dtype=np.float64)
    if sigma <= 0 or x.shape[0] < 2:
        return x.copy()
    r = min(max(1, int(np.ceil(3.0 * sigma))), x.shape[0] - 1)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    pad = np.concatenate([2.0 * x[:1] - x[r:0:-1], x, 2.0 * x[-1:] - x[-2 : -r - 2 : -1]])
    return sum(w * pad[i : i + x.shape[0]] for i, w in enumerate(k))


ARMS = SMPL22_ARMS  # (shoulder, elbow, wrist): left, right


def rigidify(
    joints_TJ3: np.ndarray, offsets: np.ndarray | None = None, keep_hands: bool = False,
    hands: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(joints, offsets): SMPL-22 joints (T, 22, 3) on one rigid skeleton (``offsets``, default
    :func:`rigid_offsets`): IK onto the joints, FK with the offsets from the same root positions, so every
    bone keeps its direction and takes its fixed length. ``keep_hands``: the wrists then go back to their
    input positions wherever the arm reaches them (two-bone IK from the shoulder, the elbow in its own
    bending plane), so that a reaching hand keeps its reach; ``hands`` (T, 22, 3): take the wrists (relative
    to the shoulders) from these joints instead (the post-process passes the unsmoothed input)."""
    j = np.asarray(joints_TJ3, dtype=np.float64)
    off = rigid_offsets(j) if offsets is None else np.asarray(offsets, dtype=np.float64)
    pos = impose_bones(PARENTS, j, off)
    if keep_hands:
        back = -_forward(pos)  # elbows bend backwards where an arm is straight
        h = j if hands is None else np.asarray(hands, dtype=np.float64)
        for sh, el, wr in ARMS:
            pos[:, el], pos[:, wr] = two_bone_ik(
                pos[:, sh], pos[:, el], h[:, wr] - h[:, sh] + pos[:, sh], float(np.linalg.norm(off[el])),
                float(np.linalg.norm(off[wr])), back,
            )
    return pos, off


# ----------------------------------------------------------------------------------------- contacts
def _grow(seed: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """``seed`` grown through the runs of ``allowed`` frames that touch it (hysteresis)."""
    out = seed.copy()
    for a, b in runs(allowed | seed):
        if seed[a:b].any():
            out[a:b] = True
    return out


def detect_contacts(joints_TJ3: np.ndarray, fps: float, cfg: PostprocessConfig) -> tuple[np.ndarray, np.ndarray]:
    """(contacts, slow): (T, 4) bool raw contact masks of FOOT_JOINTS (see the module doc, step 2; before
    merging and splitting) and the frames where each joint is slower than ``contact_speed``."""
    j = np.asarray(joints_TJ3, dtype=np.float64)
    out = np.zeros((j.shape[0], 4), dtype=bool)
    slow = np.zeros((j.shape[0], 4), dtype=bool)
    for leg, (_, _, ankle, toe) in enumerate(LEGS):
        low = j[:, toe, 1] - cfg.floor < cfg.toe_height
        v = joint_speed(j[:, toe], fps, cfg.vertical_speed)
        slow[:, 2 * leg + 1] = v < cfg.contact_speed
        toe_c = _grow(low & (v < cfg.contact_speed), low & (v < cfg.release_speed))
        out[:, 2 * leg + 1] = toe_c
        v = joint_speed(j[:, ankle], fps, cfg.vertical_speed)
        slow[:, 2 * leg] = v < cfg.contact_speed
        if toe_c.any():
            stand = float(np.median(j[toe_c, ankle, 1]))
            low = j[:, ankle, 1] < stand + cfg.heel_margin
            out[:, 2 * leg] = _grow(low & (v < cfg.contact_speed), low & (v < cfg.release_speed))
    return out, slow


def split_slides(
    pos_T3: np.ndarray, segs: list[tuple[int, int]], slow: np.ndarray, max_slide: float, min_len: int
) -> list[tuple[int, int]]:
    """Contact segments cut wherever the joint has moved (horizontally) more than ``max_slide`` from where
    the piece began; a piece cut from the one before starts at its first slow frame at least ``min_len`` frames
    after the cut (two holds side by side made the foot jump from one to the other in one frame, up to
    0.46 m; the gap lets the fades carry it across); pieces shorter than ``min_len`` frames or without a slow
    frame are dropped."""
    out: list[tuple[int, int]] = []
    for a, b in segs:
        start = a
        for t in range(a, b + 1):
            if t < b and np.linalg.norm(pos_T3[t, [0, 2]] - pos_T3[start, [0, 2]]) <= max_slide:
                continue
            lo = start
            if start > a:  # cut from the piece before: the foot has been moving; it stands again where slow
                idx = np.flatnonzero(slow[start + min_len:t])
                lo = start + min_len + int(idx[0]) if len(idx) else t
            if t - lo >= min_len and slow[lo:t].any():
                out.append((lo, t))
            start = t
    return out


def _targets(
    pos_T3: np.ndarray, segs: list[tuple[int, int]], pins: tuple[np.ndarray, np.ndarray] | None,
    floor: tuple[float, float] | None,
) -> list[tuple[int, int, np.ndarray]]:
    """(a, b, targets (b - a, 3)) per contact segment, and one single-frame segment per pin outside them.

    A contact holds its joint at its mean position (its height clipped to ``floor`` = (low, high) when
    given); a contact with pinned
    frames holds it at the pins' positions instead: the first pin's before it, the last pin's after it, and
    a straight line from one pin to the next in between (NaN coordinates of a pin: the joint's own)."""
    pf, pp = pins if pins is not None else (np.zeros(0, np.int64), np.zeros((0, 3)))
    pp = np.where(np.isnan(pp), pos_T3[pf], pp) if len(pf) else pp
    used = np.zeros(len(pf), dtype=bool)
    out: list[tuple[int, int, np.ndarray]] = []
    for a, b in segs:
        inside = np.flatnonzero((pf >= a) & (pf < b))
        if not len(inside):
            tgt = pos_T3[a:b].mean(0)
            if floor is not None:
                tgt[1] = min(max(tgt[1], floor[0]), floor[1])
            out.append((a, b, np.repeat(tgt[None], b - a, axis=0)))
            continue
        used[inside] = True
        ts = np.arange(a, b)
        f, p = pf[inside], pp[inside]
        tg = np.stack([np.interp(ts, f, p[:, c]) for c in range(3)], axis=-1)  # constant outside the pins
        out.append((a, b, tg))
    for i in np.flatnonzero(~used):
        f = int(pf[i])
        out.append((f, f + 1, pp[i][None]))
    return sorted(out, key=lambda s: s[0])


def fade_frames(correction: float, blend: int, max_step: float) -> int:
    """Frames a correction of ``correction`` m fades over: at least ``blend``, and enough that the smoothstep
    (steepest slope 1.5 per unit) moves the joint by at most ``max_step`` m per frame (0 = no limit)."""
    if max_step <= 0:
        return blend
    return max(blend, int(np.ceil(1.5 * correction / max_step)) - 1)


def _fade(pos_T3: np.ndarray, segs: list[tuple[int, int, np.ndarray]], blend: int,
          max_step: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(delta (T, 3), weight (T,)): inside a segment the full correction onto its targets (weight 1);
    around it the correction of its first/last frame fading out over ``blend`` frames (smoothstep), or longer
    where that would move the joint more than ``max_step`` m per frame (a foot released from a pin it slid
    away from does not snap back); overlapping fades are averaged by weight."""
    t = pos_T3.shape[0]
    delta = np.zeros((t, 3))
    num = np.zeros((t, 3))
    den = np.zeros(t)
    wmax = np.zeros(t)
    inside = np.zeros(t, dtype=bool)
    for a, b, tgt in segs:
        delta[a:b] = tgt - pos_T3[a:b]
        inside[a:b] = True
        for edge, side in ((a, -1), (b - 1, 1)):
            n = fade_frames(float(np.linalg.norm(tgt[edge - a] - pos_T3[edge])), blend, max_step)
            ts = np.arange(max(0, a - n), a) if side < 0 else np.arange(b, min(t, b + n))
            if not len(ts):
                continue
            w = smoothstep(1.0 - np.abs(ts - edge) / (n + 1.0))
            num[ts] += w[:, None] * (tgt[edge - a] - pos_T3[edge])
            den[ts] += w
            wmax[ts] = np.maximum(wmax[ts], w)
    out = ~inside & (den > 0)
    delta[out] = num[out] / den[out, None]
    weight = np.where(inside, 1.0, wmax)
    return delta, weight


def _smooth_max(req: np.ndarray, radius: int) -> np.ndarray:
    """A smooth curve >= ``req`` where it matters: running maximum over ±radius, then a moving average."""
    if radius < 1 or not (req > 0).any():
        return req.copy()
    t = len(req)
    pad = np.pad(req, radius, mode="edge")
    mx = np.max(np.stack([pad[i : i + t] for i in range(2 * radius + 1)]), axis=0)
    pad = np.pad(mx, radius, mode="edge")
    k = np.ones(2 * radius + 1) / (2 * radius + 1)
    return np.convolve(pad, k, mode="valid")


def _ramp_near(mask: np.ndarray, blend: int) -> np.ndarray:
    """(T,) 1 on ``mask`` frames, fading to 0 over ``blend`` frames away from them (smoothstep)."""
    t = len(mask)
    idx = np.flatnonzero(mask)
    if not len(idx):
        return np.zeros(t)
    dist = np.min(np.abs(np.arange(t)[:, None] - idx[None, :]), axis=1)
    return smoothstep(1.0 - dist / (blend + 1.0))


def clean_feet(
    joints_TJ3: np.ndarray, fps: float, cfg: PostprocessConfig,
    pins: dict[int, tuple[np.ndarray, np.ndarray]] | None = None, keep: np.ndarray | None = None,
    lowest: np.ndarray | None = None, offsets: np.ndarray | None = None, detect: np.ndarray | None = None,
    keep_feet: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(joints, contacts (T, 4), drop (T,)): steps 2-5 of the module doc on rigid joints (T, 22, 3).
    ``lowest`` (T, 4): how low each of FOOT_JOINTS may go (default: the floor or its height in
    ``joints``, whichever is lower); ``offsets`` (22, 3): the skeleton whose leg lengths the IK keeps
    (default: the lengths at frame 0); ``detect`` (T, 22, 3): the joints whose feet say where the contacts
    are (default ``joints``; the post-process passes the input before the rigid fit, whose feet the model
    put on the floor); ``keep_feet``: the feet start from their places in ``detect`` rather than in
    ``joints`` (the legs, not the feet, take up the length differences of the rigid fit)."""
    j = np.asarray(joints_TJ3, dtype=np.float64).copy()
    t = j.shape[0]
    bone = np.linalg.norm(offsets, axis=-1) if offsets is not None else bone_lengths(PARENTS, j[:1])[0]
    if lowest is None:
        lowest = np.minimum(j[:, FOOT_JOINTS, 1], cfg.floor)
    pins = dict(pins or {})
    src = j if detect is None else np.asarray(detect, dtype=np.float64)
    feet = src if keep_feet else j
    raw, slow = detect_contacts(src, fps, cfg)
    contacts = np.zeros_like(raw)
    plan = []
    for leg, (hip, knee, ankle, toe) in enumerate(LEGS):
        fields = []
        for c, k in ((2 * leg, ankle), (2 * leg + 1, toe)):
            segs = contact_segments(raw[:, c], cfg.min_contact, cfg.merge_gap)
            segs = split_slides(feet[:, k], segs, slow[:, c], cfg.max_slide, cfg.min_contact)
            for a, b in segs:
                contacts[a:b, c] = True
            band = (cfg.floor, cfg.floor + cfg.stance_height) if k == toe else None
            tg = _targets(feet[:, k], segs, pins.get(k), band)
            fields.append(_fade(feet[:, k], tg, cfg.blend, cfg.fade_speed / fps))
        (da, wa), (dt, wt) = fields
        a0, t0 = feet[:, ankle], feet[:, toe]
        a_tgt = a0 + wa[:, None] * da + ((1.0 - wa) * wt)[:, None] * dt
        t_lin = t0 + wt[:, None] * dt + ((1.0 - wt) * wa)[:, None] * da
        # no new penetration: neither joint lower than ``lowest``
        lift = np.maximum.reduce([np.zeros(t), lowest[:, 2 * leg] - a_tgt[:, 1], lowest[:, 2 * leg + 1] - t_lin[:, 1]])
        a_tgt[:, 1] += lift
        t_lin[:, 1] += lift
        plan.append((hip, knee, ankle, toe, a_tgt, t_lin))
    # root height: lower the body where a leg cannot reach its ankle target
    req = np.zeros(t)
    for hip, knee, ankle, _, a_tgt, _ in plan:
        reach = cfg.reach * (bone[knee] + bone[ankle])
        hor = np.sum((a_tgt - j[:, hip])[:, [0, 2]] ** 2, -1)
        above = j[:, hip, 1] - a_tgt[:, 1]
        ok = hor < reach**2
        need = np.where(ok, above - np.sqrt(np.maximum(reach**2 - hor, 0.0)), 0.0)
        req = np.maximum(req, need)
    drop = _smooth_max(np.clip(req, 0.0, cfg.max_drop), cfg.drop_radius)
    if 0 in pins:  # a pinned pelvis height is not moved
        f0, p0 = pins[0]
        drop *= 1.0 - _ramp_near(np.isin(np.arange(t), f0[~np.isnan(p0[:, 1])]), cfg.pin_blend)
    if keep is not None:
        drop *= 1.0 - _ramp_near(keep, cfg.pin_blend)
    j[:, :, 1] -= drop[:, None]
    fwd = _forward(j)
    for leg, (hip, knee, ankle, toe, a_tgt, t_lin) in enumerate(plan):
        l1, l2, lf = float(bone[knee]), float(bone[ankle]), float(bone[toe])
        foot_dir = _unit(t_lin - a_tgt)
        new_knee, new_ankle = two_bone_ik(j[:, hip], j[:, knee], a_tgt, l1, l2, fwd)
        # the toe no lower than ``lowest``: pitch the foot up
        low = lowest[:, 2 * leg + 1]
        dy = np.clip((low - new_ankle[:, 1]) / lf, -1.0, 1.0)
        up = new_ankle[:, 1] + lf * foot_dir[:, 1] < low
        if up.any():
            hor = foot_dir[up][:, [0, 2]]
            hn = np.linalg.norm(hor, axis=-1, keepdims=True)
            hor = np.where(hn > 1e-9, hor / np.maximum(hn, 1e-12), np.array([[0.0, 1.0]]))
            s = np.sqrt(1.0 - dy[up] ** 2)[:, None]
            foot_dir[up] = np.stack([hor[:, 0] * s[:, 0], dy[up], hor[:, 1] * s[:, 0]], axis=-1)
        j[:, knee] = new_knee
        j[:, ankle] = new_ankle
        j[:, toe] = new_ankle + lf * foot_dir
    return j, contacts, drop


def _forward(j: np.ndarray) -> np.ndarray:
    from moscale_cli.motion.features import body_forward

    return body_forward(j)


# --------------------------------------------------------------------------------------------- pins
def _chain(k: int, base: int) -> list[int]:
    """Joints from ``base`` (an ancestor of ``k``) down to ``k``."""
    out = [k]
    while out[-1] != base:
        out.append(PARENTS[out[-1]])
    return out[::-1]


def _carry(pose: np.ndarray, old: np.ndarray, chain: list[int]) -> None:
    """After the joints of ``chain`` moved (``old``: the pose before), move what hangs off them rigidly: the
    off-chain subtrees of each chain joint turn with its outgoing chain bone, the end's subtree with the
    last bone."""
    on = set(chain)
    for i, c in enumerate(chain[1:], start=1):
        nxt = chain[i + 1] if i + 1 < len(chain) else None
        a_old = (old[nxt] - old[c]) if nxt is not None else (old[c] - old[chain[i - 1]])
        a_new = (pose[nxt] - pose[c]) if nxt is not None else (pose[c] - pose[chain[i - 1]])
        rot = swing(a_old, a_new) if np.linalg.norm(a_old) > 1e-12 and np.linalg.norm(a_new) > 1e-12 else np.eye(3)
        for ch in _CHILDREN[c]:
            if ch in on:
                continue
            sub = SUBTREES[ch]
            pose[sub] = pose[c] + (old[sub] - old[c]) @ rot.T


def _fabrik(pts: np.ndarray, target: np.ndarray, iters: int = 30, tol: float = 1e-9) -> np.ndarray:
    """FABRIK on a chain ``pts`` (n, 3) with its first point fixed; the end reaches ``target`` if it can
    (else the chain points straight at it)."""
    p = pts.copy()
    lens = np.linalg.norm(np.diff(p, axis=0), axis=-1)
    base = p[0].copy()
    if np.linalg.norm(target - base) >= lens.sum():
        d = _unit(target - base)
        p[1:] = base + np.cumsum(lens)[:, None] * d
        return p
    for _ in range(iters):
        p[-1] = target
        for i in range(len(p) - 2, -1, -1):
            p[i] = p[i + 1] + _unit(p[i] - p[i + 1]) * lens[i]
        p[0] = base
        for i in range(1, len(p)):
            p[i] = p[i - 1] + _unit(p[i] - p[i - 1]) * lens[i - 1]
        if np.linalg.norm(p[-1] - target) < tol:
            break
    return p


# where the chain that moves a pinned joint starts: the limb's root (collar, hip) or spine1 for the spine,
# so that the pelvis and chest (rigid bodies of several bones) keep their shape; joints of those bodies
# themselves (hips, spine1, collars) are placed directly.
LIMB_BASE = {4: 1, 7: 1, 10: 1, 5: 2, 8: 2, 11: 2, 6: 3, 9: 3, 12: 3, 15: 3,
             16: 13, 18: 13, 20: 13, 17: 14, 19: 14, 21: 14}  # fmt: skip


def reach(pose_J3: np.ndarray, k: int, target: np.ndarray, fixed: set[int] | frozenset[int] = frozenset()) -> np.ndarray:
    """A copy of one pose (22, 3) with joint ``k`` on ``target`` (3,), bones kept where possible: the pelvis
    moves the whole body; a limb or spine joint moves the chain from its nearest ``fixed`` ancestor or
    :data:`LIMB_BASE`: two-bone IK of its last two bones where they reach, else FABRIK along the chain;
    what hangs off the chain follows rigidly. Where nothing reaches, the joint is put on the target
    regardless (its bone then changes length)."""
    pose = np.array(pose_J3, dtype=np.float64, copy=True)
    target = np.asarray(target, dtype=np.float64)
    if k == 0:
        return pose + (target - pose[0])
    limb = LIMB_BASE.get(k, PARENTS[k])
    base = PARENTS[k]
    while base != limb and base not in fixed:
        base = PARENTS[base]
    chain = _chain(k, base)
    old = pose.copy()
    if len(chain) >= 3:
        g, p = chain[-3], chain[-2]
        l1 = float(np.linalg.norm(pose[p] - pose[g]))
        l2 = float(np.linalg.norm(pose[k] - pose[p]))
        dist = float(np.linalg.norm(target - pose[g]))
        if abs(l1 - l2) * 1.0001 + 1e-9 <= dist <= (l1 + l2) * 0.9999:  # the range two_bone_ik reaches
            mid, end = two_bone_ik(pose[g][None], pose[p][None], target[None], l1, l2, np.array([[0.0, 0.0, 1.0]]))
            pose[p], pose[k] = mid[0], end[0]
        else:
            pose[chain] = _fabrik(pose[chain], target)
    pose[k] = target  # exact (FABRIK stops at its tolerance; an unreachable target is met regardless)
    _carry(pose, old, chain)
    return pose


def _pin_field(frames: np.ndarray, resid: np.ndarray, t: int, blend: int) -> np.ndarray:
    """(T, 3) correction: ``resid`` at the pinned ``frames``, interpolated between pins at most
    2 * blend + 1 frames apart (smoothstep), fading out over ``blend`` frames elsewhere."""
    out = np.zeros((t, 3))
    out[frames] = resid
    for i, f in enumerate(frames):
        nxt = frames[i + 1] if i + 1 < len(frames) else None
        if nxt is not None and nxt - f <= 2 * blend + 1:
            ts = np.arange(f + 1, nxt)
            u = smoothstep((ts - f) / float(nxt - f))[:, None]
            out[ts] = (1.0 - u) * resid[i] + u * resid[i + 1]
            continue
        ts = np.arange(f + 1, min(t, f + blend + 1))
        out[ts] += smoothstep(1.0 - (ts - f) / (blend + 1.0))[:, None] * resid[i]
    for i, f in enumerate(frames):
        prv = frames[i - 1] if i > 0 else None
        if prv is not None and f - prv <= 2 * blend + 1:
            continue
        ts = np.arange(max(0, f - blend), f)
        out[ts] += smoothstep(1.0 - (f - ts) / (blend + 1.0))[:, None] * resid[i]
    return out


def apply_pins(
    joints_TJ3: np.ndarray, pins: dict[int, tuple[np.ndarray, np.ndarray]], blend: int,
    weight: np.ndarray | None = None, passes: int = 2,
) -> np.ndarray:
    """Joints with every pinned joint on its target (see the module doc, step 6); ``weight`` (T,) scales
    the faded corrections (0 on frames that must not change)."""
    j = np.array(joints_TJ3, dtype=np.float64, copy=True)
    t = j.shape[0]
    pinned_at: list[set[int]] = [set() for _ in range(t)]
    for k, (fr, _) in pins.items():
        for f in fr:
            pinned_at[int(f)].add(k)
    for _ in range(passes):
        for k in sorted(pins):
            fr, pos = pins[k]
            if not len(fr):
                continue
            resid = np.where(np.isnan(pos), 0.0, pos - j[fr, k])
            if np.abs(resid).max() < 1e-12:
                continue
            field_ = _pin_field(fr, resid, t, blend)
            if weight is not None:
                on = np.isin(np.arange(t), fr)
                field_ *= np.where(on, 1.0, weight)[:, None]
            for f in np.flatnonzero(np.abs(field_).max(axis=1) > 1e-12):
                j[f] = reach(j[f], k, j[f, k] + field_[f], pinned_at[f] - {k})
    for k, (fr, pos) in pins.items():  # exact to the last bit where given
        if len(fr):
            j[fr, k] = np.where(np.isnan(pos), j[fr, k], pos)
    return j


# ---------------------------------------------------------------------------------------------- all
def postprocess(
    joints_TJ3: np.ndarray,
    fps: float = 20.0,
    config: PostprocessConfig | None = None,
    offsets: np.ndarray | None = None,
    pins: Pins | None = None,
    keep: np.ndarray | None = None,
) -> PostprocessResult:
    """Rigid bones and clean foot contacts for SMPL-22 joints (T, 22, 3) in metres at ``fps`` (module doc).

    ``offsets`` (22, 3): the skeleton to impose (default: the clip's own, as the BVH writer solves it);
    ``pins``: ``{joint index: (frames (n,), positions (n, 3))}``, NaN = a free coordinate: these joints end
    on their targets exactly; ``keep`` (T,) bool: frames returned bitwise as given."""
    cfg = config or PostprocessConfig()
    raw = np.asarray(joints_TJ3, dtype=np.float64)
    if raw.ndim != 3 or raw.shape[1:] != (22, 3):
        raise MoScaleError(f"the post-process needs SMPL-22 joints (T, 22, 3), got shape {raw.shape}")
    if not np.isfinite(raw).all():
        raise MoScaleError("the post-process got NaN or infinite joint positions")
    t = raw.shape[0]
    if not (np.isfinite(fps) and fps > 0):
        raise MoScaleError(f"fps must be positive, got {fps}")
    pin = check_pins(pins, t)
    kept = None
    if keep is not None:
        kept = np.asarray(keep, dtype=bool).reshape(-1)
        if kept.shape != (t,):
            raise MoScaleError(f"keep mask has shape {kept.shape}, the motion has {t} frames")
        if not kept.any():
            kept = None
    off = rigid_offsets(raw) if offsets is None else np.asarray(offsets, dtype=np.float64)
    if off.shape != (22, 3):
        raise MoScaleError(f"offsets must have shape (22, 3), got {off.shape}")
    smoothed = gaussian_smooth(raw, cfg.smooth)
    j = rigidify(smoothed, off, cfg.keep_hands, raw if cfg.raw_hands else None)[0] if cfg.rigid else smoothed.copy()
    weight = None
    if kept is not None:  # the rigid fit fades in away from the kept frames
        weight = 1.0 - _ramp_near(kept, cfg.pin_blend)
        j = raw + weight[:, None, None] * (j - raw)
        for k in list(pin):  # pins on kept frames are the kept frames themselves
            fr, pos = pin[k]
            sel = ~kept[fr]
            pin[k] = (fr[sel], pos[sel])
    contacts = np.zeros((t, 4), dtype=bool)
    drop = np.zeros(t)
    if cfg.feet and t >= 2:
        lowest = np.minimum(raw[:, FOOT_JOINTS, 1], cfg.floor)  # no lower than the input or the floor
        foot_pins = dict(pin)
        if kept is not None:  # the feet of kept frames stay where they are: contacts touching them end there
            kf = np.flatnonzero(kept)
            for k in FOOT_JOINTS:
                f0, p0 = foot_pins.get(k, (np.zeros(0, np.int64), np.zeros((0, 3))))
                f1 = np.concatenate([f0, kf])
                p1 = np.concatenate([p0, raw[kf, k]])
                order = np.argsort(f1)
                foot_pins[k] = (f1[order], p1[order])
        j, contacts, drop = clean_feet(j, fps, cfg, foot_pins, kept, lowest, off, detect=smoothed,
                                       keep_feet=cfg.keep_feet)
    if pin:
        j = apply_pins(j, pin, cfg.pin_blend, weight)
    if kept is not None:
        j[kept] = raw[kept]
    return PostprocessResult(j, off, contacts, drop)


def bone_length_cv(joints_TJ3: np.ndarray) -> np.ndarray:
    """(21,) coefficient of variation (std / mean over the clip) of every bone's length."""
    lengths = bone_lengths(PARENTS, np.asarray(joints_TJ3, dtype=np.float64))[:, 1:]
    return lengths.std(0) / np.maximum(lengths.mean(0), 1e-12)


__all__ = [
    "FOOT_JOINTS",
    "LEGS",
    "PostprocessConfig",
    "PostprocessResult",
    "apply_pins",
    "bone_length_cv",
    "check_pins",
    "clean_feet",
    "contact_segments",
    "detect_contacts",
    "postprocess",
    "reach",
    "rigid_offsets",
    "rigidify",
]
