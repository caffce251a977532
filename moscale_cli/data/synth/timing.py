"""When things happen in a clip: its length (drawn independently of the program), the program's physical
minimum and natural length, and the plan that fits the program into the length (tempo, durations, pauses
between repetitions, bouts, idle before, between and after the actions).

Lengths here are *joint frames* ``n`` (the composer's frames; a clip has ``n - 1`` feature frames) unless a
name says ``feature``. A clip is a chain of pieces (action bouts and idle stretches) that overlap by
``BLEND`` frames, so its length is ``BLEND + sum(bout - BLEND) + sum(pauses) + sum(idle)``: an idle stretch
of ``g`` frames and a pause of ``g`` frames each add exactly ``g``.

* **Physical minimum** (:func:`min_frames`): every action at its fastest pace (``PACE[1]`` in its speed
  class), durations at their shortest (the action table's ``fill``), one bout, no pause, ``MARGIN`` idle frames at each end
  (at least 2 s). A program whose minimum is over 9.8 s does not fit any clip.
* **Natural length** (:func:`natural_frames`): the program at its drawn pace and durations, one bout, no
  pause, ``NATURAL_LEAD`` / ``NATURAL_TAIL`` idle frames: what a person takes without extra waiting.
* **Clip length** (:func:`draw_length`): uniform over [minimum, 196] feature frames, or (with probability
  ``P_NATURAL``) the natural length stretched by ``NATURAL_STRETCH`` and clamped into that range: independent
  of the count above the minimum, and natural lengths well covered.
* **Plan** (:func:`plan_clip`): a clip shorter than the program's natural length raises the paces and
  shortens the durations (together, just enough); a longer one gives durations part of the slack, then splits
  the rest at random (Dirichlet) between the idle before and after, the gaps between actions, the gaps between
  repetitions and the holds of held poses. A gap between repetitions up to the action's ``pause_max`` pauses
  the motion at its rest (hands held up between waves); a longer one ends the bout (arms down, feet together)
  and starts another after idle frames. Counts are never changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from moscale_cli.data.synth.actions import segment_frames
from moscale_cli.data.synth.program import FPS, MAX_FRAMES, MIN_FRAMES, PACE, ActionSpec, Program

BLEND = 8  # frames of cross-fade between pieces (0.4 s)
MARGIN = 4  # idle frames at least before the first and after the last action (a training crop is <= 4)
MIN_GAP = 2  # the shortest pause (shorter slack goes to the end of the clip)
MIN_IDLE = BLEND  # the shortest idle stretch between two bouts or actions (so that they do not overlap)
NATURAL_LEAD, NATURAL_TAIL = 6, 8  # idle frames around the actions at the natural length
P_NATURAL = 0.35  # share of clips drawn near their natural length
NATURAL_STRETCH = (1.0, 1.3)

DEFAULT_FILL = (1.5, 9.0)  # a duration action's fill range when its table entry gives none


def fill_range(spec: ActionSpec) -> tuple[float, float] | None:
    """The durations (s) a duration action may take in a clip (the action table's ``fill``, a circle's by its
    angle; None: the action has no duration)."""
    if spec.duration is None:
        return None
    d = spec.definition
    if d.fill_by_angle:
        by = {a: (lo, hi) for a, lo, hi in d.fill_by_angle}
        return by.get(spec.angle or 360, by.get(360, next(iter(by.values()))))
    return d.fill or DEFAULT_FILL


def pause_max(spec: ActionSpec) -> int:
    """Frames of the longest pause at one of the action's rests (the action table's ``pause_max``)."""
    return int(round(spec.definition.pause_max * FPS))


def fastest(spec: ActionSpec) -> ActionSpec:
    """The action at its fastest pace and shortest duration (the physical minimum)."""
    fr = fill_range(spec)
    return replace(spec, pace=PACE[1], duration=fr[0] if fr else None, span=None, events=[])


def chain_frames(pieces: list[int], extra: int = 0) -> int:
    """Joint frames of a chain of pieces (lengths) overlapping by BLEND, plus ``extra`` idle/pause frames."""
    return BLEND + sum(p - BLEND for p in pieces) + extra


def min_frames(program: Program) -> int:
    """The program's physical minimum in feature frames (at least ``MIN_FRAMES``; may exceed ``MAX_FRAMES``)."""
    n = chain_frames([segment_frames(fastest(a)) for a in program.actions], 2 * MARGIN)
    return max(MIN_FRAMES, n - 1)


