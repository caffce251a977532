"""`moscale eval`: the standard T2M protocol on a dataset split (table on screen, JSON report on disk)."""

from __future__ import annotations

from pathlib import Path

import typer

from moscale_cli.cli.common import info, out, progress
from moscale_cli.cli.sampling_opts import (
    CFG_OPT,
    MIN_P_OPT,
    REFINE_OPT,
    TEMPERATURE_OPT,
    TOP_K_OPT,
    TOP_P_OPT,
    sampling_from_flags,
)
from moscale_cli.errors import UsageError


def _cmd_eval(
    model: Path = typer.Option(..., "--model", "-m", help="Model directory (or, for --task reconstruction, a tokenizer run)."),
    data: Path = typer.Option(..., "--data", help="Dataset folder (HumanML3D layout)."),
    evaluator: str = typer.Option(..., "--evaluator", help="official:DIR (checkpoints/t2m or kit folder) or an evaluator run."),
    out_path: Path = typer.Option(..., "--out", "-o", help="JSON report to write."),
    task: str = typer.Option("t2m", "--task", help="t2m, reconstruction, inbetween, outpaint, prefix or suffix."),
    split: str = typer.Option("test", "--split"),
    replications: int = typer.Option(20, "--replications", help="Whole-protocol repetitions (95% intervals)."),
    mm_texts: int = typer.Option(96, "--mm-texts", help="Texts for MultiModality (0 = skip)."),
    mm_samples: int = typer.Option(30, "--mm-samples", help="Samples per MultiModality text."),
    batch_size: int = typer.Option(32, "--batch-size", help="R-precision batch size (the protocol uses 32)."),
    cfg: float = CFG_OPT,
    refine_steps: str = REFINE_OPT,
    top_p: float = TOP_P_OPT,
    top_k: int = TOP_K_OPT,
    min_p: float = MIN_P_OPT,
    temperature: float = TEMPERATURE_OPT,
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    glove: Path | None = typer.Option(None, "--glove", help="GloVe folder for the official evaluator (default: found near DIR)."),
) -> None:
    """Evaluate a model with R-precision, FID, MM-Dist, Diversity and MultiModality (mean ± 95% interval)."""
    from moscale_cli.evaluation.protocol import EvalConfig, evaluate
    from moscale_cli.evaluation.report import results_table, write_report

    if out_path.suffix.lower() != ".json":
        raise UsageError(f"--out must be a .json file, got {out_path}")
    if not out_path.parent.exists():
        raise UsageError(f"cannot write {out_path}: folder {out_path.parent} does not exist")
    ecfg = EvalConfig(task=task, split=split, replications=replications, batch_size=batch_size, mm_texts=mm_texts,
                      mm_samples=mm_samples, seed=seed)
    scfg = sampling_from_flags(cfg, refine_steps, top_p, top_k, min_p, temperature) if task != "reconstruction" else None
    with progress() as bar:
        report = evaluate(str(model), str(data), evaluator, ecfg, scfg, device=device,
                          glove=str(glove) if glove else None, progress=bar)
    write_report(out_path, report)
    ds = report["dataset"]
    out.print(results_table(report["results"], title=f"{task} on {ds['root']} [{split}], {replications} replication(s)"))
    info(f"report written to {out_path} ({ds['eval_items']} items, {report['seconds']:.1f} s)")


def register(app: typer.Typer) -> None:
    app.command("eval")(_cmd_eval)
