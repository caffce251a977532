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
# options shared by the train-* commands (the same objects, so the same flags, defaults and help)
EPOCHS_OPT = typer.Option(None, "--epochs", help="Training epochs (default 10).")
STEPS_OPT = typer.Option(None, "--steps", help="Training steps (instead of --epochs).")
BATCH_OPT = typer.Option(64, "--batch-size", help="Global batch size (split over DDP processes).")
DEVICE_OPT = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N.")
RESUME_OPT = typer.Option(False, "--resume", help="Continue the run in --out exactly where it stopped.")
VAL_EVERY_OPT = typer.Option(0, "--val-every", help="Validate every N steps (0 = every epoch).")
SAVE_EVERY_OPT = typer.Option(0, "--save-every", help="Checkpoint every N steps (0 = every epoch).")
KEEP_LAST_OPT = typer.Option(2, "--keep-last", help="Checkpoints to keep.")
SEED_OPT = typer.Option(10306, "--seed")
WARMUP_OPT = typer.Option(-1, "--warmup", help="Warm-up steps (-1 = min(2000, total/10)).")
GRAD_CLIP_OPT = typer.Option(0.5, "--grad-clip")
WORKERS_OPT = typer.Option(0, "--num-workers")
VAL_SPLIT_OPT = typer.Option("val", "--val-split", help="Split used for validation ('' = none).")


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


def _rank() -> int:
    import os

    return int(os.environ.get("RANK", "0"))


def _cmd_train_tokenizer(
    data: list[Path] = DATA_OPT,
    out_dir: Path = OUT_OPT,
    preset: str = typer.Option("small", "--preset", help="Tokenizer size: tiny, small or base (the reference)."),
    epochs: int | None = EPOCHS_OPT,
    steps: int | None = STEPS_OPT,
    batch_size: int = BATCH_OPT,
    lr: float = typer.Option(3e-4, "--lr"),
    device: str = DEVICE_OPT,
    resume: bool = RESUME_OPT,
    val_every: int = VAL_EVERY_OPT,
    save_every: int = SAVE_EVERY_OPT,
    keep_last: int = KEEP_LAST_OPT,
    seed: int = SEED_OPT,
    warmup: int = WARMUP_OPT,
    schedule: str = typer.Option("step", "--schedule", help="step (x0.3 at 30% and 70%) or cosine."),
    grad_clip: float = GRAD_CLIP_OPT,
    num_workers: int = WORKERS_OPT,
    stats: str = typer.Option("dataset", "--stats", help="Normalisation statistics: dataset or evaluator."),
    val_split: str = VAL_SPLIT_OPT,
) -> None:
    """Train the multi-scale VQ tokenizer; exports tokenizer.safetensors + config + Mean/Std of the best weights."""
    from moscale_cli.training.tokenizer_stage import TokenizerStageConfig, train_tokenizer

    cfg = common_train_config(epochs, steps, batch_size, lr, device, val_every, save_every, keep_last, seed, warmup,
                              schedule, grad_clip, num_workers)
    stage_cfg = TokenizerStageConfig(stats=stats, val_split=val_split)
    res = train_tokenizer([str(d) for d in data], str(out_dir), preset, cfg, stage_cfg, resume=resume)
    if _rank() != 0:
        return
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