def natural_frames(program: Program) -> int:
    """The program's natural length in feature frames (drawn pace and durations, short idle margins), clamped
    into ``MIN_FRAMES..MAX_FRAMES``."""
    n = chain_frames([segment_frames(clamp_duration(a)) for a in program.actions], NATURAL_LEAD + NATURAL_TAIL)
    return int(np.clip(n - 1, MIN_FRAMES, MAX_FRAMES))


def draw_length(program: Program, rng: np.random.Generator) -> int:
    """A clip length in feature frames for the program (see the module docstring)."""
    lo = min_frames(program)
    if lo > MAX_FRAMES:
        raise ValueError(f"the program needs {lo} frames, more than {MAX_FRAMES}")
    if rng.random() < P_NATURAL:
        want = natural_frames(program) * rng.uniform(*NATURAL_STRETCH)
        return int(np.clip(round(want), lo, MAX_FRAMES))
    return int(rng.integers(lo, MAX_FRAMES + 1))


# ------------------------------------------------------------------------------------------ the plan
@dataclass
class BoutPlan:
    count: int | None  # repetitions in this bout (None: the action has no count)
    pauses: list[tuple[int, int]] = field(default_factory=list)  # (index into the segment's rests, frames)


@dataclass
class ActionPlan:
    spec: ActionSpec  # the action as rendered (pace and duration fitted)
    bouts: list[BoutPlan]
    gaps: list[int] = field(default_factory=list)  # idle frames between consecutive bouts


@dataclass
class ClipPlan:
    actions: list[ActionPlan]
    idle: list[int]  # idle frames before the first action, between actions, after the last (len = actions + 1)
    frames: int  # joint frames of the clip

    def total(self) -> int:
        """Joint frames the plan makes (equals ``frames`` for a finished plan)."""
        pieces, extra = [], sum(self.idle)
        for ap in self.actions:
            for b in ap.bouts:
                pieces.append(segment_frames(replace(ap.spec, count=b.count)))
                extra += sum(g for _, g in b.pauses)
            extra += sum(ap.gaps)
        return chain_frames(pieces, extra)


def _fixed(specs: list[ActionSpec]) -> int:
    return chain_frames([segment_frames(s) for s in specs], 2 * MARGIN)


def _toward_fastest(spec: ActionSpec, s: float) -> ActionSpec:
    fr = fill_range(spec)
    dur = None if spec.duration is None or fr is None else spec.duration + s * (fr[0] - spec.duration)
    return replace(spec, pace=spec.pace + s * (PACE[1] - spec.pace), duration=dur)


def _fit(specs: list[ActionSpec], n: int) -> list[ActionSpec]:
    """Raise paces and shorten durations together, just enough to fit ``n`` joint frames."""
    if _fixed(specs) <= n:
        return specs
    top = [_toward_fastest(s, 1.0) for s in specs]
    if _fixed(top) > n:
        raise ValueError(f"the program does not fit {n - 1} frames (its minimum is {_fixed(top) - 1})")
    lo, hi = 0.0, 1.0
    for _ in range(16):
        mid = 0.5 * (lo + hi)
        if _fixed([_toward_fastest(s, mid) for s in specs]) <= n:
            hi = mid
        else:
            lo = mid
    return [_toward_fastest(s, hi) for s in specs]


def _extend(specs: list[ActionSpec], slack: int, rng: np.random.Generator, n: int) -> list[ActionSpec]:
    """Give duration actions part of the slack (more when the program has a standing-still action)."""
    idx = [i for i, s in enumerate(specs) if s.duration is not None]
    if not idx or slack <= 0:
        return specs
    frac = rng.uniform(0.85, 1.0) if any(specs[i].definition.generator == "idle" for i in idx) else rng.uniform(0.5, 1.0)
    share = rng.dirichlet(np.ones(len(idx))) * slack * frac / FPS
    out = list(specs)
    for k, i in enumerate(idx):
        fr = fill_range(specs[i])
        assert fr is not None
        out[i] = replace(specs[i], duration=float(min(specs[i].duration + share[k], max(fr[1], specs[i].duration))))
    scale = 1.0
    while _fixed(out) > n and scale > 0:  # rounding of steps: give back a little
        scale = round(scale - 0.05, 2)
        out = [replace(o, duration=s.duration + scale * (o.duration - s.duration)) if s.duration is not None else o
               for o, s in zip(out, specs, strict=True)]
    return out if _fixed(out) <= n else specs


