"""Training commands: ``moscale train-tokenizer`` and ``moscale plot`` (one function per command).

Other stages add their commands here: write ``def _cmd_x(...)`` and register it in ``register``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from moscale_cli.cli.common import STATE, info, out
from moscale_cli.errors import ConfigError, UsageError
from moscale_cli.training.recipes import GENERATOR_REFERENCE, GENERATOR_STAGE_REFERENCE, TOKENIZER_REFERENCE

DATA_OPT = typer.Option(..., "--data", help="Dataset folder (HumanML3D layout); repeat to train on several.")
OUT_OPT = typer.Option(..., "--out", "-o", help="Run directory (checkpoints, logs, exported weights).")
# options shared by the train-* commands (the same objects, so the same flags, defaults and help)
STEPS_OPT = typer.Option(None, "--steps", help="Training steps (instead of --epochs).")
DEVICE_OPT = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N.")
RESUME_OPT = typer.Option(False, "--resume", help="Continue the run in --out exactly where it stopped.")
VAL_EVERY_OPT = typer.Option(0, "--val-every", help="Validate every N steps (0 = every epoch).")
SAVE_EVERY_OPT = typer.Option(0, "--save-every", help="Checkpoint every N steps (0 = every epoch).")
KEEP_LAST_OPT = typer.Option(2, "--keep-last", help="Checkpoints to keep.")
WORKERS_OPT = typer.Option(0, "--num-workers")
VAL_SPLIT_OPT = typer.Option("val", "--val-split", help="Split used for validation ('' = none).")
PRINT_CONFIG_OPT = typer.Option(False, "--print-config", help="Print the resolved training configuration (JSON) and exit.")
THREADS_OPT = typer.Option(0, "--threads", help="CPU threads: 0 follows the idle cores (re-checked every 10 s); N pins "
                                                  "N (thread counts change float sums: pin them for a bitwise resume).")


class RecipeOptions:
    """Typer options whose defaults are one reference recipe (``training/recipes.py``), so ``--help`` shows it."""

    def __init__(self, r: dict[str, Any], warmup_help: str) -> None:
        self.epochs = typer.Option(None, "--epochs", show_default=f"{r['epochs']}, the reference", help="Training epochs.")
        self.batch = typer.Option(r["batch_size"], "--batch-size", help="Global batch size (split over DDP processes).")
        self.lr = typer.Option(r["lr"], "--lr", help="Peak learning rate.")
        self.betas = typer.Option(",".join(f"{b:g}" for b in r["betas"]), "--betas", help="AdamW betas 'b1,b2'.")
        self.weight_decay = typer.Option(r["weight_decay"], "--weight-decay")
        self.warmup = typer.Option(r["warmup"], "--warmup", help=warmup_help)
        self.warmup_epochs = typer.Option(r.get("warmup_epochs", 0.0), "--warmup-epochs",
                                          help="Warm-up length in epochs (when --warmup is -1; 0 = off).")
        self.warmup_start = typer.Option(r.get("warmup_start", 0.0), "--warmup-start",
                                         help="The warm-up rises linearly from this fraction of the peak lr.")
        self.schedule = typer.Option(r["schedule"], "--schedule",
                                     help="step (x gamma at 30% and 70% of the run), cosine or constant.")
        self.horizon_epochs = typer.Option(r.get("horizon_epochs", 0.0), "--cosine-horizon-epochs",
                                           help="Epochs the cosine is planned over (0 = the run's length); the run may stop earlier.")
        self.min_lr_ratio = typer.Option(r.get("min_lr_ratio", 0.0), "--min-lr-ratio", help="Cosine floor as a fraction of the peak lr.")
        self.grad_clip = typer.Option(r["grad_clip"], "--grad-clip", help="Max gradient norm (0 = off).")
        self.seed = typer.Option(r["seed"], "--seed")


TOK = RecipeOptions(TOKENIZER_REFERENCE, "Warm-up steps (-1 = --warmup-epochs if set, else min(2000, total/10)).")
GEN = RecipeOptions(GENERATOR_REFERENCE, "Warm-up steps (-1 = --warmup-epochs).")


def parse_betas(text: str) -> tuple[float, float]:
    try:
        b = tuple(float(x) for x in text.split(","))
    except ValueError:
        b = ()
    if len(b) != 2 or not all(0.0 <= x < 1.0 for x in b):
        raise UsageError(f"--betas must be two numbers in [0, 1) like '0.9,0.98', got {text!r}")
    return b  # type: ignore[return-value]


def common_train_config(epochs: int | None, steps: int | None, recipe: dict[str, Any], **values: Any) -> Any:
    """Build a TrainConfig from the shared training options (every train-* command); ``recipe`` gives the
    default length in epochs when neither --epochs nor --steps is given."""
    from moscale_cli.training.loop import TrainConfig

    if epochs is not None and steps is not None:
        raise UsageError("give either --epochs or --steps, not both")
    if epochs is None and steps is None:
        epochs = int(recipe["epochs"])
    if isinstance(values.get("betas"), str):
        values["betas"] = parse_betas(values["betas"])
    try:
        return TrainConfig(steps=steps or 0, epochs=epochs or 0, **values)
    except ConfigError as e:
        raise UsageError(str(e)) from None


def check_run_out(out_dir: Path, data: list[Path]) -> None:
    """A run folder may not be, contain or lie inside a dataset folder it trains on (checkpoints and exports
    would be written into the data, and a data folder inside the run could be replaced with it)."""
    from moscale_cli.utils.paths import check_not_input

    check_not_input(out_dir, data, "--out", "choose a run folder outside the --data folders")


def print_config(obj: dict[str, Any]) -> None:
    import json

    out.print_json(json.dumps(obj))


def _rank() -> int:
    import os

    return int(os.environ.get("RANK", "0"))


def _cmd_train_tokenizer(
    data: list[Path] = DATA_OPT,
    out_dir: Path = OUT_OPT,
    preset: str = typer.Option("base", "--preset", help="Tokenizer size: tiny, small or base (the reference)."),
    epochs: int | None = TOK.epochs,
    steps: int | None = STEPS_OPT,
    batch_size: int = TOK.batch,
    lr: float = TOK.lr,
    betas: str = TOK.betas,
    weight_decay: float = TOK.weight_decay,
    warmup: int = TOK.warmup,
    warmup_epochs: float = TOK.warmup_epochs,
    warmup_start: float = TOK.warmup_start,
    schedule: str = TOK.schedule,
    horizon_epochs: float = TOK.horizon_epochs,
    min_lr_ratio: float = TOK.min_lr_ratio,
    grad_clip: float = TOK.grad_clip,
    seed: int = TOK.seed,
    device: str = DEVICE_OPT,
    resume: bool = RESUME_OPT,
    val_every: int = VAL_EVERY_OPT,
    save_every: int = SAVE_EVERY_OPT,
    keep_last: int = KEEP_LAST_OPT,
    num_workers: int = WORKERS_OPT,
    threads: int = THREADS_OPT,
    stats: str = typer.Option(
        "auto", "--stats",
        help="Normalisation statistics: auto, dataset, evaluator (Std with root/contact dims / 25, HumanML3D's "
             "rule) or official:DIR (an official evaluator folder's meta/mean.npy, std.npy). auto = official:DIR "
             "when --evaluator-meta is given, evaluator for external HumanML3D/KIT-layout data, dataset for "
             "corpora made by moscale.",
    ),
    evaluator_meta: Path | None = typer.Option(
        None, "--evaluator-meta", help="Official evaluator folder (e.g. checkpoints/t2m/Comp_v6_KLD005) whose meta/ stats to use."
    ),
    val_split: str = VAL_SPLIT_OPT,
    init_from: Path | None = typer.Option(
        None, "--init-from",
        help="Start from an exported tokenizer run (its weights, configuration and statistics: a fine-tune; "
             "--preset and --stats are then not used).",
    ),
    lambda_root: float = typer.Option(0.0, "--lambda-root", help="Weight of a loss on the root dims (0 = the reference)."),
    lambda_traj: float = typer.Option(
        0.0, "--lambda-traj",
        help="Weight of a loss on the integrated trajectory: facing angle (rad) and root position (m), so turns "
             "and circles keep their angle (0 = the reference).",
    ),
    select: str = typer.Option("mpjpe", "--select", help="Best weights by mpjpe (root-aligned) or global_mpjpe."),
    print_cfg: bool = PRINT_CONFIG_OPT,
) -> None:
    """Train the multi-scale VQ tokenizer; exports tokenizer.safetensors + config + Mean/Std of the best weights.

    The defaults are the reference recipe (method spec §2.3)."""
    from moscale_cli.training.tokenizer_stage import TokenizerStageConfig, resolve_stats, train_tokenizer

    cfg = common_train_config(epochs, steps, TOKENIZER_REFERENCE, batch_size=batch_size, lr=lr, betas=betas,
                              weight_decay=weight_decay, warmup=warmup, warmup_epochs=warmup_epochs,
                              warmup_start=warmup_start, schedule=schedule, horizon_epochs=horizon_epochs,
                              min_lr_ratio=min_lr_ratio, grad_clip=grad_clip, seed=seed, device=device,
                              val_every=val_every, save_every=save_every, keep_last=keep_last, num_workers=num_workers,
                              threads=threads)
    if not print_cfg:  # --print-config writes nothing
        check_run_out(out_dir, data)
    stats_spec = resolve_stats(stats, [str(d) for d in data], str(evaluator_meta) if evaluator_meta else None)
    try:
        stage_cfg = TokenizerStageConfig(stats=stats_spec, val_split=val_split, lambda_root=lambda_root,
                                         lambda_traj=lambda_traj, select=select,
                                         init_from=str(init_from.resolve()) if init_from else "")
    except ConfigError as e:
        raise UsageError(str(e)) from None
    if print_cfg:
        print_config({"preset": preset, "train": cfg.to_dict(), "stage": stage_cfg.to_dict()})
        return
    res = train_tokenizer([str(d) for d in data], str(out_dir), preset, cfg, stage_cfg, resume=resume)
    if _rank() != 0:
        return
    if res.get("best") is not None:
        which = "global MPJPE" if select == "global_mpjpe" else "MPJPE"
        info(f"done: step {res['step']}, best val {which} {res['best']:.2f} mm at step {res['best_step']}; tokenizer in {out_dir}")
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
    preset: str = typer.Option("base", "--preset", help="Generator size: tiny, mini, small, base (the reference) or large."),
    arch: str = typer.Option("next-scale", "--arch", help="next-scale (MoScale) or next-token (the autoregressive baseline)."),
    perturb_max: float = typer.Option(GENERATOR_STAGE_REFERENCE["perturb_max"], "--perturb-max",
                                      help="Cross-scale perturbation: gamma ~ U(0, max); 0 = off."),
    cond_drop: float = typer.Option(GENERATOR_STAGE_REFERENCE["cond_drop"], "--cond-drop",
                                    help="Probability of the null text per sample (for CFG)."),
    epochs: int | None = GEN.epochs,
    steps: int | None = STEPS_OPT,
    batch_size: int = GEN.batch,
    lr: float = GEN.lr,
    betas: str = GEN.betas,
    weight_decay: float = GEN.weight_decay,
    warmup: int = GEN.warmup,
    warmup_epochs: float = GEN.warmup_epochs,
    warmup_start: float = GEN.warmup_start,
    schedule: str = GEN.schedule,
    horizon_epochs: float = GEN.horizon_epochs,
    min_lr_ratio: float = GEN.min_lr_ratio,
    grad_clip: float = GEN.grad_clip,
    seed: int = GEN.seed,
    device: str = DEVICE_OPT,
    resume: bool = RESUME_OPT,
    text_encoder: str | None = typer.Option(None, "--text-encoder", help="sentence-transformers name or path (default: all-MiniLM-L6-v2, offline)."),
    text_tokens: int = typer.Option(64, "--text-tokens", help="Text window in encoder tokens (special tokens included; longer captions are cut)."),
    text_cache: Path | None = typer.Option(None, "--text-cache", help="Caption-embedding cache folder (default: the shared MOSCALE_CACHE/captions, one file per encoder and dataset)."),
    with_length: bool = typer.Option(True, "--with-length/--no-length", help="Also train the length estimator (cheap)."),
    length_steps: int | None = typer.Option(None, "--length-steps", show_default="the run's share of 30 epochs",
                                            help="Steps of the length estimator (default: its 30 epochs times the share of the recipe's 120 epochs this run trains)."),
    length_epochs: int | None = typer.Option(None, "--length-epochs", help="Epochs of the length estimator (instead of --length-steps)."),
    val_every: int = VAL_EVERY_OPT,
    save_every: int = SAVE_EVERY_OPT,
    keep_last: int = KEEP_LAST_OPT,
    num_workers: int = WORKERS_OPT,
    threads: int = THREADS_OPT,
    compile_: bool = typer.Option(False, "--compile", help="torch.compile the generator for training (CUDA)."),
    val_split: str = VAL_SPLIT_OPT,
    license_: str = typer.Option("", "--license", help="Licence written into the model card (default: inherited from the data's meta.json licences, else Apache-2.0)."),
    fp16: bool = typer.Option(False, "--fp16-export", help="Store the exported model weights in float16."),
    print_cfg: bool = PRINT_CONFIG_OPT,
) -> None:
    """Train the MoScale generator (+ length estimator); exports a model directory OUT/model for `generate --model`.

    The defaults are the reference recipe (method spec §8); the normalisation statistics are the tokenizer run's."""
    from moscale_cli.training.train_model import default_length_train_config, train_model

    if length_steps is not None and length_epochs is not None:
        raise UsageError("give either --length-steps or --length-epochs, not both")
    if (length_steps is not None and length_steps < 1) or (length_epochs is not None and length_epochs < 1):
        raise UsageError("--length-steps and --length-epochs must be at least 1")
    if not print_cfg:  # --print-config writes nothing
        check_run_out(out_dir, data)
    cfg = common_train_config(epochs, steps, GENERATOR_REFERENCE, batch_size=batch_size, lr=lr, betas=betas,
                              weight_decay=weight_decay, warmup=warmup, warmup_epochs=warmup_epochs,
                              warmup_start=warmup_start, schedule=schedule, horizon_epochs=horizon_epochs,
                              min_lr_ratio=min_lr_ratio, grad_clip=grad_clip, seed=seed, device=device,
                              val_every=val_every, save_every=save_every, keep_last=keep_last, num_workers=num_workers,
                              compile=compile_, threads=threads)
    if print_cfg:
        print_config({"preset": preset, "arch": arch, "perturb_max": perturb_max, "cond_drop": cond_drop,
                      "train": cfg.to_dict()})
        return
    lcfg = None
    if length_steps is not None or length_epochs is not None:
        lcfg = default_length_train_config(device, seed, epochs=length_epochs or 0, steps=length_steps or 0)
        lcfg = lcfg.replace(threads=threads)
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
    text_tokens: int = typer.Option(64, "--text-tokens", help="Text window in encoder tokens (a train run keeps its own)."),
    text_cache: Path | None = typer.Option(None, "--text-cache", help="Caption-embedding cache folder (default: the shared MOSCALE_CACHE/captions)."),
    seed: int = typer.Option(10306, "--seed"),
    val_split: str = VAL_SPLIT_OPT,
) -> None:
    """Train the length estimator (text -> motion length) used when no length is given."""
    from moscale_cli.training.train_model import default_length_train_config, train_length

    check_run_out(out_dir, data)
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
