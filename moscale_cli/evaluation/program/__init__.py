"""The ``program`` evaluation task: check a motion against the program of a procedural-corpus clip.

``score_clip(joints, label, caption=None)`` runs the kinematic detectors of every action in the clip's
program (``labels.jsonl`` row) on the motion and returns a :class:`ClipScore` (pass / fail / n/a per
attribute, with the measured and the expected value); ``summarize(scores)`` gives per-attribute and
overall accuracy with 95% intervals. docs/program-eval.md describes every detector and rule.
"""

from moscale_cli.evaluation.program.score import (
    Check,
    ClipScore,
    ProgramSummary,
    Rate,
    score_clip,
    summarize,
    wilson,
)
from moscale_cli.evaluation.program.table import ATTRIBUTES, ATTRS

__all__ = ["ATTRIBUTES", "ATTRS", "Check", "ClipScore", "ProgramSummary", "Rate", "score_clip", "summarize", "wilson"]
