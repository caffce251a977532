"""The action vocabulary of the procedural corpus: one frozen :class:`ActionDef` per action, in one table.

Everything that depends on *which* action a program holds reads its entry here: the program sampler
(``program.py``: kind, counts, sides, directions, angles, durations, weight, speeds, postures), the animation
(``actions.py``: which generator, its verb and manner, the tired slump), the timing of a clip (``timing.py``:
the durations a walk may fill, the longest pause between repetitions, whether a count splits into bouts),
the captions (``language/``: the
attributes a caption may leave out, the direction its name implies, the words that say its direction), the
program evaluation (``evaluation/program``: which attributes are checked, the direction the
name implies, which detector measures the action and which evidence rule finds it in a sequence) and the hard
negatives (verb and manner). Generators, detectors and evidence rules are named here by key and live beside
their code, and the phrasing banks (``language/action_banks.ACTION_BANKS``) by the action's name; importing
``actions.py`` checks that every action has a generator, ``language/action_banks.py`` a phrasing bank and
``evaluation/program/table.py`` a detector and an evidence rule (a :class:`VocabularyError` names the action
otherwise).

Adding an action: one entry in :data:`VOCABULARY` (a new entry changes the corpus of every seed), a generator
in ``actions.GENERATORS`` with its exact length in ``actions.LENGTHS`` and its rests (or an existing one that
reads the entry's fields), a detector in
``evaluation/program/detectors.DETECTORS`` and an evidence rule in ``evaluation/program/segment.EVIDENCE`` (or
existing ones), and its phrasing bank. docs/internals.md has the recipe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from moscale_cli.errors import ConfigError

Kind = Literal["count", "duration", "once"]
KINDS: tuple[str, ...] = ("count", "duration", "once")
SPEEDS = ("slow", "normal", "fast")
STYLES = (None, "energetic", "tired")
POSTURES = ("standing", "seated", "crouched")
# the limbs (0 = left, 1 = right) a side names
SIDE_LIMBS: Mapping[str, tuple[int, ...]] = MappingProxyType({"left": (0,), "right": (1,), "both": (0, 1)})
DIRECTIONS = ("forward", "backward", "left", "right", "up", "sideways")
# label fields an attribute condition (``in_phase_when``) may test
LABEL_FIELDS = ("count", "side", "direction", "angle")


class VocabularyError(ConfigError):
    """The action table is inconsistent (an entry's fields, or a generator, detector or evidence rule missing)."""


@dataclass(frozen=True, kw_only=True)
class ActionDef:
    """One action: how programs draw it, how it is animated and said, and what the program task checks.

    Empty tuples mean the action has no such parameter (a clap has no side); ``None`` likewise.
    """

    name: str
    kind: Kind  # "count": a count is drawn; "duration": a duration is drawn; "once": neither
    weight: float  # sampling weight among all actions (program.sample_action)
    # -- what a program may ask for (the ActionSpec fields and the values drawn for them)
    counts: tuple[int, ...] = ()  # kind "count": the counts drawn (weights 1 / (1 + 0.35 i))
    sides: tuple[str, ...] = ()  # drawn uniformly
    directions: tuple[str, ...] = ()  # drawn uniformly
    angles: tuple[int, ...] = ()  # turning angles in degrees, drawn with angle_weights
    angle_weights: tuple[float, ...] = ()
    durations: tuple[float, float] | None = None  # kind "duration": seconds, drawn uniformly in [lo, hi]
    speeds: tuple[str, ...] = SPEEDS  # one speed: never drawn slow/fast; a drawn speed it lacks becomes "normal"
    tired_slump: bool = True  # the "tired" style bends the spine and neck (locomotion has its own tired gait)
    start_posture: str = "standing"  # posture at the action's start / end: a seated end must be followed
    end_posture: str = "standing"  # by an action that starts seated, which may only come first otherwise
    # -- animation (data/synth/actions.py)
    generator: str  # key of actions.GENERATORS
    verb: str = ""  # the action's verb ("walk", "jump"); actions sharing a verb differ in manner (default: name)
    manner: str | None = None  # what the name adds to the verb: forward, backward, sideways, circle, in place
    # -- program evaluation (evaluation/program)
    detector: str  # key of detectors.DETECTORS: measures the attributes in the action's segment
    evidence: str  # key of segment.EVIDENCE: per-frame evidence that finds the action in a sequence
    checks: tuple[str, ...]  # the attributes the program task checks (table.ATTRIBUTES; "present" first)
    implied_direction: str | None = None  # the direction checked when the label has none (walk_backward)
    caption_optional: tuple[str, ...] = ()  # attributes a caption may leave out (then they are not checked)
    in_phase_when: tuple[str, str] | None = None  # arms_in_phase only when label[field] == value
    alternates: bool = False  # side "both" alternates one side per repetition (one repetition shows one side)
    # -- captions (language/: the phrasing bank is language.action_banks.ACTION_BANKS[name])
    direction_words: str | None = None  # the word bank (language.word_banks.DIRECTION_BANKS) that says its direction
    # -- timing in a clip (data/synth/timing.py, corpus v3)
    fill: tuple[float, float] | None = None  # kind "duration": durations (s) it may take to fill its share of a clip
    fill_by_angle: tuple[tuple[int, float, float], ...] = ()  # circles: (heading change, lo, hi) per angle (360 first)
    pause_max: float = 0.0  # longest pause (s) at one of its rests (between repetitions, in a held pose; 0: none)
    bouts: bool = False  # kind "count": a longer gap between repetitions ends a bout and starts another

    def __post_init__(self) -> None:
        if not self.verb:
            object.__setattr__(self, "verb", self.name)
        problems = self._problems()
        if problems:
            raise VocabularyError(f"action {self.name!r}: {'; '.join(problems)}")

    def _problems(self) -> list[str]:
        out = []
        if self.kind not in KINDS:
            out.append(f"kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if (self.kind == "count") != bool(self.counts):
            out.append("counts are drawn for (and only for) kind 'count'")
        if (self.kind == "duration") != (self.durations is not None):
            out.append("durations are drawn for (and only for) kind 'duration'")
        if self.durations is not None and not 0 < self.durations[0] <= self.durations[1]:
            out.append(f"durations {self.durations} must be 0 < lo <= hi")
        if any(c < 1 for c in self.counts):
            out.append("counts must be >= 1")
        if self.weight <= 0:
            out.append("weight must be > 0")
        if len(self.angles) != len(self.angle_weights):
            out.append("angles and angle_weights differ in length")
        if not set(self.sides) <= set(SIDE_LIMBS):
            out.append(f"sides {self.sides} are not among {', '.join(SIDE_LIMBS)}")
        if not set(self.directions) <= set(DIRECTIONS) or self.implied_direction not in (None, *DIRECTIONS):
            out.append(f"directions must be among {', '.join(DIRECTIONS)}")
        if "normal" not in self.speeds or not set(self.speeds) <= set(SPEEDS):
            out.append(f"speeds {self.speeds} must hold 'normal' and be among {', '.join(SPEEDS)}")
        if self.start_posture not in POSTURES or self.end_posture not in POSTURES:
            out.append(f"postures must be among {', '.join(POSTURES)}")
        if not self.checks or self.checks[0] != "present":
            out.append("checks must start with 'present'")
        if self.in_phase_when is not None and self.in_phase_when[0] not in LABEL_FIELDS:
            out.append(f"in_phase_when tests {self.in_phase_when[0]!r}, not a label field ({', '.join(LABEL_FIELDS)})")
        if not set(self.caption_optional) <= set(self.checks):
            out.append("caption_optional attributes must be checked")
        if self.direction_words is not None and not self.directions:
            out.append("direction_words for an action without directions")
        if (self.fill is not None or self.fill_by_angle) and self.kind != "duration":
            out.append("fill ranges are for (and only for) kind 'duration'")
        if any(not 0 < lo <= hi for lo, hi in ([self.fill] if self.fill else []) + [r[1:] for r in self.fill_by_angle]):
            out.append("fill ranges must be 0 < lo <= hi")
        if self.bouts and self.kind != "count":
            out.append("bouts are for counted actions")
        if self.pause_max < 0:
            out.append("pause_max must be >= 0")
        return out

    @property
    def counted(self) -> bool:
        """The program gives this action a count (the count is checked only when ``checks`` has it)."""
        return self.kind == "count"


_TRAVEL = ("present", "direction")
_COUNT = ("present", "count")
_LR, _LRB = ("left", "right"), ("left", "right", "both")
_ONE_SPEED = ("normal",)
_NO_SLOW = ("normal", "fast")


def _loco(name: str, durations: tuple[float, float], weight: float, **kw: object) -> ActionDef:
    """A walk/jog/run ``<gait>_<path>``: the locomotion generator, its verb the gait and its manner the path.
    A circle also checks its angle (its heading turns 360 degrees; 180 for a half circle, 90 for an arc)."""
    verb, manner = name.split("_", 1)
    circle = manner == "circle"
    evidence = {"forward": "forward", "backward": "backward", "sideways": "lateral", "circle": "circle"}[manner]
    return ActionDef(
        name=name, kind="duration", weight=weight, durations=durations,
        directions=_LR if manner in ("sideways", "circle") else (), tired_slump=False,
        generator="locomotion", verb=verb, manner=manner,
        detector="circle" if circle else "locomotion", evidence=evidence,
        checks=("present", "direction", "angle") if circle else _TRAVEL,
        implied_direction=manner if manner in ("forward", "backward") else None,
        caption_optional=("direction",) if circle else (),
        direction_words={"sideways": "lateral", "circle": "rotation"}.get(manner), **kw,  # type: ignore[arg-type]
    )  # fmt: skip


# Timing in a clip (corpus v3): a duration action fills its share of a clip within ``fill`` (a circle: within the
# range of its angle, which keeps the radius human - walk 1-3 m, jog 1.5-3.5 m, run 2-4.5 m - and the turning rate
# under 1.4 rad/s: a faster turn while moving reads as turning on the spot); a counted action pauses up to
# ``pause_max`` s at a rest between repetitions and, with ``bouts``, puts longer gaps between bouts.
_WALK_CIRCLE = ((360, 5.5, 9.5), (180, 2.8, 6.5), (90, 1.5, 4.0))
_JOG_CIRCLE = ((360, 4.5, 9.0), (180, 2.5, 5.5), (90, 1.5, 3.5))
_RUN_CIRCLE = ((360, 4.5, 8.0), (180, 2.5, 5.0), (90, 1.5, 3.0))

# The order is the sampler's: adding, moving or reweighting an entry changes the corpus of every seed.
_ENTRIES = (
    _loco("walk_forward", (2.5, 6.0), 3.0, fill=(1.5, 9.0)),
    _loco("walk_backward", (2.0, 4.5), 1.5, fill=(1.5, 8.0)),
    _loco("walk_sideways", (2.0, 4.5), 1.2, fill=(1.5, 8.0)),
    _loco("walk_circle", (4.0, 7.0), 1.2, fill_by_angle=_WALK_CIRCLE),
    _loco("jog_forward", (2.0, 5.0), 1.5, fill=(1.5, 9.0)),
    _loco("jog_backward", (2.0, 3.5), 0.6, fill=(1.5, 7.0)),
    _loco("jog_circle", (3.5, 6.0), 0.8, fill_by_angle=_JOG_CIRCLE),
    _loco("run_forward", (2.0, 4.0), 1.5, speeds=_NO_SLOW, fill=(1.5, 8.0)),
    _loco("run_circle", (3.0, 5.0), 0.6, speeds=_NO_SLOW, fill_by_angle=_RUN_CIRCLE),
    ActionDef(name="march", kind="duration", weight=1.0, durations=(2.0, 5.0), fill=(3.0, 9.0),
              generator="march", detector="march", evidence="march", checks=("present",)),
    ActionDef(name="climb", kind="duration", weight=0.8, durations=(2.5, 5.0), fill=(2.0, 9.0),
              generator="climb", detector="climb", evidence="climb", checks=_TRAVEL, implied_direction="forward"),
    # the count is not checked: the corpus's steps are a ramped stepping pattern with no countable event
    ActionDef(name="side_step", kind="count", weight=1.0, counts=(1, 2, 3, 4), directions=_LR,
              direction_words="lateral", generator="side_step", detector="locomotion", evidence="lateral", checks=_TRAVEL),
    ActionDef(name="turn", kind="once", weight=2.0, directions=_LR, angles=(90, 180, 360),
              angle_weights=(0.35, 0.45, 0.2), speeds=_ONE_SPEED, direction_words="rotation",
              generator="turn", detector="turn", evidence="turn", checks=("present", "direction", "angle"),
              caption_optional=("direction",)),
    ActionDef(name="spin", kind="count", weight=0.8, counts=(1, 2), directions=_LR, direction_words="rotation", bouts=True,
              generator="turn", detector="spin", evidence="spin", checks=("present", "count", "direction"),
              caption_optional=("direction",)),
    ActionDef(name="jump_in_place", kind="count", weight=1.5, counts=(1, 2, 3, 4, 5), pause_max=3.0, bouts=True,
              generator="jump", verb="jump", manner="in place", detector="jump", evidence="jump", checks=_COUNT),
    ActionDef(name="jump_forward", kind="count", weight=1.2, counts=(1, 2, 3), pause_max=2.0, bouts=True,
              generator="jump", verb="jump", manner="forward", detector="jump", evidence="jump_forward",
              checks=("present", "count", "direction"), implied_direction="forward"),
    ActionDef(name="hop", kind="count", weight=1.0, counts=(1, 2, 3, 4, 5), sides=_LR, pause_max=0.5, bouts=True,
              generator="hop", detector="hop", evidence="hop", checks=("present", "count", "side"),
              caption_optional=("side",)),
    ActionDef(name="jumping_jacks", kind="count", weight=1.5, counts=(1, 2, 3, 4, 5), pause_max=2.5, bouts=True,
              generator="jumping_jacks", detector="jumping_jacks", evidence="jacks",
              checks=("present", "count", "arms_in_phase")),
    ActionDef(name="wave", kind="count", weight=1.5, counts=(1, 2, 3, 4), sides=_LRB, pause_max=1.5, bouts=True,
              generator="wave", detector="wave", evidence="wave",
              checks=("present", "count", "side", "arms_in_phase"), in_phase_when=("side", "both")),
    ActionDef(name="raise_arms", kind="once", weight=1.2, sides=_LRB, directions=("up", "forward", "sideways"), pause_max=2.5,
              generator="raise_arms", detector="raise_arms", evidence="raise",
              checks=("present", "side", "direction", "arms_in_phase"), in_phase_when=("side", "both")),
    # claps move the hands sideways: their heights do not go up and down together
    ActionDef(name="clap", kind="count", weight=1.0, counts=(1, 2, 3, 4, 5), pause_max=1.2, bouts=True,
              generator="clap", detector="clap", evidence="clap", checks=_COUNT),
    ActionDef(name="squat", kind="count", weight=1.3, counts=(1, 2, 3, 4), pause_max=3.0, bouts=True,
              generator="squat", detector="squat", evidence="squat", checks=_COUNT),
    ActionDef(name="sit_down", kind="once", weight=1.2, speeds=_ONE_SPEED, end_posture="seated",
              generator="sit", detector="sit_down", evidence="sit_down", checks=("present",)),
    ActionDef(name="stand_up", kind="once", weight=0.6, speeds=_ONE_SPEED, start_posture="seated",
              generator="sit", detector="stand_up", evidence="stand_up", checks=("present",)),
    ActionDef(name="crouch", kind="once", weight=0.8, speeds=_ONE_SPEED, pause_max=2.0,
              generator="crouch", detector="crouch", evidence="crouch", checks=("present",)),
    ActionDef(name="kick", kind="count", weight=1.2, counts=(1, 2, 3), sides=_LR, pause_max=1.2, bouts=True,
              generator="kick", detector="kick", evidence="kick", checks=("present", "count", "side")),
    ActionDef(name="punch", kind="count", weight=1.2, counts=(1, 2, 3, 4), sides=_LRB, alternates=True,
              pause_max=1.5, bouts=True,
              generator="punch", detector="punch", evidence="punch", checks=("present", "count", "side")),
    ActionDef(name="bow", kind="count", weight=0.9, counts=(1, 2), speeds=_ONE_SPEED, pause_max=2.5, bouts=True,
              generator="bow", detector="bow", evidence="bow", checks=_COUNT),
    # a sideways stretch lowers one hand while the other rises: arms in phase only when stretching up
    ActionDef(name="stretch", kind="once", weight=0.8, directions=("up", "sideways"), speeds=_ONE_SPEED, pause_max=1.5,
              generator="stretch", detector="stretch", evidence="stretch",
              checks=("present", "direction", "arms_in_phase"), in_phase_when=("direction", "up")),
    ActionDef(name="throw", kind="once", weight=0.9, sides=_LR,
              generator="throw", detector="throw", evidence="throw", checks=("present", "side")),
    ActionDef(name="idle", kind="duration", weight=0.4, durations=(2.0, 3.5), speeds=_ONE_SPEED, fill=(2.0, 9.8),
              generator="idle", detector="idle", evidence="idle", checks=("present",)),
    ActionDef(name="arm_circles", kind="count", weight=0.7, counts=(1, 2, 3, 4), sides=_LRB, pause_max=1.0, bouts=True,
              generator="arm_circles", detector="arm_circles", evidence="arm_circles",
              checks=("present", "count", "side", "arms_in_phase"), in_phase_when=("side", "both")),
)  # fmt: skip


def make_vocabulary(entries: tuple[ActionDef, ...] | list[ActionDef]) -> Mapping[str, ActionDef]:
    """A read-only {name: entry} table in the given order; a repeated name is a VocabularyError."""
    table: dict[str, ActionDef] = {}
    for d in entries:
        if d.name in table:
            raise VocabularyError(f"action {d.name!r} is defined twice")
        table[d.name] = d
    return MappingProxyType(table)


VOCABULARY: Mapping[str, ActionDef] = make_vocabulary(_ENTRIES)
ACTION_NAMES: tuple[str, ...] = tuple(VOCABULARY)


def action_def(name: str) -> ActionDef:
    """The entry of action ``name`` (a VocabularyError naming it when the table has none)."""
    try:
        return VOCABULARY[name]
    except (KeyError, TypeError):
        raise VocabularyError(f"unknown action {name!r} (known: {', '.join(ACTION_NAMES)})") from None


def check_registry(
    what: str,
    field: str,
    registry: Mapping[str, object],
    table: Mapping[str, ActionDef] | None = None,
    optional: bool = False,
) -> None:
    """Every action's ``field`` (a key such as ``detector``) names an entry of ``registry`` (with ``optional``,
    or is None); otherwise a VocabularyError naming the first action without one (``what`` says what is
    missing: "detector")."""
    for name, d in (VOCABULARY if table is None else table).items():
        key = getattr(d, field)
        if key not in registry and not (optional and key is None):
            raise VocabularyError(
                f"action {name!r} has no {what}: {field} {key!r} is not one of {', '.join(sorted(registry))}"
            )


__all__ = [
    "ACTION_NAMES",
    "ActionDef",
    "SIDE_LIMBS",
    "SPEEDS",
    "STYLES",
    "VOCABULARY",
    "VocabularyError",
    "action_def",
    "check_registry",
    "make_vocabulary",
]
