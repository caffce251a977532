"""Writing a command's motions: on a user's rig (``--rig FILE.bvh``), as motion pages (``.html``) and in the
other formats (``io.files.save_motion``). Shared by ``generate``, ``edit``, ``inbetween``, ``compose`` and
``convert``; the flags' texts live here so that every command says the same."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from moscale_cli.errors import UsageError

if TYPE_CHECKING:
    from moscale_cli.pipeline.target_rig import RigMotion, TargetRig

RIG_FILE_HELP = (
    "Write .bvh and .glb/.gltf outputs on this BVH rig: its joint names, offsets, channel order, rest pose, "
    "units and frame rate; rotations solved for every joint that maps to the body (names of the common "
    "families, or --rig-mapping), the others held at rest; feet planted where the motion plants them. "
    "Other outputs keep the 22-joint motion."
)
RIG_MAPPING_HELP = (
    'With --rig: JSON mapping from the 22 SMPL joint names to the rig\'s joints (file or inline, e.g. '
    '\'{"pelvis": "Hips", ...}\'; "LeftAnkle (toe)" names a virtual toe); default: detected from the names.'
)
RIG_OPT = typer.Option(None, "--rig", help=RIG_FILE_HELP, show_default=False)
RIG_MAPPING_OPT = typer.Option(None, "--rig-mapping", help=RIG_MAPPING_HELP, show_default=False)


def is_rig_file(rig: str | None) -> bool:
    """``--rig`` names a rig file (not ``source``/``template``)."""
    return rig is not None and rig not in ("source", "template")


def load_rig(rig: str | Path | None, mapping: str | None = None) -> TargetRig | None:
    """The target rig of ``--rig FILE.bvh`` (None without one); a bad file is a one-line error."""
    if rig is None:
        if mapping is not None:
            raise UsageError("--rig-mapping needs --rig FILE.bvh")
        return None
    from moscale_cli.pipeline.target_rig import load_target_rig

    p = Path(rig)
    if p.suffix.lower() != ".bvh":
        raise UsageError(f"--rig {rig}: give a .bvh rig file")
    if not p.is_file():
        raise UsageError(f"--rig {rig}: file not found")
    return load_target_rig(p, mapping)


def is_page(path: Path) -> bool:
    return path.suffix.lower() == ".html"


def save_outputs(
    paths: Sequence[Path],
    joints: Any,
    fps: float,
    caption: str = "",
    features: Any = None,
    write_features: bool = False,
    rig: TargetRig | None = None,
    verbose: bool = False,
    force: bool = False,
) -> RigMotion | None:
    """Write one motion (SMPL-22 joints) to every path: on ``rig`` for .bvh/.glb/.gltf when given, the
    other formats through ``save_motion``. The rig is solved before any file is written (a failure leaves
    no output). Returns the motion on the rig, if any; with ``verbose`` its joint error is printed.
    ``force``: read-only files may be replaced (the command checked its outputs with ``cli.outputs``)."""
    from moscale_cli.io.files import save_motion
    from moscale_cli.pipeline.target_rig import RIG_EXTENSIONS, motion_on_rig, write_on_rig

    on_rig = None
    if rig is not None and any(p.suffix.lower() in RIG_EXTENSIONS for p in paths):
        on_rig = motion_on_rig(joints, fps, rig)
    for p in paths:
        if on_rig is not None and p.suffix.lower() in RIG_EXTENSIONS:
            write_on_rig(p, on_rig, caption)
        else:
            save_motion(p, joints, features=features, caption=caption, fps=fps,
                        write_features=write_features and p.suffix.lower() == ".npy", force=force)
    if on_rig is not None:
        report_rig(on_rig, verbose)
    return on_rig


def report_rig(m: RigMotion, verbose: bool) -> None:
    """One line: the rig, its frames and the joint error of the result mapped back (shown with -v)."""
    from moscale_cli.cli.common import console, info

    r = m.rig
    line = (
        f"on rig {r.name}: {m.frames} frames at {r.fps:g} fps, {r.clip.rig.num_joints} joints "
        f"({r.kind} mapping); joint error after mapping back: MPJPE {m.mpjpe * 1000:.1f} mm, "
        f"max {m.max_error * 1000:.1f} mm (against the motion scaled to the rig, leg ratio "
        f"{m.leg_ratio * r.scale:.3f})"
    )
    if verbose:
        console.print(line, highlight=False, soft_wrap=True)
    else:
        info(line)


def save_pages(pages: Sequence[Path], motions: Sequence[Any], fps: float, title: str) -> None:
    """One motion page per path holding every motion of ``motions`` (joints) side by side."""
    from moscale_cli.io.html import write_html

    labels = [f"sample {i}" for i in range(len(motions))]
    for p in pages:
        write_html(p, list(motions), title=title, fps=fps, labels=labels)


__all__ = [
    "RIG_FILE_HELP", "RIG_MAPPING_HELP", "RIG_MAPPING_OPT", "RIG_OPT", "is_page", "is_rig_file", "load_rig",
    "report_rig", "save_outputs", "save_pages",
]  # fmt: skip
