"""Training commands: ``moscale train-tokenizer`` and ``moscale plot`` (one function per command).

Other stages add their commands here: write ``def _cmd_x(...)`` and register it in ``register``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from moscale_cli.cli.common import STATE, info, out
from moscale_cli.errors import UsageError

DATA_OPT = typer.Option(..., "--data", help="Dataset folder (HumanML3D layout); repeat to train on several.")
OUT_OPT = typer.Option(..., "--out", "-o", help="Run directory (checkpoints, logs, exported weights).")


def common_train_config(epochs: int | None, steps: int | None, batch_size: int, lr: float, device: str, val_every: int,
                        save_every: int, keep_last: int, seed: int, warmup: int, schedule: str, grad_clip: float,
                        num_workers: int, **extra):
    """Build a TrainConfig from the shared training options (used by every train-* command)."""
    from moscale_cli.training.loop import TrainConfig

    if epochs is not None and steps is not None:
        raise UsageError("give either --epochs or --steps, not both")
    if epochs is None and steps is None:
        epochs = 10
    return TrainConfig(steps=steps or 0, epochs=epochs or 0, batch_size=batch_size, lr=lr, device=device,
                       val_every=val_every, save_every=save_every, keep_last=keep_last, seed=seed, warmup=warmup,
                       schedule=schedule, grad_clip=grad_clip, num_workers=num_workers, **extra)


def _cmd_train_tokenizer(
    data: list[Path] = DATA_OPT,
    out_dir: Path = OUT_OPT,
    preset: str = typer.Option("small", "--preset", help="Tokenizer size: tiny, small or base (the reference)."),
    epochs: int | None = typer.Option(None, "--epochs", help="Training epochs (default 10)."),
    steps: int | None = typer.Option(None, "--steps", help="Training steps (instead of --epochs)."),
    batch_size: int = typer.Option(64, "--batch-size", help="Global batch size (split over DDP processes)."),
    lr: float = typer.Option(3e-4, "--lr"),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out exactly where it stopped."),
    val_every: int = typer.Option(0, "--val-every", help="Validate every N steps (0 = every epoch)."),
    save_every: int = typer.Option(0, "--save-every", help="Checkpoint every N steps (0 = every epoch)."),
    keep_last: int = typer.Option(2, "--keep-last", help="Checkpoints to keep."),
    seed: int = typer.Option(10306, "--seed"),
    warmup: int = typer.Option(-1, "--warmup", help="Warm-up steps (-1 = min(2000, total/10))."),
    schedule: str = typer.Option("step", "--schedule", help="step (x0.3 at 30% and 70%) or cosine."),
    grad_clip: float = typer.Option(0.5, "--grad-clip"),
    num_workers: int = typer.Option(0, "--num-workers"),
    stats: str = typer.Option("dataset", "--stats", help="Normalisation statistics: dataset or evaluator."),
    val_split: str = typer.Option("val", "--val-split", help="Split used for validation ('' = none)."),
) -> None:
    """Train the multi-scale VQ tokenizer; exports tokenizer.safetensors + config + Mean/Std of the best weights."""
    from moscale_cli.training.tokenizer_stage import TokenizerStageConfig, train_tokenizer

    cfg = common_train_config(epochs, steps, batch_size, lr, device, val_every, save_every, keep_last, seed, warmup,
                              schedule, grad_clip, num_workers)
    stage_cfg = TokenizerStageConfig(stats=stats, val_split=val_split)
    res = train_tokenizer([str(d) for d in data], str(out_dir), preset, cfg, stage_cfg, resume=resume)
    if res.get("best") is not None:
        info(f"done: step {res['step']}, best val MPJPE {res['best']:.2f} mm at step {res['best_step']}; tokenizer in {out_dir}")
    else:
        info(f"done: step {res.get('step')}; tokenizer in {out_dir}")


def _cmd_plot(
    run: Path = typer.Argument(..., help="Run directory holding log.jsonl."),
    output: Path | None = typer.Option(None, "--output", "-o", help="PNG file (default RUN/curves.png)."),
) -> None:
    """Draw the loss and validation curves of a run (log.jsonl) to a PNG."""
    from moscale_cli.training.plot import plot_run

    path = plot_run(run, output)
    if not STATE.quiet:
        out.print(str(path))


def register(app: typer.Typer) -> None:
    app.command("train-tokenizer")(_cmd_train_tokenizer)
    app.command("plot")(_cmd_plot)
    from moscale_cli.cli.train_evaluator_cmd import _cmd_train_evaluator

    app.command("train-evaluator")(_cmd_train_evaluator)
