"""Motion programs: what a clip shows (up to three actions with counts, sides, directions, speeds, styles)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

FPS = 20
MIN_FRAMES = 40  # feature frames (2 s)
MAX_FRAMES = 196  # feature frames (9.8 s)

SPEEDS = ("slow", "normal", "fast")
STYLES = (None, "energetic", "tired")
TEMPO = {"slow": 0.72, "normal": 1.0, "fast": 1.35}
STYLE_TEMPO = {None: 1.0, "energetic": 1.12, "tired": 0.85}
STYLE_AMP = {None: 1.0, "energetic": 1.25, "tired": 0.75}


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
    span: tuple[int, int] | None = None  # frames [start, end) in the clip, filled by the composer
    events: list[int] = field(default_factory=list)  # frames of counted events (jump apex, wave peak...)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["span"] = list(self.span) if self.span is not None else None
        return d

    @property
    def tempo(self) -> float:
        return TEMPO[self.speed] * STYLE_TEMPO[self.style]

    @property
    def amp(self) -> float:
        return STYLE_AMP[self.style]


@dataclass
class Program:
    actions: list[ActionSpec]

    def to_dict(self) -> dict:
        return {"actions": [a.to_dict() for a in self.actions]}


# Which actions exist, how they are parametrised, and how often they are drawn.
# kind: "count" (count sampled), "duration" (duration sampled), "once".
ACTIONS: dict[str, dict] = {
    "walk_forward": dict(kind="duration", dur=(2.5, 6.0), w=3.0),
    "walk_backward": dict(kind="duration", dur=(2.0, 4.5), w=1.5),
    "walk_sideways": dict(kind="duration", dur=(2.0, 4.5), w=1.2, dirs=("left", "right")),
    "walk_circle": dict(kind="duration", dur=(4.0, 7.0), w=1.2, dirs=("left", "right")),
    "jog_forward": dict(kind="duration", dur=(2.0, 5.0), w=1.5),
    "jog_backward": dict(kind="duration", dur=(2.0, 3.5), w=0.6),
    "jog_circle": dict(kind="duration", dur=(3.5, 6.0), w=0.8, dirs=("left", "right")),
    "run_forward": dict(kind="duration", dur=(2.0, 4.0), w=1.5),
    "run_circle": dict(kind="duration", dur=(3.0, 5.0), w=0.6, dirs=("left", "right")),
    "march": dict(kind="duration", dur=(2.0, 5.0), w=1.0),
    "climb": dict(kind="duration", dur=(2.5, 5.0), w=0.8),
    "side_step": dict(kind="count", counts=(1, 2, 3, 4), w=1.0, dirs=("left", "right")),
    "turn": dict(kind="once", w=2.0, dirs=("left", "right"), angles=(90, 180, 360)),
    "spin": dict(kind="count", counts=(1, 2), w=0.8, dirs=("left", "right")),
    "jump_in_place": dict(kind="count", counts=(1, 2, 3, 4, 5), w=1.5),
    "jump_forward": dict(kind="count", counts=(1, 2, 3), w=1.2),
    "hop": dict(kind="count", counts=(1, 2, 3, 4, 5), w=1.0, sides=("left", "right")),
    "jumping_jacks": dict(kind="count", counts=(1, 2, 3, 4, 5), w=1.5),
    "wave": dict(kind="count", counts=(1, 2, 3, 4), w=1.5, sides=("left", "right", "both")),
    "raise_arms": dict(kind="once", w=1.2, sides=("left", "right", "both"), dirs=("up", "forward", "sideways")),
    "clap": dict(kind="count", counts=(1, 2, 3, 4, 5), w=1.0),
    "squat": dict(kind="count", counts=(1, 2, 3, 4), w=1.3),
    "sit_down": dict(kind="once", w=1.2),
    "stand_up": dict(kind="once", w=0.6),
    "crouch": dict(kind="once", w=0.8),
    "kick": dict(kind="count", counts=(1, 2, 3), w=1.2, sides=("left", "right")),
    "punch": dict(kind="count", counts=(1, 2, 3, 4), w=1.2, sides=("left", "right", "both")),
    "bow": dict(kind="count", counts=(1, 2), w=0.9),
    "stretch": dict(kind="once", w=0.8, dirs=("up", "sideways")),
    "throw": dict(kind="once", w=0.9, sides=("left", "right")),
    "idle": dict(kind="duration", dur=(2.0, 3.5), w=0.4),
    "arm_circles": dict(kind="count", counts=(1, 2, 3, 4), w=0.7, sides=("left", "right", "both")),
}
ACTION_NAMES = tuple(ACTIONS)
COUNT_FREE_SPEED = {"turn", "idle", "sit_down", "stand_up", "crouch", "bow", "stretch"}


def sample_action(rng: np.random.Generator, prev: ActionSpec | None, first: bool, last: bool) -> ActionSpec:
    """Draw one action compatible with its neighbours (sitting must be followed by standing up)."""
    names = list(ACTION_NAMES)
    w = np.array([ACTIONS[n]["w"] for n in names], dtype=np.float64)
    for i, n in enumerate(names):
        if prev is not None and prev.action == "sit_down":
            w[i] = 1.0 if n == "stand_up" else 0.0
        elif n == "stand_up" and not first:
            w[i] = 0.0
        elif n == "sit_down" and not last:
            w[i] *= 0.5  # allowed, the next action is forced to be stand_up
        elif prev is not None and n == prev.action:
            w[i] = 0.0
    name = names[int(rng.choice(len(names), p=w / w.sum()))]
    meta = ACTIONS[name]
    spec = ActionSpec(action=name)
    if "counts" in meta:
        c = meta["counts"]
        p = np.array([1.0 / (1 + 0.35 * i) for i in range(len(c))])
        spec.count = int(c[int(rng.choice(len(c), p=p / p.sum()))])
    if "sides" in meta:
        spec.side = str(meta["sides"][rng.integers(len(meta["sides"]))])
    if "dirs" in meta:
        spec.direction = str(meta["dirs"][rng.integers(len(meta["dirs"]))])
    if "angles" in meta:
        spec.angle = int(rng.choice(meta["angles"], p=[0.35, 0.45, 0.2]))
    if "dur" in meta:
        lo, hi = meta["dur"]
        spec.duration = float(np.round(rng.uniform(lo, hi), 2))
    if name not in COUNT_FREE_SPEED and rng.random() < 0.35:
        spec.speed = str(rng.choice(["slow", "fast"]))
    if rng.random() < 0.18:
        spec.style = str(rng.choice(["energetic", "tired"]))
    if name in ("run_forward", "run_circle") and spec.speed == "slow":
        spec.speed = "normal"
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
