"""`moscale generate`: text to motion files (.bvh, .npy, .mp4/.gif, .glb/.gltf, .html), optionally on a user's rig."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from moscale_cli.cli import control_opts as co
from moscale_cli.cli import rig_opts as ro
from moscale_cli.cli import sampling_opts as so
from moscale_cli.cli.outputs import FORCE_HELP

if TYPE_CHECKING:
    from moscale_cli.sampling.config import SamplingConfig
from moscale_cli.errors import UsageError


def read_prompt_text(path: str | Path) -> tuple[str, str]:
    """(name shown in messages, text) of a prompt file: ``-`` reads standard input; a pipe, a FIFO or
    ``/dev/stdin`` is read like a file."""
    import sys

    if str(path) == "-":
        try:
            return "<stdin>", sys.stdin.read()
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"cannot read prompts from standard input: {e}") from None
    p = Path(path)
    if not p.exists():
        raise UsageError(f"prompt file not found: {p}")
    if p.is_dir():
        raise UsageError(f"prompt file {p} is a folder")
    try:
        with open(p, encoding="utf-8") as f:  # not read_text: a pipe has no size
            return str(p), f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read prompt file {p}: {e}") from None


def parse_prompt_file(path: str | Path) -> list[tuple[str, int | None]]:
    """Lines ``text#frames`` or ``text#NA``; blank lines and comment lines (first non-blank character ``#``)
    are skipped; a malformed line raises naming its number. ``-`` reads the prompts from standard input."""
    name, text = read_prompt_text(path)
    out: list[tuple[str, int | None]] = []
    for no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "#" not in line:
            raise UsageError(f"{name}:{no}: expected 'text#frames' or 'text#NA', got {line!r}")
        text_, _, length = line.rpartition("#")
        text_, length = text_.strip(), length.strip()
        if not text_:
            raise UsageError(f"{name}:{no}: empty prompt text")
        if length.upper() == "NA":
            out.append((text_, None))
            continue
        try:
            frames = int(length)
        except ValueError:
            raise UsageError(f"{name}:{no}: length {length!r} is not a whole number of frames or NA") from None
        out.append((text_, frames))
    if not out:
        raise UsageError(f"prompt file {name} holds no prompts")
    return out


def output_paths(outputs: list[Path], n_prompts: int, n_samples: int, prompt: int, sample: int) -> list[Path]:
    """File names of one motion: the given names for a single motion, else numbered (out_0.bvh, out_2_1.bvh)."""
    if n_prompts == 1 and n_samples == 1:
        return list(outputs)
    if n_prompts == 1:
        tag = f"{sample}"
    elif n_samples == 1:
        tag = f"{prompt}"
    else:
        tag = f"{prompt}_{sample}"
    return [o.with_name(f"{o.stem}_{tag}{o.suffix}") for o in outputs]


def check_outputs(outputs: list[Path], force: bool = False) -> None:
    """At least one output, each with a known extension in a writable (or creatable) folder, not read-only
    unless ``force`` (before any work)."""
    from moscale_cli.cli.outputs import Outputs

    Outputs(outputs, force=force).check()


@so.sampling_options
def generate(
    text: str = typer.Argument(None, help="The prompt (omit with --prompts FILE or --unconditional)."),
    output: list[Path] = typer.Option([], "--output", "-o", help="Output file: .bvh, .npy, .mp4/.gif, .glb/.gltf (glTF) or .html "
                                      "(a page that plays the motion in 3D; all samples of a prompt side by side); repeat for several formats."),
    seconds: float = typer.Option(None, "--seconds", "-s", help="Length in seconds (default: the length estimator)."),
    frames: int = typer.Option(None, "--frames", "-f", help="Length in frames at 20 fps (40..196, rounded down to a multiple of 4)."),
    num_samples: int = typer.Option(1, "--num-samples", "-n", help="Motions per prompt (numbered files)."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives the same motion."),
    sampling: SamplingConfig = None,
    model: str = typer.Option(None, "--model", "-m", help="Model directory or hub id (default: the installed default model)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    prompts: Path = typer.Option(None, "--prompts", help="File of 'text#frames' or 'text#NA' lines ('#' at the start "
                                 "of a line: a comment); - reads standard input."),
    features: bool = typer.Option(False, "--features", help="Write the 263-dim features (not joints) to .npy outputs "
                                  "(computed from the written joints)."),
    postprocess: bool = typer.Option(True, "--postprocess/--no-postprocess",
                                     help="Clean the output: rigid bones, feet pinned while they touch the floor."),
    unconditional: bool = typer.Option(False, "--unconditional", help="Generate without text (needs a length)."),
    batch_size: int = typer.Option(32, "--batch-size", help="Motions generated at once."),
    threads: int = typer.Option(None, "--threads", help="CPU threads (default: the cores not busy with other work; "
                                "OMP_NUM_THREADS is respected)."),
    rig: Path = ro.RIG_OPT,
    rig_mapping: str = ro.RIG_MAPPING_OPT,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Print the joint error of outputs on --rig."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    constraints: Path = co.CONSTRAINTS_OPT,
    path: str = co.PATH_OPT,
    waypoint: list[str] = co.WAYPOINT_OPT,
) -> None:
    """Generate motion from text and write it as BVH, NPY, MP4, glTF or an HTML page (optionally on your rig)."""
    from moscale_cli.cli.common import info, progress, warn
    from moscale_cli.cli.outputs import Outputs

    outputs = [Path(o) for o in output]
    check_outputs(outputs, force)
    if seconds is not None and frames is not None:
        raise UsageError("give either --seconds or --frames, not both")
    if num_samples < 1:
        raise UsageError(f"--num-samples must be at least 1, got {num_samples}")
    from moscale_cli.utils.device import check_threads, set_cpu_threads

    check_threads(threads)
    if prompts is not None:
        if text is not None:
            raise UsageError("give either a TEXT or --prompts FILE, not both")
        items = parse_prompt_file(prompts)
        texts = [t for t, _ in items]
        lens: list[int | None] | int | None = [f for _, f in items]
        if seconds is not None or frames is not None:
            raise UsageError("--seconds/--frames cannot be combined with --prompts (lengths come from the file)")
    else:
        if text is None and not unconditional:
            raise UsageError("give a TEXT prompt (or --prompts FILE, or --unconditional)")
        texts = [text or ""]
        lens = frames
    files, pages = [o for o in outputs if not ro.is_page(o)], [o for o in outputs if ro.is_page(o)]
    guard = Outputs(  # every file this run writes (numbered as below), checked against its inputs
        [p for k in range(len(texts)) for j in range(num_samples) for p in output_paths(files, len(texts), num_samples, k, j)]
        + [p for k in range(len(texts)) for p in output_paths(pages, len(texts), 1, k, 0)],
        inputs=[prompts if prompts is not None and str(prompts) != "-" else None, rig], force=force,
    ).check()

    target = ro.load_rig(rig, rig_mapping)  # read and checked before any generation
    spatial = co.read_constraints(constraints, path, waypoint)
    from moscale_cli.pipeline import MoScalePipeline

    set_cpu_threads(threads, device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pipe = MoScalePipeline.from_pretrained(model, device=device)
        total = len(texts) * num_samples
        with progress(transient=True) as bar:
            task = bar.add_task("generating", total=total)
            motions = pipe.generate(
                texts, frames=lens, seconds=seconds, num_samples=num_samples, seed=seed, sampling=sampling,
                unconditional=unconditional, batch_size=batch_size,
                on_batch=lambda k: bar.advance(task, k), postprocess=postprocess, constraints=spatial,
            )
    from moscale_cli.pipeline import LengthAdjustedWarning
    from moscale_cli.text.encoder import PromptTruncatedWarning

    for w in caught:
        if issubclass(w.category, (PromptTruncatedWarning, LengthAdjustedWarning)):
            warn(str(w.message))
        else:  # not ours: hand it back to Python's usual warning machinery
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    written = []
    for m in motions:
        paths = output_paths(files, len(texts), num_samples, m.prompt_index, m.sample_index)
        info(f"{m.caption or '(unconditional)'!s}: {m.frames} frames ({m.seconds:.1f} s)")
        if (line := co.error_line(m)) is not None:
            info(line)
        ro.save_outputs(paths, m.joints, m.fps, m.caption, m.features if features else None, features, target, verbose,
                        force=force)
        written += paths
    for i in range(len(texts) if pages else 0):  # a page per prompt: its samples side by side
        ms = sorted((m for m in motions if m.prompt_index == i), key=lambda m: m.sample_index)
        paths = output_paths(pages, len(texts), 1, i, 0)
        ro.save_pages(paths, [m.joints for m in ms], ms[0].fps, ms[0].caption)
        written += paths
    guard.report()
    for p in written:  # plain print: a file name is not rich markup, and rich stays unimported with -q
        print(p, flush=True)


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