def _rests(spec: ActionSpec) -> int:
    """Slots between repetitions (pauses or new bouts) or in a held pose (pauses) of ``spec``."""
    if spec.count is not None and spec.definition.bouts:
        return spec.count - 1
    return 1 if pause_max(spec) > 0 else 0


def clamp_duration(spec: ActionSpec) -> ActionSpec:
    """``spec`` with its duration inside its fill range (a half circle is shorter than a circle)."""
    fr = fill_range(spec)
    if fr is None or fr[0] <= (spec.duration or 0.0) <= fr[1]:
        return spec
    return replace(spec, duration=float(np.clip(spec.duration or fr[0], fr[0], fr[1])))


def plan_clip(program: Program, frames: int, rng: np.random.Generator) -> ClipPlan:
    """Fit ``program`` into a clip of ``frames`` feature frames (``ValueError`` below its minimum)."""
    n = frames + 1
    specs = [clamp_duration(replace(a, span=None, events=[])) for a in program.actions]
    specs = _fit(specs, n)
    specs = _extend(specs, n - _fixed(specs), rng, n)
    slack = n - _fixed(specs)
    k = len(specs)
    has_idle = any(s.definition.generator == "idle" for s in specs)
    # slots: lead, tail, k - 1 gaps between actions, then every action's rests
    alpha = [0.15 if has_idle else 1.0] * 2 + [0.15 if has_idle else 0.7] * (k - 1)
    rest_slots = [_rests(s) for s in specs]
    for s, r in zip(specs, rest_slots, strict=True):
        alpha += [0.5 if s.count is None else 0.8] * r
    w = rng.dirichlet(np.asarray(alpha)) if slack > 0 else np.zeros(len(alpha))
    amounts = np.floor(w * max(slack, 0)).astype(int).tolist()
    lead, tail = MARGIN + amounts[0], MARGIN + amounts[1]
    between = amounts[2 : 2 + k - 1]
    pos = 2 + k - 1
    idle = [lead]
    actions: list[ActionPlan] = []
    carry = 0
    for i, spec in enumerate(specs):
        slots = amounts[pos : pos + rest_slots[i]]
        pos += rest_slots[i]
        ap, left = _plan_action(spec, slots)
        carry += left
        actions.append(ap)
        if i < k - 1:
            g = between[i]
            if g < MIN_IDLE:
                carry, g = carry + g, 0
            idle.append(g)
    idle.append(tail)
    plan = ClipPlan(actions, idle, n)
    idle[-1] += n - plan.total()
    if idle[-1] < MARGIN:  # pragma: no cover - the plan never overspends its slack
        raise AssertionError(f"clip plan overspent its slack ({idle[-1]} idle frames at the end)")
    return plan


def _plan_action(spec: ActionSpec, slots: list[int]) -> tuple[ActionPlan, int]:
    """Pauses and bouts of one action from its rest slots; returns the plan and the unused frames."""
    left = 0
    pmax = pause_max(spec)
    if spec.count is None or not spec.definition.bouts:
        pauses = []
        for r, a in enumerate(slots):
            g = min(a, pmax) if a >= MIN_GAP else 0
            left += a - g
            if g:
                pauses.append((r, g))
        return ActionPlan(spec, [BoutPlan(spec.count, pauses)]), left
    bouts: list[BoutPlan] = [BoutPlan(0)]
    gaps: list[int] = []
    remaining = spec.count
    for k in range(spec.count):  # repetition k joins the current bout; slot k follows it
        cur = bouts[-1]
        cur.count = (cur.count or 0) + 1
        remaining -= 1
        if k == spec.count - 1:
            break
        a = slots[k] if k < len(slots) else 0
        if a < MIN_GAP:
            left += a
            continue
        if a > pmax:
            # a new bout: the current one ends here, the rest of the repetitions start after idle frames
            whole = segment_frames(replace(spec, count=cur.count + remaining))
            split = segment_frames(replace(spec, count=cur.count)) + segment_frames(replace(spec, count=remaining))
            cost = split - BLEND - whole
            if a - cost >= MIN_IDLE:
                gaps.append(a - cost)
                bouts.append(BoutPlan(0))
                continue
        g = min(a, pmax)
        if g >= MIN_GAP:
            cur.pauses.append((cur.count - 1, g))
            left += a - g
        else:
            left += a
    return ActionPlan(spec, bouts, gaps), left


__all__ = [
    "BLEND", "ActionPlan", "BoutPlan", "ClipPlan", "draw_length", "fill_range", "min_frames", "natural_frames",
    "plan_clip",
]  # fmt: skip