def _cmd_train(
    data: list[Path] = DATA_OPT,
    tokenizer: Path = typer.Option(..., "--tokenizer", help="Run directory of train-tokenizer (its exported tokenizer)."),
    out_dir: Path = OUT_OPT,
    preset: str = typer.Option("small", "--preset", help="Generator size: tiny, small, base (the reference) or large."),
    arch: str = typer.Option("next-scale", "--arch", help="next-scale (MoScale) or next-token (the autoregressive baseline)."),
    perturb_max: float = typer.Option(0.6, "--perturb-max", help="Cross-scale perturbation: gamma ~ U(0, max); 0 = off."),
    cond_drop: float = typer.Option(0.1, "--cond-drop", help="Probability of the null text per sample (for CFG)."),
    epochs: int | None = EPOCHS_OPT,
    steps: int | None = STEPS_OPT,
    batch_size: int = BATCH_OPT,
    lr: float = typer.Option(2e-4, "--lr"),
    device: str = DEVICE_OPT,
    resume: bool = RESUME_OPT,
    text_encoder: str | None = typer.Option(None, "--text-encoder", help="sentence-transformers name or path (default: all-MiniLM-L6-v2, offline)."),
    text_tokens: int = typer.Option(32, "--text-tokens", help="Text window in encoder tokens."),
    text_cache: Path | None = typer.Option(None, "--text-cache", help="Caption-embedding cache folder (default OUT/text_cache)."),
    with_length: bool = typer.Option(True, "--with-length/--no-length", help="Also train the length estimator (cheap)."),
    length_epochs: int = typer.Option(30, "--length-epochs", help="Epochs of the length estimator."),
    val_every: int = VAL_EVERY_OPT,
    save_every: int = SAVE_EVERY_OPT,
    keep_last: int = KEEP_LAST_OPT,
    seed: int = SEED_OPT,
    warmup: int = WARMUP_OPT,
    schedule: str = typer.Option("step", "--schedule", help="step or cosine."),
    grad_clip: float = GRAD_CLIP_OPT,
    weight_decay: float = typer.Option(0.05, "--weight-decay"),
    num_workers: int = WORKERS_OPT,
    compile_: bool = typer.Option(False, "--compile", help="torch.compile the generator for training (CUDA)."),
    val_split: str = VAL_SPLIT_OPT,
    license_: str = typer.Option("", "--license", help="Licence written into the model card (default: inherited from the data's meta.json licences, else Apache-2.0)."),
    fp16: bool = typer.Option(False, "--fp16-export", help="Store the exported model weights in float16."),
) -> None:
    """Train the MoScale generator (+ length estimator); exports a model directory OUT/model for `generate --model`."""
    from moscale_cli.training.train_model import default_length_train_config, train_model

    cfg = common_train_config(epochs, steps, batch_size, lr, device, val_every, save_every, keep_last, seed, warmup,
                              schedule, grad_clip, num_workers, weight_decay=weight_decay, compile=compile_)
    lcfg = default_length_train_config(device, seed, epochs=length_epochs)
    res = train_model([str(d) for d in data], str(tokenizer), str(out_dir), cfg, preset=preset, perturb_max=perturb_max,
                      cond_drop=cond_drop, text_encoder=text_encoder, text_max_tokens=text_tokens, with_length=with_length,
                      length_train_cfg=lcfg, resume=resume, text_cache=str(text_cache) if text_cache else None,
                      val_split=val_split, license=license_, fp16_export=fp16, arch=arch)
    best = f", best val loss {res['best']:.4f} at step {res['best_step']}" if res.get("best") is not None else ""
    info(f"done: step {res.get('step')}{best}")
    if res.get("length"):
        info(f"length estimator: val accuracy {res['length']['acc']:.3f}, MAE {res['length']['mae_frames']:.1f} frames")
    if not STATE.quiet:
        out.print(res["model_dir"])


def _cmd_train_length(
    data: list[Path] = DATA_OPT,
    out_dir: Path = typer.Option(..., "--out", "-o", help="Run directory; a `train` run (with model/) gets its length estimator replaced."),
    epochs: int = typer.Option(30, "--epochs"),
    batch_size: int = typer.Option(128, "--batch-size"),
    lr: float = typer.Option(1e-3, "--lr"),
    device: str = DEVICE_OPT,
    resume: bool = typer.Option(False, "--resume"),
    text_encoder: str | None = typer.Option(None, "--text-encoder", help="sentence-transformers name or path (ignored for a train run)."),
    text_tokens: int = typer.Option(32, "--text-tokens"),
    text_cache: Path | None = typer.Option(None, "--text-cache", help="Caption-embedding cache folder (default OUT/text_cache)."),
    seed: int = SEED_OPT,
    val_split: str = VAL_SPLIT_OPT,
) -> None:
    """Train the length estimator (text -> motion length) used when no length is given."""
    from moscale_cli.training.train_model import default_length_train_config, train_length

    cfg = default_length_train_config(device, seed, epochs=epochs, batch_size=batch_size, lr=lr)
    res = train_length([str(d) for d in data], str(out_dir), cfg, text_encoder=text_encoder, text_max_tokens=text_tokens,
                       resume=resume, text_cache=str(text_cache) if text_cache else None, val_split=val_split)
    if res.get("val"):
        v = res["val"]
        info(f"done: val accuracy {v['acc']:.3f}, MAE {v['mae_frames']:.1f} frames (mean-length MAE {v['mae_mean_frames']:.1f})")
    if res.get("model_dir") and not STATE.quiet:
        out.print(res["model_dir"])


def register(app: typer.Typer) -> None:
    app.command("train-tokenizer")(_cmd_train_tokenizer)
    app.command("train")(_cmd_train)
    app.command("train-length")(_cmd_train_length)
    app.command("plot")(_cmd_plot)
    from moscale_cli.cli.train_evaluator_cmd import _cmd_train_evaluator

    app.command("train-evaluator")(_cmd_train_evaluator)
