"""Spatial constraints on the command line: ``--constraints FILE.json``, ``--path``, ``--waypoint``.

Shared by ``generate``, ``edit``, ``inbetween`` and ``compose``; the format is ``pipeline/constraints.py``'s.
The constraints are read and checked before any model is loaded; the frames are checked once the motion's
length is known."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from moscale_cli.pipeline.constraints import Constraints
    from moscale_cli.pipeline.results import GeneratedMotion

CONSTRAINTS_HELP = (
    'Joint targets, a JSON file: {"constraints": [{"joint": "right_wrist", "frames": [30], "positions": '
    '[[x, y, z]]}, {"pose": 80, "joints": [22 rows]}]}; metres, Y up, frames at 20 fps, in the frame of the output '
    "(the first frame's pelvis above the origin facing +Z; an edit of a .bvh or joints source: the source's own "
    "space); null leaves a coordinate free. See the README."
)
PATH_HELP = 'Pelvis path on the ground plane, "x,z x,z ...": the points are spread evenly over the motion (the first at frame 0).'
WAYPOINT_HELP = "Pelvis waypoint FRAME:X,Z (or FRAME:X,Y,Z), e.g. 60:0,2; repeatable."
CONSTRAINTS_OPT = typer.Option(None, "--constraints", help=CONSTRAINTS_HELP, show_default=False)
PATH_OPT = typer.Option(None, "--path", help=PATH_HELP, show_default=False)
WAYPOINT_OPT = typer.Option([], "--waypoint", help=WAYPOINT_HELP, show_default=False)


def read_constraints(file: Path | None, path: str | None, waypoints: list[str] | None) -> Constraints | None:
    """The command's constraints (None without any); a bad file or shorthand is a one-line usage error."""
    if file is None and not path and not waypoints:
        return None
    from moscale_cli.pipeline.constraints import Constraints

    return Constraints.from_cli(file, path, waypoints or [])


def error_line(m: GeneratedMotion) -> str | None:
    """``"constraints: N targets, mean error X cm, max Y cm"`` for a motion with constraints, else None."""
    e = m.target_errors()
    if m.targets is None or e.size == 0:
        return None
    return f"constraints: {e.size} joint targets, mean error {e.mean() * 100:.2f} cm, max {e.max() * 100:.2f} cm"


def error_dict(m: GeneratedMotion) -> dict[str, float | int]:
    """The constraint errors of a motion for a JSON report."""
    e = m.target_errors()
    return {"targets": int(e.size), "mean_error_m": round(float(e.mean()), 6) if e.size else 0.0,
            "max_error_m": round(float(e.max()), 6) if e.size else 0.0}


__all__ = ["CONSTRAINTS_OPT", "PATH_OPT", "WAYPOINT_OPT", "error_dict", "error_line", "read_constraints"]
