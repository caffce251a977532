"""`moscale render` and `moscale convert`: motion file conversions (BVH, NPY, MP4/GIF, glTF, HTML)."""

from __future__ import annotations

from pathlib import Path

import typer

from moscale_cli.cli import rig_opts as ro
from moscale_cli.cli.common import info
from moscale_cli.cli.outputs import BACKUP_HELP, FORCE_HELP, Outputs

_MAPPING_HELP = (
    "BVH import: JSON mapping from the 22 SMPL joint names to the file's joint names, as a file path or "
    'inline JSON, e.g. \'{"pelvis": "Hips", "spine3": ["Chest", "Neck"], ...}\' (a list = their mean). '
    "Not needed for Bandai-Namco files, files written by moscale, or rigs with CMU/Mixamo-style joint "
    "names (Hips, LeftUpLeg, LeftLeg, LeftFoot, Spine, ..., also with prefixes such as mixamorig:)."
)
_SCALE_HELP = (
    "BVH import: factor from file units to metres (default: detected from the skeleton height: "
    "< 3 units = metres, < 300 = centimetres, else millimetres)."
)


def _inputs(input: Path, mapping: str | None) -> list[Path]:
    """The files a conversion reads: the motion, and a mapping file (not inline JSON)."""
    return [input] + ([Path(mapping)] if mapping and not mapping.lstrip().startswith("{") else [])


def render(
    input: Path = typer.Argument(
        ...,
        help="Motion file to render: .bvh, or .npy with joints (T,22,3) or features (T,263).",
        show_default=False,
    ),
    output: Path = typer.Option(
        ..., "--output", "-o", help="Video to write: .mp4 (H.264) or .gif; or .html (a page that plays it in 3D).",
        show_default=False,
    ),
    title: str | None = typer.Option(
        None, "--title", help="Caption shown above the figure (default: the input file name)."
    ),
    fps: float | None = typer.Option(
        None, "--fps", help="Playback frame rate (default: the motion's rate, 20 for HumanML3D)."
    ),
    mapping: str | None = typer.Option(None, "--mapping", help=_MAPPING_HELP),
    scale: float | None = typer.Option(None, "--scale", help=_SCALE_HELP),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    """Render a motion file as a stick-figure video (3/4 view, ground grid, root trail, left = red, right = blue),
    or as a page that plays it in 3D in any browser (.html, offline).

    Example: moscale render walk.bvh -o walk.mp4 --title "a person walks forward"
    """
    from moscale_cli.errors import UsageError
    from moscale_cli.io.files import check_output_path, load_motion, save_motion

    if check_output_path(output, force) not in (".mp4", ".gif", ".html"):
        raise UsageError(
            f"render writes videos and pages: {output.name} must end in .mp4, .gif or .html "
            "(use `moscale convert` for other formats)"
        )
    guard = Outputs([output], _inputs(input, mapping), force).check()
    motion = load_motion(input, mapping=mapping, scale=scale)
    rate = fps if fps is not None else motion.fps
    save_motion(output, motion.joints, caption=input.stem if title is None else title, fps=rate, force=force)
    info(f"wrote {output} ({motion.num_frames} frames, {motion.num_frames / rate:.1f} s)")
    guard.report()


def convert(
    input: Path = typer.Argument(
        ...,
        help="Motion file to read: .bvh (any skeleton, see --mapping) or .npy (joints or features).",
        show_default=False,
    ),
    output: Path = typer.Option(
        ...,
        "--output",
        "-o",
        help="File to write; the extension picks the format: .bvh, .npy, .mp4/.gif, .glb/.gltf (glTF 2.0) or .html.",
        show_default=False,
    ),
    features: bool = typer.Option(
        False,
        "--features",
        help="For .npy output: write the 263-dim HumanML3D features (251 for KIT) instead of joint positions.",
    ),
    mapping: str | None = typer.Option(None, "--mapping", help=_MAPPING_HELP),
    scale: float | None = typer.Option(None, "--scale", help=_SCALE_HELP),
    foot_cleanup: bool = typer.Option(
        False,
        "--foot-cleanup",
        "--postprocess",
        help="Run the post-process of generated motion: rigid bones, feet pinned while they touch the floor "
        "(knees re-solved). SMPL-22 only.",
    ),
    title: str | None = typer.Option(
        None, "--title", help="Caption for video, glTF and page outputs (default: the input file name)."
    ),
    rig: Path | None = ro.RIG_OPT,
    rig_mapping: str | None = ro.RIG_MAPPING_OPT,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Print the joint error of an output on --rig."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    backup: bool = typer.Option(False, "--backup", help=BACKUP_HELP),
) -> None:
    """Convert a motion between BVH, NPY (joints or features) and MP4/GIF.

    BVH input is mapped to the 22-joint SMPL skeleton, resampled to 20 fps (bone lengths kept), converted to metres and floored at y=0. BVH output is a 22-joint skeleton (Hips, LeftUpLeg, ...) with the motion's own bone lengths and rotations from IK, so bvh -> npy -> bvh keeps the joints.

    glTF output (.glb, .gltf): the 22-joint skeleton with a skinned capsule body and the animation, metres, Y up. With --rig FILE.bvh, .bvh and glTF outputs are written on that rig (retargeted).

    Examples: moscale convert clip.bvh -o clip.npy --features; moscale convert joints.npy -o clip.bvh; moscale convert motion.npy -o motion.glb; moscale convert motion.npy -o mine.bvh --rig my_character.bvh
    """
    from moscale_cli.io.files import check_output_path, load_motion, save_motion

    check_output_path(output, force)
    if features and output.suffix.lower() != ".npy":
        from moscale_cli.errors import UsageError

        raise UsageError(f"--features applies to .npy outputs only, not {output.name}")
    target = ro.load_rig(rig, rig_mapping)
    guard = Outputs([output], _inputs(input, mapping) + ([Path(rig)] if rig is not None else []), force, backup).check()
    motion = load_motion(input, mapping=mapping, scale=scale)
    caption = input.stem if title is None else title
    on_rig = target is not None and output.suffix.lower() in (".bvh", ".glb", ".gltf")
    if on_rig and motion.joints.shape[1] != 22:
        from moscale_cli.errors import UsageError

        raise UsageError("--rig needs a motion on the 22-joint SMPL skeleton")
    guard.before_write()
    if on_rig:
        joints = motion.joints
        if foot_cleanup:
            from moscale_cli.motion.postprocess import postprocess

            joints = postprocess(joints, fps=motion.fps).joints
        ro.save_outputs([output], joints, motion.fps, caption, rig=target, verbose=verbose, force=force)
    else:
        save_motion(
            output,
            motion.joints,
            features=motion.features,
            caption=caption,
            write_features=features,
            fps=motion.fps,
            foot_cleanup=foot_cleanup,
            force=force,
        )
    info(f"wrote {output}")
    guard.report()


def register(app: typer.Typer) -> None:
    app.command("render", no_args_is_help=True)(render)
    app.command("convert", no_args_is_help=True)(convert)
