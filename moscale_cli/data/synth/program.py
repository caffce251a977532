"""Motion programs: what a clip shows (up to three actions with counts, sides, directions, speeds, styles).

Which actions exist and what may be drawn for each is the action table (:mod:`.vocabulary`); this module
draws programs from it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from moscale_cli.data.synth.vocabulary import ACTION_NAMES, SPEEDS, STYLES, VOCABULARY, ActionDef, action_def

FPS = 20
MIN_FRAMES = 40  # feature frames (2 s)
MAX_FRAMES = 196  # feature frames (9.8 s)

TEMPO = {"slow": 0.72, "normal": 1.0, "fast": 1.35}
STYLE_TEMPO = {None: 1.0, "energetic": 1.12, "tired": 0.85}
STYLE_AMP = {None: 1.0, "energetic": 1.25, "tired": 0.75}
# continuous tempo within a speed class: the tempo is TEMPO[speed] x STYLE_TEMPO[style] x pace (pace drawn
# per action; the composer raises it, up to PACE[1], to fit a short clip): about x0.6-x1.6 over the classes
PACE = (0.82, 1.22)
TEMPO_RANGE = (0.55, 1.6)  # physical limits of the tempo (a wave cycle takes at least 0.3 s)
# heading change of "in a circle" actions (degrees): a closed circle (the label's angle stays None: "in a circle"
# says it), a half circle, an arc (angle 180 / 90 in the label; their captions say "half circle", "semicircle",
# "arc", "curve", never plain "circle": the circle banks guard every phrasing by its angle)
CIRCLE_ANGLES = (360, 180, 90)
CIRCLE_ANGLE_WEIGHTS = (0.6, 0.25, 0.15)


@dataclass
class ActionSpec:
    """One action of a program. Unused fields stay None."""

    action: str
    count: int | None = None
    side: str | None = None  # "left" | "right" | "both"
    direction: str | None = None  # forward/backward/left/right/up/... (action dependent)
    angle: int | None = None  # turning angle in degrees
    speed: str = "normal"
    style: str | None = None
    duration: float | None = None  # seconds, for actions without a count
    pace: float = 1.0  # tempo within the speed class (see PACE)
    span: tuple[int, int] | None = None  # frames [start, end) in the clip, filled by the composer
    events: list[int] = field(default_factory=list)  # frames of counted events (jump apex, wave peak...)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["span"] = list(self.span) if self.span is not None else None
        return d

    @property
    def tempo(self) -> float:
        t = TEMPO[self.speed] * STYLE_TEMPO[self.style] * self.pace
        return min(max(t, TEMPO_RANGE[0]), TEMPO_RANGE[1])

    @property
    def amp(self) -> float:
        return STYLE_AMP[self.style]

    @property
    def definition(self) -> ActionDef:
        """The action's entry in the action table."""
        return action_def(self.action)


@dataclass
class Program:
    actions: list[ActionSpec]

    def to_dict(self) -> dict:
        return {"actions": [a.to_dict() for a in self.actions]}


def sample_action(rng: np.random.Generator, prev: ActionSpec | None, first: bool, last: bool) -> ActionSpec:
    """Draw one action compatible with its neighbours (an action that ends seated must be followed by one
    that starts seated, which may only come first otherwise; no action twice in a row)."""
    names = list(ACTION_NAMES)
    w = np.array([VOCABULARY[n].weight for n in names], dtype=np.float64)
    for i, n in enumerate(names):
        d = VOCABULARY[n]
        if prev is not None and VOCABULARY[prev.action].end_posture == "seated":
            w[i] = 1.0 if d.start_posture == "seated" else 0.0
        elif d.start_posture == "seated" and not first:
            w[i] = 0.0
        elif d.end_posture == "seated" and not last:
            w[i] *= 0.5  # allowed, the next action is forced to start seated
        elif prev is not None and n == prev.action:
            w[i] = 0.0
    name = names[int(rng.choice(len(names), p=w / w.sum()))]
    d = VOCABULARY[name]
    spec = ActionSpec(action=name)
    if d.counts:
        c = d.counts
        p = np.array([1.0 / (1 + 0.35 * i) for i in range(len(c))])
        spec.count = int(c[int(rng.choice(len(c), p=p / p.sum()))])
    if d.sides:
        spec.side = str(d.sides[rng.integers(len(d.sides))])
    if d.directions:
        spec.direction = str(d.directions[rng.integers(len(d.directions))])
    if d.angles:
        spec.angle = int(rng.choice(d.angles, p=list(d.angle_weights)))
    if d.durations is not None:
        lo, hi = d.durations
        spec.duration = float(np.round(rng.uniform(lo, hi), 2))
    if len(d.speeds) > 1 and rng.random() < 0.35:
        spec.speed = str(rng.choice(["slow", "fast"]))
    if rng.random() < 0.18:
        spec.style = str(rng.choice(["energetic", "tired"]))
    if spec.speed not in d.speeds:
        spec.speed = "normal"
    if d.manner == "circle":
        w = np.asarray(CIRCLE_ANGLE_WEIGHTS, dtype=np.float64)
        extent = int(CIRCLE_ANGLES[int(rng.choice(len(w), p=w / w.sum()))])
        spec.angle = None if extent == 360 else extent
    spec.pace = round(float(rng.uniform(*PACE)), 3)
    return spec


def sample_program(rng: np.random.Generator, n_actions: int | None = None) -> Program:
    """A random program of 1..3 actions (lengths are checked by the composer)."""
    if n_actions is None:
        n_actions = int(rng.choice([1, 2, 3], p=[0.4, 0.38, 0.22]))
    acts: list[ActionSpec] = []
    for i in range(n_actions):
        prev = acts[-1] if acts else None
        a = sample_action(rng, prev, first=i == 0, last=i == n_actions - 1)
        acts.append(a)
    return Program(acts)


__all__ = [
    "ACTION_NAMES",
    "FPS",
    "MAX_FRAMES",
    "MIN_FRAMES",
    "SPEEDS",
    "STYLES",
    "ActionSpec",
    "Program",
    "sample_action",
    "sample_program",
]
