"""`moscale train-evaluator`: our contrastive text-motion evaluator (registered by ``train_cmd.register``)."""

from __future__ import annotations

from pathlib import Path

import typer

from moscale_cli.cli.common import info

DATA_OPT = typer.Option(..., "--data", help="Dataset folder (HumanML3D layout); repeat to train on several.")
OUT_OPT = typer.Option(..., "--out", "-o", help="Run directory (checkpoints, logs, exported evaluator).")


def _cmd_train_evaluator(
    data: list[Path] = DATA_OPT,
    out_dir: Path = OUT_OPT,
    preset: str = typer.Option("base", "--preset", help="Evaluator size: tiny, small or base (official motion-side sizes)."),
    epochs: int | None = typer.Option(None, "--epochs", help="Training epochs (default 10)."),
    steps: int | None = typer.Option(None, "--steps", help="Training steps (instead of --epochs)."),
    batch_size: int = typer.Option(64, "--batch-size", help="Global batch size (more negatives per step)."),
    lr: float = typer.Option(2e-4, "--lr"),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out exactly where it stopped."),
    val_every: int = typer.Option(0, "--val-every", help="Validate every N steps (0 = every epoch)."),
    save_every: int = typer.Option(0, "--save-every", help="Checkpoint every N steps (0 = every epoch)."),
    keep_last: int = typer.Option(2, "--keep-last"),
    seed: int = typer.Option(10306, "--seed"),
    warmup: int = typer.Option(-1, "--warmup", help="Warm-up steps (-1 = min(2000, total/10))."),
    schedule: str = typer.Option("cosine", "--schedule", help="cosine, step or constant."),
    grad_clip: float = typer.Option(1.0, "--grad-clip"),
    num_workers: int = typer.Option(0, "--num-workers"),
    val_split: str = typer.Option("val", "--val-split", help="Split for R-precision validation ('' = none)."),
    text_encoder: str | None = typer.Option(None, "--text-encoder", help="TextEncoder name or path (default: bundled MiniLM)."),
    text_max_tokens: int = typer.Option(32, "--text-max-tokens"),
    text_cache: str = typer.Option("", "--text-cache", help="Folder for a disk cache of caption features."),
) -> None:
    """Train our evaluator (InfoNCE); exports evaluator.safetensors + config + normaliser stats of the best weights."""
    from moscale_cli.cli.train_cmd import check_run_out, common_train_config
    from moscale_cli.training.evaluator_stage import EvaluatorStageConfig, train_evaluator

    cfg = common_train_config(epochs, steps, {"epochs": 10}, batch_size=batch_size, lr=lr, device=device,
                              val_every=val_every, save_every=save_every, keep_last=keep_last, seed=seed, warmup=warmup,
                              schedule=schedule, grad_clip=grad_clip, num_workers=num_workers)
    check_run_out(out_dir, data)
    stage_cfg = EvaluatorStageConfig(val_split=val_split, text_cache=text_cache)
    res = train_evaluator([str(d) for d in data], str(out_dir), preset, cfg, stage_cfg, resume=resume,
                          text_encoder=text_encoder, text_max_tokens=text_max_tokens)
    if res.get("best") is not None:
        info(f"done: step {res['step']}, best val R@3 {res['best']:.3f} at step {res['best_step']}; evaluator in {out_dir}")
    else:
        info(f"done: step {res.get('step')}; evaluator in {out_dir}")
