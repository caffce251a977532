"""Which attributes are checked for which action, what they are expected to be, and how they compare.

``ATTRS[action]`` lists the attributes checked for one action of a program (its detector in
:data:`~moscale_cli.evaluation.program.detectors.DETECTORS` measures them). Clip-level attributes
(``start_posture``, ``end_posture``, ``order``) are added by the scorer. The expected value comes from
the clip's label (``labels.jsonl``: the action's ``count``, ``side``, ``direction``, ``angle``) or is
implied by the action's name (``walk_backward`` travels backward).
"""

from __future__ import annotations

import re
from typing import Any

ATTRIBUTES = (
    "present",
    "count",
    "side",
    "direction",
    "angle",
    "arms_in_phase",
    "start_posture",
    "end_posture",
    "order",
)

_TRAVEL = ("present", "direction")
ATTRS: dict[str, tuple[str, ...]] = {
    "walk_forward": _TRAVEL,
    "walk_backward": _TRAVEL,
    "walk_sideways": _TRAVEL,
    "walk_circle": _TRAVEL,
    "jog_forward": _TRAVEL,
    "jog_backward": _TRAVEL,
    "jog_circle": _TRAVEL,
    "run_forward": _TRAVEL,
    "run_circle": _TRAVEL,
    "march": ("present",),
    "climb": _TRAVEL,
    "side_step": _TRAVEL,  # count not checked: the corpus's step count is not a countable event
    "turn": ("present", "direction", "angle"),
    "spin": ("present", "count", "direction"),
    "jump_in_place": ("present", "count"),
    "jump_forward": ("present", "count", "direction"),
    "hop": ("present", "count", "side"),
    "jumping_jacks": ("present", "count", "arms_in_phase"),
    "wave": ("present", "count", "side", "arms_in_phase"),
    "raise_arms": ("present", "side", "direction", "arms_in_phase"),
    "clap": ("present", "count"),
    "squat": ("present", "count"),
    "sit_down": ("present",),
    "stand_up": ("present",),
    "crouch": ("present",),
    "kick": ("present", "count", "side"),
    "punch": ("present", "count", "side"),
    "bow": ("present", "count"),
    "stretch": ("present", "direction", "arms_in_phase"),
    "throw": ("present", "side"),
    "idle": ("present",),
    "arm_circles": ("present", "count", "side", "arms_in_phase"),
}
# arms_in_phase is checked for the actions that move both arms up and down together: jumping jacks,
# stretching upward, and waves, raised arms and arm circles when the label says both arms (claps move the
# hands sideways, a sideways stretch lowers one hand while the other rises)
ONE_OR_BOTH = ("wave", "raise_arms", "arm_circles")

IMPLIED_DIRECTION = {
    "walk_forward": "forward",
    "jog_forward": "forward",
    "run_forward": "forward",
    "climb": "forward",
    "jump_forward": "forward",
    "walk_backward": "backward",
    "jog_backward": "backward",
}

ANGLE_TOL = 45.0  # degrees
IN_PHASE_MIN = 0.8  # correlation of the two wrist heights

# Attributes a caption may leave out ("turns around", "spins twice", "walks in a circle", "hops on one
# leg"): checked only when the action's phrase in the caption names a side or turning direction.
CAPTION_OPTIONAL = {
    ("turn", "direction"),
    ("spin", "direction"),
    ("walk_circle", "direction"),
    ("jog_circle", "direction"),
    ("run_circle", "direction"),
    ("hop", "side"),
}
_NAMES_SIDE = re.compile(r"\b(left|right|clockwise|counterclockwise)\b")


def expected(attr: str, spec: dict) -> Any:
    if attr == "present":
        return True
    if attr == "direction":
        return spec.get("direction") or IMPLIED_DIRECTION.get(spec["action"])
    if attr == "arms_in_phase":
        return IN_PHASE_MIN
    return spec.get(attr)


def applies(attr: str, spec: dict, phrase: str | None) -> bool:
    """Whether ``attr`` is checked for this action (given the caption phrase that asked for it, if any)."""
    if attr not in ATTRS[spec["action"]]:
        return False
    if attr == "arms_in_phase" and spec["action"] in ONE_OR_BOTH and spec.get("side") != "both":
        return False
    if attr == "arms_in_phase" and spec["action"] == "stretch" and spec.get("direction") != "up":
        return False
    if spec["action"] == "punch" and attr == "side" and spec.get("side") == "both" and (spec.get("count") or 1) < 2:
        return False  # "punches once with alternating fists": one punch, one fist
    if phrase is not None and (spec["action"], attr) in CAPTION_OPTIONAL:
        return bool(_NAMES_SIDE.search(phrase))
    return expected(attr, spec) is not None


def matches(attr: str, measured: Any, want: Any) -> bool:
    if attr == "present":
        return bool(measured)
    if attr == "angle":
        return isinstance(measured, (int, float)) and abs(float(measured) - float(want)) <= ANGLE_TOL
    if attr == "arms_in_phase":
        return isinstance(measured, (int, float)) and float(measured) >= float(want)
    return measured == want


_JOINS = re.compile(r",\s*and then\s+|,\s*then\s+|\s+and then\s+|,\s*and finally\s+|,\s+")
_AFTER = re.compile(r"\.\s*after that,\s*(?:he|she|they|the person|someone)\s+")


def caption_phrases(caption: str, n: int) -> list[str] | None:
    """Split a corpus caption into its ``n`` action phrases (None when it does not split into ``n``)."""
    text = _AFTER.sub(", then ", caption.strip().lower()).rstrip(". ")
    parts = [p.strip() for p in _JOINS.split(text) if p.strip()]
    return parts if len(parts) == n else None
