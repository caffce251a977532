"""Which attributes are checked for which action, what they are expected to be, and how they compare.

The action table (:data:`moscale_cli.data.synth.vocabulary.VOCABULARY`) says per action which attributes are
checked (``checks``), which detector of :data:`~.detectors.DETECTORS` measures them and which evidence rule
of :data:`~.segment.EVIDENCE` finds the action in a sequence; importing this module checks that every action
has both (:func:`check_program_table`, a ``VocabularyError`` naming the action otherwise). Clip-level
attributes (``start_posture``, ``end_posture``, ``order``) are added by the scorer. The expected value comes
from the clip's label (``labels.jsonl``: the action's ``count``, ``side``, ``direction``, ``angle``) or is
implied by the action's name (``walk_backward`` travels backward).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from moscale_cli.data.synth.vocabulary import (
    VOCABULARY,
    ActionDef,
    VocabularyError,
    action_def,
    check_registry,
)
from moscale_cli.evaluation.program.detectors import DETECTORS
from moscale_cli.evaluation.program.segment import EVIDENCE

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
ACTION_ATTRIBUTES = ATTRIBUTES[:6]  # what a detector measures; the rest are the clip's
# A circle (an action of manner "circle") without an angle in a corpus-v3 label is a closed circle: its heading
# turns 360 degrees ("in a circle" says it). Corpus v2 labels have no angle and their circles are arcs of 150-275
# degrees: not checked.
FULL_CIRCLE_DEGREES = 360
# Attributes a caption states or leaves out (per-caption metadata, ``caption_info`` in labels.jsonl); the others
# (present, postures, order) are always checked; arms_in_phase follows the field it depends on (in_phase_when).
STATED = ("count", "side", "direction", "angle")


def is_circle(action: str) -> bool:
    return action_def(action).manner == "circle"

ANGLE_TOL = 45.0  # degrees
IN_PHASE_MIN = 0.8  # correlation of the two wrist heights


def check_program_table(
    table: Mapping[str, ActionDef] | None = None,
    detectors: Mapping[str, object] | None = None,
    evidence: Mapping[str, object] | None = None,
) -> None:
    """Every action of the table (default: the corpus's) has a detector and an evidence rule and checks only
    attributes a detector measures; else a VocabularyError naming the action."""
    table = VOCABULARY if table is None else table
    check_registry("detector", "detector", DETECTORS if detectors is None else detectors, table)
    check_registry("evidence rule", "evidence", EVIDENCE if evidence is None else evidence, table)
    for name, d in table.items():
        bad = [a for a in d.checks if a not in ACTION_ATTRIBUTES]
        if bad:
            raise VocabularyError(
                f"action {name!r} checks {', '.join(bad)}: not among {', '.join(ACTION_ATTRIBUTES)}"
            )


check_program_table()

# which attributes are checked per action (a view of the action table)
ATTRS: Mapping[str, tuple[str, ...]] = {name: d.checks for name, d in VOCABULARY.items()}

# Attributes a caption may leave out ("turns around", "spins twice", "walks in a circle", "hops on one
# leg", the entries' ``caption_optional``): checked only when the action's phrase in the caption names a
# side or turning direction.
_NAMES_SIDE = re.compile(r"\b(left|right|clockwise|counterclockwise)\b")


def expected(attr: str, spec: dict) -> Any:
    if attr == "present":
        return True
    if attr == "direction":
        return spec.get("direction") or action_def(spec["action"]).implied_direction
    if attr == "arms_in_phase":
        return IN_PHASE_MIN
    return spec.get(attr)


def applies(
    attr: str, spec: dict, phrase: str | None, stated: frozenset[str] | set[str] | None = None, vague: bool = False
) -> bool:
    """Whether ``attr`` is checked for this action, given the caption phrase that asked for it (if any) or,
    when the caption's metadata is known, what the caption ``stated`` about the action (``vague``: its count
    was said without a number, "several times": the count is not checked)."""
    d = action_def(spec["action"])
    if attr not in d.checks:
        return False
    if stated is not None:
        if attr in STATED and (attr not in stated or (attr == "count" and vague)):
            return False
        if attr == "arms_in_phase" and d.in_phase_when is not None and d.in_phase_when[0] not in stated:
            return False
        phrase = None  # the metadata replaces the phrase rules
    if attr == "arms_in_phase" and d.in_phase_when is not None:
        field, value = d.in_phase_when  # waves with one hand, a sideways stretch: the arms do not move together
        if spec.get(field) != value:
            return False
    if attr == "side" and d.alternates and spec.get("side") == "both" and (spec.get("count") or 1) < 2:
        return False  # "punches once with alternating fists": one punch, one fist
    if phrase is not None and attr in d.caption_optional:
        return bool(_NAMES_SIDE.search(phrase))
    return expected(attr, spec) is not None


def caption_meta(label: dict, caption: str) -> tuple[list[frozenset[str]], list[bool]] | None:
    """What a caption states about each action of its clip and whether each count is vague, from the label's
    ``caption_info`` records (``data.synth.caption_info``); None when the label has no record of it."""
    from moscale_cli.data.synth.caption_info import caption_info

    info = caption_info(label, caption)
    return None if info is None else (list(info.states), list(info.vague_count))


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
