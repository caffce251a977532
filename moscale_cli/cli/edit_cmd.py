"""`moscale edit`, `moscale inbetween`, `moscale compose`: zero-shot editing on the locked-token sampler."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from moscale_cli.cli import control_opts as co
from moscale_cli.cli import rig_opts as ro
from moscale_cli.cli import sampling_opts as so
from moscale_cli.cli.outputs import BACKUP_HELP, FORCE_HELP, Outputs

if TYPE_CHECKING:
    from moscale_cli.sampling.config import SamplingConfig
from moscale_cli.errors import UsageError
from moscale_cli.pipeline.defaults import DEFAULT_BLEND

FPS = 20.0
_TIME = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(s?)\s*$")


def parse_time(spec: str, fps: float = FPS, what: str = "time") -> int:
    """Frames for ``"60"`` (frames) or ``"2.5s"`` (seconds, rounded to the nearest frame)."""
    m = _TIME.match(str(spec))
    if not m:
        raise UsageError(f"bad {what} {spec!r}: use frames (e.g. 60) or seconds (e.g. 2.5s)")
    num, sec = m.groups()
    if sec:
        return int(round(float(num) * fps))
    if not num.isdigit():
        raise UsageError(f"bad {what} {spec!r}: frames are whole numbers (write {num}s for seconds)")
    return int(num)


def parse_region(spec: str, total: int, fps: float = FPS) -> tuple[int, int]:
    """``"40:120"``, ``"2.5s:4s"``, ``"40:"`` (to the end) or ``":2s"`` (from the start) -> frames [start, end)."""
    if spec.count(":") != 1:
        raise UsageError(f"bad region {spec!r}: use START:END in frames or seconds, e.g. 40:120 or 2.5s:4s")
    a, b = spec.split(":")
    s = parse_time(a, fps, "region start") if a.strip() else 0
    e = parse_time(b, fps, "region end") if b.strip() else total
    return s, e


def parse_segment(spec: str, fps: float = FPS) -> tuple[str, int]:
    """``"walk forward:3s"`` or ``"walk forward:60"`` -> (text, frames)."""
    text, sep, length = spec.rpartition(":")
    if not sep or not text.strip():
        raise UsageError(f"bad segment {spec!r}: use \"TEXT:DURATION\", e.g. \"walk forward:3s\" or \"wave:60\"")
    return text.strip(), parse_time(length, fps, f"duration in segment {spec!r}")


def load_mask(path: Path) -> Any:
    import numpy as np

    if not path.is_file():
        raise UsageError(f"mask file not found: {path}")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read mask {path}: {e}") from None


def _prepare(
    outputs: list[Path], report: Path | None, inputs: Sequence[Path | str | None] = (),
    force: bool = False, backup: bool = False,
) -> Outputs:
    """Check the outputs before any work (see ``cli/outputs.py``): ``inputs`` are the files the command reads
    (source motions, mask, mapping file); an output may replace one only with ``backup``."""
    files = [Path(i) for i in inputs if i is not None and not str(i).lstrip().startswith("{")]  # not inline JSON
    guard = Outputs([Path(o) for o in outputs], files, force, backup).check()
    if report is not None:
        if report.suffix.lower() != ".json":
            raise UsageError(f"--report {report}: give a .json file")
        Outputs([report], files, force, check_extension=False).check()
    return guard


SEAM_WARN = 1.5  # a seam above this many times the clip's p95 step is worth a warning


RIGS = ("source", "template")


def rig_target(rig: str | None, mapping: str | None) -> Any:
    """The ``TargetRig`` of ``--rig FILE.bvh`` (None for source/template/no rig); other values are a usage error."""
    if rig is not None and rig not in RIGS and not rig.lower().endswith(".bvh"):
        raise UsageError(f"--rig must be 'source', 'template' or a .bvh rig file, got {rig!r}")
    return ro.load_rig(rig if ro.is_rig_file(rig) else None, mapping)


def check_rig(rig: str | None, source: Any) -> str:
    """The rig of .bvh outputs: ``--rig`` checked against the source (an ``EditSource`` or None); default
    "source" for a BVH source, else "template"; "file" for a rig file (``--rig FILE.bvh``)."""
    is_bvh = source is not None and getattr(source, "kind", None) == "bvh"
    if ro.is_rig_file(rig):
        return "file"
    if rig is None:
        return "source" if is_bvh else "template"
    if rig not in RIGS:
        raise UsageError(f"--rig must be 'source', 'template' or a .bvh rig file, got {rig!r}")
    if rig == "source" and not is_bvh:
        raise UsageError("--rig source needs a .bvh source motion (use --rig template)")
    return rig


def _write(
    m: Any, guard: Outputs, features: bool, verbose: bool, report: Path | None, took: float, rig: str = "template",
    target: Any = None, skeleton: bool = False,
) -> None:
    from moscale_cli.cli.common import console, info, out, warn
    from moscale_cli.io.files import save_motion
    from moscale_cli.utils.atomic import write_json_atomic

    outputs = guard.paths
    on_rig = rig == "source" and any(p.suffix.lower() in (".bvh", ".glb", ".gltf") for p in outputs)
    rig_frames = None
    if on_rig:  # solved before any file is written: a failure leaves no output
        from moscale_cli.pipeline.source_rig import source_rig_frames, write_source_bvh, write_source_gltf

        rig_frames = source_rig_frames(m)
    guard.before_write()
    on_target = None
    if target is not None:  # --rig FILE.bvh
        on_target = ro.save_outputs(outputs, m.joints, m.fps, m.caption, m.features if features else None, features,
                                    target, verbose, force=guard.force)
    for path in outputs if on_target is None else []:
        if on_rig and path.suffix.lower() == ".bvh":
            write_source_bvh(m, path, rig_frames)
            continue
        if on_rig and path.suffix.lower() in (".glb", ".gltf"):
            write_source_gltf(m, path, rig_frames)
            continue
        feats = features and path.suffix.lower() == ".npy"  # read only when written (computed lazily)
        save_motion(path, m.joints, features=m.features if feats else None, caption=m.caption,
                    write_features=feats, fps=m.fps, force=guard.force)
    s = m.seams
    line = f"{m.frames} frames ({m.seconds:.1f} s), generated {_fmt_regions(m.regions)}; {took:.1f} s"
    if skeleton:
        sk = getattr(m, "skeleton", "model")
        line += "; one skeleton: " + ("the model's" if sk == "model" else f"{sk}'s bone lengths")
    if (cline := co.error_line(m)) is not None:
        line += f"; {cline}"
    if verbose:  # -v: the seam measure and, on the source rig, what was kept (printed also with --quiet)
        line += (f"; seams: max jump {s.jump * 100:.1f} cm vs p95 step {s.p95 * 100:.1f} cm (x{s.ratio:.2f}) at "
                 f"frames {', '.join(map(str, s.boundaries)) or '-'}")
        if rig_frames is not None:
            clip = m.source.bvh.clip
            line += (f"; on the source rig: {len(rig_frames.keep)} frames at {clip.fps:g} fps, "
                     f"{int(rig_frames.keep.sum())} kept verbatim")
        console.print(line, highlight=False, soft_wrap=True)
    else:
        info(line)
    if s is not None and s.p95 > 0 and s.ratio > SEAM_WARN:
        warn(f"a seam jumps {s.jump * 100:.1f} cm, {s.ratio:.2f}x the clip's p95 step of {s.p95 * 100:.1f} cm "
             f"(above {SEAM_WARN:g}x): a longer region or another --seed may join it better")
    if report is not None:
        write_json_atomic(report, {
            "caption": m.caption, "frames": m.frames, "fps": m.fps, "regions": [list(r) for r in m.regions],
            "source_offset": m.source_offset, "space": getattr(m, "space", "model"), "seams": s.to_dict(),
            "seconds_taken": round(took, 3),
            **({"rig": {"frames": len(rig_frames.keep), "kept": int(rig_frames.keep.sum())}} if rig_frames is not None else {}),
            **({"constraints": co.error_dict(m)} if m.targets is not None else {}),
            **({"target_rig": {"file": str(target.clip.path), "frames": on_target.frames, "fps": target.fps,
                               "mpjpe_m": round(on_target.mpjpe, 6), "max_error_m": round(on_target.max_error, 6)}}
               if on_target is not None else {}),
        })
    guard.report()
    for p in outputs:
        out.print(str(p), highlight=False, soft_wrap=True)


def _run(
    model: str | None, device: str, text: bool, guard: Outputs, features: bool, verbose: bool,
    report: Path | None, task: Callable[[Any], Any], rig: str = "template", target: Any = None,
    skeleton: bool = False,
) -> None:
    """Load the pipeline, run ``task(pipe)`` (timed without the loading) and write its motion (on ``target``,
    a ``TargetRig``, when given)."""
    import time

    pipe = _pipeline(model, device, text)
    t0 = time.perf_counter()
    m = task(pipe)
    _write(m, guard, features, verbose, report, time.perf_counter() - t0, rig, target, skeleton)


def _fmt_regions(regions: list[tuple[int, int]]) -> str:
    return ", ".join(f"{a}:{b}" for a, b in regions) if regions else "nothing"


def _pipeline(model: str | None, device: str, text: bool = True) -> Any:
    from moscale_cli.pipeline import MoScalePipeline
    from moscale_cli.utils.device import set_cpu_threads

    set_cpu_threads(None, device)  # the generate rule: no more threads than idle cores
    pipe = MoScalePipeline.from_pretrained(model, device=device)
    if text:
        _ = pipe.text_encoder  # load it now so that the reported time is the editing time
    return pipe


_OPT_SEED = typer.Option(0, "--seed", help="Random seed; the same seed gives the same result.")
_OPT_MODEL = typer.Option(None, "--model", "-m", help="Model directory or hub id (default: the installed model).")
_OPT_DEVICE = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N.")
_OPT_OUT = typer.Option([], "--output", "-o", help="Output file: .bvh, .npy, .mp4/.gif, .glb/.gltf or .html; repeat for several.")
_OPT_FEATS = typer.Option(False, "--features", help="Write the 263-dim features (not joints; the model's space) to .npy outputs.")
_OPT_UNCOND = typer.Option(False, "--unconditional", help="Regenerate without text.")
_OPT_BLEND = typer.Option(DEFAULT_BLEND, "--blend", help="Frames of smooth transition inside each regenerated region.")
_OPT_VERBOSE = typer.Option(
    False, "--verbose", "-v",
    help="Also print the seam measure (largest joint jump at each region boundary against the motion's p95 "
    "per-frame step), what was kept on a source rig, and the joint error on --rig (also with --quiet).",
)
_OPT_REPORT = typer.Option(None, "--report", help="Write regions and seam numbers to this JSON file.")
_OPT_POST = typer.Option(True, "--postprocess/--no-postprocess",
                         help="Clean the generated frames: rigid bones, feet pinned while they touch the floor.")
_OPT_RIG = typer.Option(
    None, "--rig",
    help="Skeleton of .bvh (and .glb/.gltf) outputs: 'source' = the source BVH's own hierarchy (names, offsets, "
    "channel order, extra joints), frame time and units, frames outside the regions verbatim; 'template' = a "
    "22-joint BVH; FILE.bvh = that rig's hierarchy, rest pose, units and frame rate (joints that map to the body "
    "solved, the others at rest, feet planted; see --rig-mapping). Default: source for a .bvh source, else template.",
)
_OPT_MAPPING = typer.Option(
    None, "--mapping",
    help='BVH sources: JSON mapping (file or inline) from the 22 SMPL joint names to the file\'s joints, e.g. '
    '\'{"pelvis": "Hips", ...}\'; not needed for built-in or CMU/Mixamo-style rigs.',
)
_OPT_FORCE = typer.Option(False, "--force", help=FORCE_HELP)
_OPT_BACKUP = typer.Option(False, "--backup", help=BACKUP_HELP)
_REGION_HELP = (
    "Region to regenerate, START:END in frames at 20 fps or in seconds (40:120, 2.5s:4s); repeatable. "
    "A BVH source is edited at 20 fps; written on its own rig at its own rate, a frame is regenerated when "
    "its time falls inside a region."
)


@so.sampling_options
def edit(
    source: Path = typer.Argument(..., help="Source motion: .bvh, or .npy joints (T,22,3) / features (T,263). "
                                 "Joints and BVH sources are edited in their own space (placement, facing, bone lengths)."),
    text: str = typer.Argument(None, help="Prompt for the regenerated regions (omit with --unconditional)."),
    output: list[Path] = _OPT_OUT,
    region: list[str] = typer.Option([], "--region", "-r", help=_REGION_HELP),
    mask: Path = typer.Option(None, "--mask", help="A .npy boolean/0-1 array, one value per source frame at 20 fps (True = regenerate)."),
    frames: int = typer.Option(None, "--frames", "-f", help="Total output frames at 20 fps; more than the source extends it (see --extend)."),
    extend: str = typer.Option("end", "--extend", help="Where new frames go when --frames exceeds the source: end, start or both."),
    seed: int = _OPT_SEED, sampling: SamplingConfig = None, model: str = _OPT_MODEL, device: str = _OPT_DEVICE,
    features: bool = _OPT_FEATS, unconditional: bool = _OPT_UNCOND, blend: int = _OPT_BLEND,
    verbose: bool = _OPT_VERBOSE, report: Path = _OPT_REPORT, rig: str = _OPT_RIG,
    rig_mapping: str = ro.RIG_MAPPING_OPT, postprocess: bool = _OPT_POST,
    mapping: str = _OPT_MAPPING, force: bool = _OPT_FORCE, backup: bool = _OPT_BACKUP,
    constraints: Path = co.CONSTRAINTS_OPT, path: str = co.PATH_OPT, waypoint: list[str] = co.WAYPOINT_OPT,
) -> None:
    """Regenerate time regions of a motion under a (new) text; every other frame stays exactly as it was."""
    from moscale_cli.pipeline.sources import load_source

    outs = _prepare(output, report, [source, mask, mapping, rig if ro.is_rig_file(rig) else None], force, backup)
    target = rig_target(rig, rig_mapping)
    spatial = co.read_constraints(constraints, path, waypoint)
    if text is None and not unconditional:
        raise UsageError("give a TEXT prompt for the regenerated regions (or --unconditional)")
    if region and mask is not None:
        raise UsageError("give either --region or --mask, not both")
    if not region and mask is None and frames is None:
        raise UsageError("nothing to regenerate: give --region START:END, --mask FILE or a longer --frames")
    src = load_source(source, mapping=mapping)
    rig_kind = check_rig(rig, src)
    total = src.frames
    regions = [parse_region(r, total) for r in region]
    mask_arr = load_mask(mask) if mask is not None else None
    _run(
        model, device, not unconditional, outs, features, verbose, report,
        lambda pipe: pipe.edit(
            src, text, regions=regions, mask=mask_arr, frames=frames, extend=extend, seed=seed, sampling=sampling,
            unconditional=unconditional, blend=blend, postprocess=postprocess, constraints=spatial,
        ),
        rig_kind, target,
    )


@so.sampling_options
def inbetween(
    text: str = typer.Argument(None, help="Prompt for the generated frames (omit with --unconditional)."),
    output: list[Path] = _OPT_OUT,
    start: Path = typer.Option(None, "--start", help="Motion before the gap (.bvh/.npy); joints/BVH: the output is in its space."),
    end: Path = typer.Option(None, "--end", help="Motion after the gap (.bvh/.npy); its root continues from the gap's end."),
    frames: str = typer.Option(None, "--frames", "-f", help="With --start/--end: frames (or 2s) to generate between them; with --source: total length."),
    source: Path = typer.Option(None, "--source", help="One motion whose middle is regenerated (with --keep-start/--keep-end); joints/BVH: in its own space."),
    keep_start: str = typer.Option("0", "--keep-start", help="Frames (or seconds, 1s) kept at the start of --source."),
    keep_end: str = typer.Option("0", "--keep-end", help="Frames (or seconds) kept at the end of --source."),
    seed: int = _OPT_SEED, sampling: SamplingConfig = None, model: str = _OPT_MODEL, device: str = _OPT_DEVICE,
    features: bool = _OPT_FEATS, unconditional: bool = _OPT_UNCOND, blend: int = _OPT_BLEND,
    verbose: bool = _OPT_VERBOSE, report: Path = _OPT_REPORT, rig: str = _OPT_RIG,
    rig_mapping: str = ro.RIG_MAPPING_OPT, postprocess: bool = _OPT_POST,
    mapping: str = _OPT_MAPPING, force: bool = _OPT_FORCE, backup: bool = _OPT_BACKUP,
    constraints: Path = co.CONSTRAINTS_OPT, path: str = co.PATH_OPT, waypoint: list[str] = co.WAYPOINT_OPT,
) -> None:
    """Generate the frames between two motions (or the middle of one) under a text."""
    from moscale_cli.pipeline.sources import load_source

    outs = _prepare(output, report, [source, start, end, mapping, rig if ro.is_rig_file(rig) else None], force, backup)
    target = rig_target(rig, rig_mapping)
    spatial = co.read_constraints(constraints, path, waypoint)
    if text is None and not unconditional:
        raise UsageError("give a TEXT prompt for the generated frames (or --unconditional)")
    n = parse_time(frames, what="--frames") if frames is not None else None
    k0, k1 = parse_time(keep_start, what="--keep-start"), parse_time(keep_end, what="--keep-end")
    if source is None and (k0 or k1):
        raise UsageError("--keep-start/--keep-end need --source")
    if rig == "source" and source is None:
        raise UsageError("--rig source works with --source (one .bvh clip); --start/--end outputs use --rig template")
    src = load_source(source, mapping=mapping) if source is not None else None
    a = load_source(start, mapping=mapping) if start is not None else None
    b = load_source(end, mapping=mapping) if end is not None else None
    rig_kind = check_rig(rig, src)
    _run(
        model, device, not unconditional, outs, features, verbose, report,
        lambda pipe: pipe.inbetween(
            text, start=a, end=b, frames=n, source=src, keep_start=k0, keep_end=k1, seed=seed, sampling=sampling,
            unconditional=unconditional, blend=blend, postprocess=postprocess, constraints=spatial,
        ),
        rig_kind, target, skeleton=a is not None and b is not None,
    )


@so.sampling_options
def compose(
    segments: list[str] = typer.Argument(..., help="Segments \"TEXT:DURATION\" (3s, 2.5s or 60 frames), in order."),
    output: list[Path] = _OPT_OUT,
    overlap: str = typer.Option("1s", "--overlap", help="Frames (or seconds) of the previous window each window continues from."),
    seed: int = _OPT_SEED, sampling: SamplingConfig = None, model: str = _OPT_MODEL, device: str = _OPT_DEVICE,
    features: bool = _OPT_FEATS, blend: int = _OPT_BLEND, verbose: bool = _OPT_VERBOSE, report: Path = _OPT_REPORT,
    rig: Path = ro.RIG_OPT, rig_mapping: str = ro.RIG_MAPPING_OPT,
    force: bool = _OPT_FORCE, postprocess: bool = _OPT_POST,
    constraints: Path = co.CONSTRAINTS_OPT, path: str = co.PATH_OPT, waypoint: list[str] = co.WAYPOINT_OPT,
) -> None:
    """One continuous motion of any length from several prompts, window by window."""
    from moscale_cli.cli.common import progress

    outs = _prepare(output, report, [rig], force=force)
    target = ro.load_rig(rig, rig_mapping)
    spatial = co.read_constraints(constraints, path, waypoint)
    segs = [parse_segment(s) for s in segments]
    ov = parse_time(overlap, what="--overlap")

    def run(pipe: Any) -> Any:
        total = sum(n for _, n in segs)
        with progress(transient=True) as bar:
            task = bar.add_task("composing", total=max(1, math.ceil(total / max(1, pipe.max_frames - ov))))
            return pipe.compose(
                segs, overlap=ov, seed=seed, sampling=sampling, blend=blend,
                on_window=lambda i, n: bar.update(task, completed=i + 1, total=n), postprocess=postprocess,
                constraints=spatial,
            )

    _run(model, device, True, outs, features, verbose, report, run, target=target)


def register(app: typer.Typer) -> None:
    app.command("edit")(edit)
    app.command("inbetween")(inbetween)
    app.command("compose")(compose)
