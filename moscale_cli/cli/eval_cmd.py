"""`moscale eval`: the standard T2M protocol on a dataset split (table on screen, JSON report on disk)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from moscale_cli.cli import sampling_opts as so

if TYPE_CHECKING:
    from moscale_cli.sampling.config import SamplingConfig
from moscale_cli.cli.common import info, out, progress, warn
from moscale_cli.errors import UsageError


@so.sampling_options
def _cmd_eval(
    data: Path = typer.Option(..., "--data", help="Dataset folder (HumanML3D layout; the program task needs labels.jsonl)."),
    model: str = typer.Option(None, "--model", "-m",
                              help="Model directory or hub id (default: the installed default model); for --task "
                                   "reconstruction also a tokenizer run."),
    evaluator: str = typer.Option(None, "--evaluator",
                                  help="official:DIR (checkpoints/t2m or kit folder) or an evaluator run (default: the "
                                       "evaluator the model directory names). Not used by --task program."),
    out_path: Path = typer.Option(None, "--out", "-o", help="Also write the JSON report here."),
    task: str = typer.Option("t2m", "--task", help="t2m, program, physics, control, reconstruction, inbetween, outpaint, "
                                                   "prefix or suffix."),
    split: str = typer.Option("test", "--split"),
    replications: int = typer.Option(20, "--replications", help="Whole-protocol repetitions (95% intervals)."),
    mm_texts: int = typer.Option(96, "--mm-texts", help="Texts for MultiModality (0 = skip)."),
    mm_samples: int = typer.Option(30, "--mm-samples", help="Samples per MultiModality text."),
    batch_size: int = typer.Option(32, "--batch-size", help="R-precision batch size (the protocol uses 32; a split with fewer items is measured in one "
                                         "batch of all of them, with a warning)."),
    captions: str = typer.Option("all", "--captions", help="Program task: all captions of a clip, the first, one drawn per "
                                 "clip, or heldout (the held-out phrasings, never trained on)."),
    lengths: str = typer.Option("own", "--lengths", help="Program task: own (each clip's length), random (a length drawn "
                                "between the program's minimum and 9.8 s) or SECONDS (one length for all)."),
    samples: int = typer.Option(1, "--samples", help="Program task: generations per caption."),
    tokens: bool = typer.Option(False, "--tokens", help="Program task: also score the tokenizer's reconstructions of "
                                "the real clips (the most the model's tokens can express)."),
    max_clips: int = typer.Option(0, "--max-clips", help="Program, physics and control tasks: at most this many clips (0 = all)."),
    control_joints: str = typer.Option(",".join(("pelvis", "left_wrist", "right_wrist", "left_foot", "right_foot", "random")),
                                       "--control-joints", help="Control task: joints to control, one row each "
                                       "(SMPL-22 names, or random: one drawn per clip)."),
    control_density: str = typer.Option("1,2,5,25%,100%", "--control-density",
                                        help="Control task: constrained frames per clip, a count or a percentage of its frames."),
    sampling: SamplingConfig = None,
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    glove: Path | None = typer.Option(None, "--glove", help="GloVe folder for the official evaluator (default: found near DIR)."),
) -> None:
    """Evaluate a model: R-precision (also with hard negatives on the procedural corpus), FID, MM-Dist, Diversity
    and MultiModality (mean ± 95% interval), or --task program (does the motion do what the text says), or
    --task physics (foot skating, floating, penetration, jitter, bone lengths; before and after the post-process)."""
    from moscale_cli.model_dir import resolve_model

    if out_path is not None:
        if out_path.suffix.lower() != ".json":
            raise UsageError(f"--out must be a .json file, got {out_path}")
        from moscale_cli.utils.atomic import check_creatable

        check_creatable(out_path)  # parent folders are created when the report is written
    if tokens and task != "program":
        raise UsageError("--tokens goes with --task program")
    if not data.is_dir():
        raise UsageError(f"dataset folder {data} does not exist")
    model_path = resolve_model(model)
    from moscale_cli.utils.device import set_cpu_threads

    set_cpu_threads(None, device)
    scfg = sampling if task != "reconstruction" else None
    if task == "program":
        report = _program(model_path, data, split, captions, lengths, samples, max_clips, batch_size, seed, scfg, device,
                          tokens)
    elif task == "physics":
        report = _physics(model_path, data, split, max_clips, batch_size, seed, scfg, device)
    elif task == "control":
        report = _control(model_path, data, evaluator, split, control_joints, control_density, max_clips, batch_size,
                          seed, scfg, device)
    else:
        report = _protocol(model_path, data, evaluator, task, split, replications, batch_size, mm_texts, mm_samples,
                           seed, scfg, device, glove)
    ds = report["dataset"]
    if out_path is not None:
        from moscale_cli.evaluation.report import write_report

        write_report(out_path, report)
        info(f"report written to {out_path} ({ds['eval_items']} items, {report['seconds']:.1f} s)")
    else:
        info(f"{ds['eval_items']} items, {report['seconds']:.1f} s")


def default_evaluator(model_path: Path) -> str:
    """The evaluator a model directory names (config.json "evaluator", a folder relative to the model)."""
    from moscale_cli.model_dir import read_model_config

    name = read_model_config(model_path).get("evaluator")
    if not name:
        raise UsageError(f"the model {model_path} names no evaluator: give --evaluator (an evaluator run or official:DIR)")
    return str((model_path / name).resolve())


def _protocol(model_path: Path, data: Path, evaluator: str | None, task: str, split: str, replications: int,
              batch_size: int, mm_texts: int, mm_samples: int, seed: int, scfg: Any, device: str, glove: Path | None) -> dict:
    from moscale_cli.evaluation.protocol import EvalConfig, evaluate
    from moscale_cli.evaluation.report import results_table

    ev = evaluator or default_evaluator(model_path)
    ecfg = EvalConfig(task=task, split=split, replications=replications, batch_size=batch_size, mm_texts=mm_texts,
                      mm_samples=mm_samples, seed=seed)
    with progress() as bar:
        report = evaluate(str(model_path), str(data), ev, ecfg, scfg, device=device,
                          glove=str(glove) if glove else None, progress=bar)
    reps = "1 replication (no intervals)" if replications == 1 else f"{replications} replications (mean ± 95% interval)"
    title = f"{task} on {Path(report['dataset']['root']).name} ({split} split), {reps}"
    out.print(results_table(report["results"], title=title))
    return report


def _program(model_path: Path, data: Path, split: str, captions: str, lengths: str, samples: int, max_clips: int,
             batch_size: int, seed: int, scfg: Any, device: str, tokens: bool = False) -> dict:
    from moscale_cli.evaluation.program.task import ProgramEvalConfig, evaluate_program, program_table

    pcfg = ProgramEvalConfig(split=split, captions=captions, samples=samples, max_clips=max_clips, batch_size=batch_size,
                             seed=seed, lengths=lengths, tokens=tokens)
    with progress() as bar:
        report = evaluate_program(str(model_path), str(data), pcfg, scfg, device=device, progress=bar)
    n = report["results"]["model"]["clips"]
    ln = report["lengths"]
    how = {"own": "own lengths", "random": "random lengths"}.get(ln["mode"], f"{ln['mode']} s")
    out.print(program_table(report["results"], title=f"program on {data.resolve().name} ({split} split, {captions} "
                                                     f"captions, {how}), {n} generations"))
    if ln.get("note"):
        warn(ln["note"])
    return report


def _physics(model_path: Path, data: Path, split: str, max_clips: int, batch_size: int, seed: int, scfg: Any,
             device: str) -> dict:
    from moscale_cli.evaluation.physics import PhysicsEvalConfig, evaluate_physics, physics_table

    pcfg = PhysicsEvalConfig(split=split, max_clips=max_clips, batch_size=batch_size, seed=seed)
    with progress() as bar:
        report = evaluate_physics(str(model_path), str(data), pcfg, scfg, device=device, progress=bar)
    n = report["dataset"]["eval_items"]
    out.print(physics_table(report["results"], title=f"physics on {data.resolve().name} ({split} split), {n} clips"))
    return report


def _control(model_path: Path, data: Path, evaluator: str | None, split: str, joints: str, density: str, max_clips: int,
             batch_size: int, seed: int, scfg: Any, device: str) -> dict:
    from moscale_cli.evaluation.control import ControlEvalConfig, control_table, evaluate_control

    ccfg = ControlEvalConfig(split=split, joints=tuple(j.strip() for j in joints.split(",") if j.strip()),
                             densities=tuple(d.strip() for d in density.split(",") if d.strip()), max_clips=max_clips,
                             batch_size=batch_size, seed=seed)
    ev = evaluator or default_evaluator(model_path)
    with progress() as bar:
        report = evaluate_control(str(model_path), str(data), ev, ccfg, scfg, device=device, progress=bar)
    n = report["dataset"]["eval_items"]
    out.print(control_table(report["results"], title=f"control on {data.resolve().name} ({split} split), {n} clips"))
    return report


def register(app: typer.Typer) -> None:
    app.command("eval")(_cmd_eval)
