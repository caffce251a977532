"""`moscale train` / `moscale train-length` as library functions: generator + length estimator training on
cached text features, and the export of a complete model directory (``RUN/model``).

Run directory of ``train``::

    RUN/config.json, log.jsonl, checkpoint-*/, best/    generator Trainer run
    RUN/generator.safetensors, generator_config.json   exported generator (best, or final without validation)
    RUN/length/                                        length-estimator Trainer run (+ length.safetensors)
    RUN/model/                                         the model directory (design.md §4), rewritten at each export

Caption embeddings go to the shared caption cache (``<moscale cache>/captions``, one file per encoder and
dataset, so the next run on the same data encodes nothing), or to ``--text-cache``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from moscale_cli.data.merge import dataset_licenses
from moscale_cli.errors import CheckpointError, UsageError

if TYPE_CHECKING:
    from moscale_cli.data.dataset import MotionDataset
    from moscale_cli.models.length import LengthConfig, LengthEstimator
    from moscale_cli.models.tokenizer import MSTokenizer
    from moscale_cli.motion.normalize import Normalizer
    from moscale_cli.text.cache import CachedTextEncoder
    from moscale_cli.training.loop import TrainConfig

LENGTH_DIR = "length"
MODEL_DIR = "model"


# ----------------------------------------------------------------------------- text
def make_text_fn(name: str | None, max_tokens: int, device: str | torch.device,
                 cache_dir: str | os.PathLike | None) -> CachedTextEncoder:
    """A cached ``callable(captions) -> TextFeatures`` over a frozen :class:`TextEncoder`."""
    from moscale_cli.text.cache import cached_text_fn
    from moscale_cli.text.encoder import TextEncoder

    enc = TextEncoder(name, device=device, max_tokens=max_tokens)
    return cached_text_fn(enc, cache_dir)


def caption_cache_dir(text_cache: str | os.PathLike | None, run: Path) -> Path:
    """Where a run's caption embeddings live: ``--text-cache``, else the shared ``<moscale cache>/captions``
    (one file per encoder and dataset, reused by every run), else (``MOSCALE_CACHE=off``) ``run/text_cache``."""
    from moscale_cli.text.cache import default_caption_cache_dir

    if text_cache:
        return Path(text_cache)
    return default_caption_cache_dir() or run / "text_cache"


def precompute_captions(text_fn: CachedTextEncoder, datasets: list[MotionDataset | None],
                        label: str = "encoding captions") -> int:
    """Make the embeddings of every caption of the datasets available (read from the caption cache, or encoded
    once with a progress bar and saved); later epochs and runs read them. Returns how many were encoded."""
    caps = [c.caption for ds in datasets if ds is not None for e in ds.entries for c in e.captions]
    n_new = text_fn.precompute(caps, label=label)
    from moscale_cli.utils.console import info

    where = f"cache {text_fn.dir}" if text_fn.dir is not None else "memory only (the encoder is not a local folder)"
    info(f"text features: {len(text_fn)} captions, {n_new} encoded now ({where})")
    warn_cut_captions(text_fn.encoder, caps)
    return n_new


def warn_cut_captions(encoder: Any, captions: list[str]) -> str | None:
    """Warn (and return the warning) when captions are longer than the encoder's window: a cut caption loses
    its end (in a sequence, its last actions), and training would not say so otherwise."""
    uniq = sorted(set(captions))
    if not uniq:
        return None
    window = int(encoder.max_tokens)
    counts = encoder.count_tokens(uniq)
    cut = [n for n in counts if n > window]
    if not cut:
        return None
    from moscale_cli.utils.console import warn

    msg = (f"{len(cut)} of {len(uniq)} captions ({len(cut) / len(uniq):.1%}) are longer than the text window of "
           f"{window} tokens (the longest has {max(cut)}) and lose their end; raise --text-tokens to keep them whole")
    warn(msg)
    return msg


def build_datasets(data: list[str], normalizer: Normalizer | None, max_frames: int, unit: int, seed: int,
                   val_split: str) -> tuple[MotionDataset, MotionDataset | None]:
    from moscale_cli.data.dataset import MotionDataset

    train = MotionDataset(data, split="train", normalizer=normalizer, mode="train", max_len=max_frames, unit=unit, seed=seed)
    val = None
    if val_split:
        try:
            val = MotionDataset(data, split=val_split, normalizer=train.normalizer, mode="eval", max_len=max_frames,
                                unit=unit, seed=seed, warn=False)
        except Exception as e:  # a missing/empty validation split is not fatal
            from moscale_cli.utils.console import warn

            warn(f"no validation ({e})")
    return train, val


# ----------------------------------------------------------------------------- length
LENGTH_EPOCHS = 30  # the length estimator's full budget (what a full-length generator run trains it for)
LENGTH_WARMUP = 100  # its warm-up steps (at most a tenth of its run)


def default_length_train_config(device: str, seed: int, epochs: int = LENGTH_EPOCHS, batch_size: int = 128,
                                lr: float = 1e-3, steps: int = 0) -> TrainConfig:
    """The length estimator's training config: ``epochs`` (or ``steps`` when positive) with AdamW and a cosine."""
    from moscale_cli.training.loop import TrainConfig

    return TrainConfig(steps=steps, epochs=epochs, batch_size=batch_size, lr=lr, warmup=LENGTH_WARMUP, schedule="cosine",
                       weight_decay=0.01, grad_clip=1.0, device=device, seed=seed, log_every=10)


def run_fraction(train_cfg: TrainConfig, per_epoch: int, full_epochs: float) -> float:
    """The share of a full run (``full_epochs`` epochs of ``per_epoch`` steps) that ``train_cfg`` trains, at most 1."""
    total = train_cfg.steps if train_cfg.steps > 0 else train_cfg.epochs * per_epoch
    return min(1.0, total / max(1.0, full_epochs * per_epoch))


def length_run_config(base: TrainConfig, n_pairs: int, fraction: float = 1.0) -> TrainConfig:
    """``base`` for a training set of ``n_pairs`` (caption, length) pairs, shortened to ``fraction`` of its steps
    (``--length-steps`` defaults to the generator run's share of a full run), with a batch no larger than the set
    and a warm-up of at most a tenth of the run. A full run on a large set keeps ``base`` as it is."""
    cfg = base
    if n_pairs < cfg.batch_size:
        cfg = replace(cfg, batch_size=max(1, n_pairs))
    per_epoch = max(1, n_pairs // cfg.batch_size)
    total = cfg.steps if cfg.steps > 0 else cfg.epochs * per_epoch
    if fraction < 1.0:
        total = max(1, round(total * fraction))
        cfg = replace(cfg, steps=total)
    if cfg.warmup > total // 10:
        cfg = replace(cfg, warmup=total // 10)
    return cfg


def resumed_train_config(run_dir: Path, cfg: TrainConfig) -> TrainConfig:
    """The training config a resumed run was started with (its ``config.json``), with this call's runtime keys
    (device, workers, ...): a resume continues the run it finds, whatever budget this call would choose now."""
    from moscale_cli.checkpoint import load_json
    from moscale_cli.training.loop import RUNTIME_KEYS, TrainConfig

    path = run_dir / "config.json"
    if not path.is_file():
        return cfg
    old = dict(load_json(path).get("train") or {})
    old.update({k: v for k, v in cfg.to_dict().items() if k in RUNTIME_KEYS})
    return TrainConfig.from_dict(old)


def train_length_run(run_dir: str | os.PathLike, train_set: MotionDataset, val_set: MotionDataset | None,
                     text_fn: CachedTextEncoder, train_cfg: TrainConfig, resume: bool = False,
                     length_cfg: LengthConfig | None = None, extra_config: dict[str, Any] | None = None,
                     fraction: float = 1.0) -> dict[str, Any]:
    """Train a length estimator with the shared Trainer into ``run_dir`` (exports ``length.safetensors``) for
    ``fraction`` of ``train_cfg``'s budget (see :func:`length_run_config`; a resume keeps the run's own)."""
    from moscale_cli.models.length import LengthConfig
    from moscale_cli.training.length_stage import LengthPairs, LengthStage
    from moscale_cli.training.loop import Trainer

    cfg = length_cfg or LengthConfig(text_dim=int(text_fn.dim), unit=train_set.unit, max_frames=train_set.max_len)
    pairs = LengthPairs(train_set)
    train_cfg = length_run_config(train_cfg, len(pairs), fraction)
    if resume:
        train_cfg = resumed_train_config(Path(run_dir), train_cfg)
    from moscale_cli.utils.seed import seed_everything

    seed_everything(train_cfg.seed)  # the initial weights are a function of the seed, not of what ran before
    stage = LengthStage(cfg, pairs, text_fn, LengthPairs(val_set) if val_set is not None else None,
                        extra_config={"text_encoder": text_fn.encoder.model_id, **(extra_config or {})})
    res = Trainer(stage, train_cfg, run_dir, resume=resume).fit()
    if stage.val_set is not None:
        from moscale_cli.training.length_stage import load_length_run

        res["val"] = stage.evaluate(load_length_run(run_dir).to(next(stage.model.parameters()).device), stage.val_set)
    return res


# ----------------------------------------------------------------------------- export
def _tokenizer_metrics(tokenizer_run: Path) -> dict[str, Any]:
    from moscale_cli.checkpoint import load_json

    p = tokenizer_run / "best" / "trainer_state.json"
    if not p.is_file():
        return {}
    try:
        st = load_json(p)
    except CheckpointError:
        return {}
    if st.get("best") is None:
        return {}
    return {f"tokenizer_{st.get('metric') or 'best'}": st["best"], "tokenizer_best_step": st.get("step")}


def export_model_dir(run_dir: str | os.PathLike, tokenizer: MSTokenizer, normalizer: Normalizer, generator: nn.Module,
                     text_name: str, text_max_tokens: int, text_dim: int, length: LengthEstimator | None = None,
                     training: dict[str, Any] | None = None,
                     metrics: dict[str, Any] | None = None, license: str = "Apache-2.0", fp16: bool = False,
                     name: str | None = None, stats_source: str | None = None) -> Path:
    from moscale_cli.model_dir import save_model_dir

    return save_model_dir(Path(run_dir) / MODEL_DIR, tokenizer, generator, normalizer, text_name, length=length,
                          fp16=fp16, text_max_tokens=text_max_tokens, text_dim=text_dim, training=training,
                          metrics=metrics, license=license, name=name or Path(run_dir).name,
                          stats_source=stats_source)


def _read_log_best(run_dir: Path) -> dict[str, Any]:
    import json

    best: dict[str, Any] = {}
    log = run_dir / "log.jsonl"
    if not log.is_file():
        return best
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "best" in rec and rec.get("best") is not None:
            best = rec
    return best


# ----------------------------------------------------------------------------- train (generator)
def model_license(explicit: str, data_licenses: dict[str, str]) -> str:
    """The licence of trained weights: the explicit one, else inherited from the data (non-commercial if any
    training data is non-commercial), else Apache-2.0 like the code."""
    if explicit:
        return explicit
    nc = sorted({v for v in data_licenses.values() if "BY-NC" in v.upper() or "NON-COMMERCIAL" in v.upper()})
    if nc:
        return "CC-BY-NC-4.0 (inherited from the training data: " + "; ".join(nc) + "); non-commercial use only"
    return "Apache-2.0"


def train_model(
    data: list[str],
    tokenizer_run: str,
    out: str,
    train_cfg: TrainConfig,
    preset: str = "small",
    perturb_max: float = 0.6,
    cond_drop: float = 0.1,
    text_encoder: str | None = None,
    text_max_tokens: int = 64,
    with_length: bool = True,
    length_train_cfg: TrainConfig | None = None,
    resume: bool = False,
    text_cache: str | None = None,
    val_split: str = "val",
    license: str = "",
    fp16_export: bool = False,
    **gen_overrides: Any,
) -> dict[str, Any]:
    """Train the generator (and the length estimator) on ``data`` with the tokenizer of ``tokenizer_run``;
    exports ``out/model`` (a model directory usable by ``moscale generate --model out/model``).

    ``length_train_cfg``: the length estimator's budget as given (``--length-steps``/``--length-epochs``); None
    gives it the generator run's share of a full run (:func:`run_fraction`) of its default 30 epochs."""
    from moscale_cli.model_dir import load_tokenizer_run
    from moscale_cli.models.generator import GeneratorConfig
    from moscale_cli.training.generator_stage import GeneratorStage, GeneratorStageConfig
    from moscale_cli.training.length_stage import load_length_run
    from moscale_cli.training.loop import Trainer
    from moscale_cli.utils.device import resolve_device
    from moscale_cli.utils.seed import seed_everything

    run = Path(out)
    tok_run = Path(tokenizer_run)
    device = resolve_device(train_cfg.device)
    tokenizer, normalizer = load_tokenizer_run(tok_run, device="cpu")
    run.mkdir(parents=True, exist_ok=True)
    text_fn = make_text_fn(text_encoder, text_max_tokens, device, caption_cache_dir(text_cache, run))
    enc = text_fn.encoder
    train_set, val_set = build_datasets(data, normalizer, tokenizer.max_frames, tokenizer.unit, train_cfg.seed, val_split)
    if train_set.feature_dim != tokenizer.cfg.feature_dim:
        raise UsageError(f"the data has {train_set.feature_dim}-dim features, the tokenizer {tokenizer.cfg.feature_dim}")
    precompute_captions(text_fn, [train_set, val_set])

    training = {
        "data": [str(Path(d).name) for d in data],
        "train_items": len(train_set),
        "val_items": len(val_set) if val_set is not None else 0,
        "tokenizer_run": str(tok_run),
        "preset": preset,
        "perturb_max": perturb_max,
        "cond_drop": cond_drop,
        "steps": train_cfg.steps or None,
        "epochs": None if train_cfg.steps else train_cfg.epochs,
        "batch_size": train_cfg.batch_size,
        "lr": train_cfg.lr,
    }
    data_lic = dataset_licenses(data)
    if data_lic:
        training["data_licenses"] = data_lic
    license = model_license(license, data_lic)
    length = None
    length_res: dict[str, Any] = {}
    if with_length:
        from moscale_cli.training.recipes import GENERATOR_REFERENCE

        lcfg = length_train_cfg or default_length_train_config(str(train_cfg.device), train_cfg.seed).replace(
            threads=train_cfg.threads)
        fraction = 1.0
        if length_train_cfg is None:
            fraction = run_fraction(train_cfg, max(1, len(train_set) // train_cfg.batch_size), GENERATOR_REFERENCE["epochs"])
        lrun = run / LENGTH_DIR
        length_res = train_length_run(lrun, train_set, val_set, text_fn, lcfg, fraction=fraction,
                                      resume=resume and (lrun / "config.json").exists())
        length = load_length_run(lrun)
    elif (run / LENGTH_DIR / "length_config.json").is_file():
        length = load_length_run(run / LENGTH_DIR)

    seed_everything(train_cfg.seed)
    gcfg = GeneratorConfig.preset(preset, tokenizer=tokenizer, text_dim=enc.dim, text_len=text_max_tokens,
                                  cond_drop=cond_drop, **gen_overrides)
    metrics: dict[str, Any] = {**_tokenizer_metrics(tok_run)}
    if length_res.get("val"):
        metrics.update({f"length_val_{k}": round(float(v), 4) for k, v in length_res["val"].items()})

    def do_export(model: nn.Module) -> None:
        best = _read_log_best(run)
        m = dict(metrics)
        if best:
            m.update({k: v for k, v in best.items() if k.startswith("val_")})
            m["generator_best_step"] = best.get("step")
        export_model_dir(run, tokenizer, normalizer, model, enc.name, text_max_tokens, enc.dim, length,
                         training=training, metrics=m, license=license, fp16=fp16_export,
                         stats_source=f"Mean.npy/Std.npy of the tokenizer run {tok_run}")

    class _Stage(GeneratorStage):
        def export(self, run_dir: str | os.PathLike, model: nn.Module) -> None:
            super().export(run_dir, model)
            do_export(model)

    stage = _Stage(data, tokenizer, gcfg, text_fn, GeneratorStageConfig(perturb_max=perturb_max, val_split=val_split),
                   normalizer=normalizer, seed=train_cfg.seed, train_dataset=train_set, val_dataset=val_set,
                   collate=_collate())
    res = Trainer(stage, train_cfg, run, resume=resume).fit()
    if not (run / MODEL_DIR / "config.json").is_file():  # e.g. resumed a finished run
        from moscale_cli.training.generator_stage import load_generator_run

        do_export(load_generator_run(run))
    res["model_dir"] = str(run / MODEL_DIR)
    res["length"] = length_res.get("val")
    return res


def _collate() -> Callable[[list[dict[str, Any]]], dict[str, Any]]:
    from moscale_cli.data.dataset import collate

    return collate


# ----------------------------------------------------------------------------- train-length (alone)
def _length_run_dir(run: Path, resume: bool) -> Path:
    """``run/length``, or ``run/length-N`` for a new estimator when earlier ones exist (the latest on resume)."""
    cands = [run / LENGTH_DIR] + [run / f"{LENGTH_DIR}-{i}" for i in range(1, 1000)]
    used = [c for c in cands if (c / "config.json").exists()]
    if resume:
        return used[-1] if used else cands[0]
    return next(c for c in cands if not (c / "config.json").exists())


def train_length(data: list[str], out: str, train_cfg: TrainConfig, text_encoder: str | None = None, text_max_tokens: int = 64,
                 resume: bool = False, text_cache: str | None = None, val_split: str = "val",
                 max_frames: int = 196, unit: int = 4) -> dict[str, Any]:
    """Train a length estimator alone. If ``out`` is a ``train`` run (it holds ``model/``), the estimator is
    trained in ``out/length`` with the model's text encoder and the model directory is re-exported with it."""
    from moscale_cli.data.dataset import MotionDataset
    from moscale_cli.model_dir import load_model_dir, save_model_dir
    from moscale_cli.training.length_stage import load_length_run
    from moscale_cli.utils.device import resolve_device

    out_p = Path(out)
    model_dir = out_p / MODEL_DIR
    is_train_run = (model_dir / "config.json").is_file()
    loaded = None
    if is_train_run:
        loaded = load_model_dir(model_dir, with_length=False)
        text_encoder, text_max_tokens = loaded.text_encoder, loaded.text_max_tokens
        max_frames, unit = loaded.max_frames, loaded.unit
        run_dir = _length_run_dir(out_p, resume)
    else:
        run_dir = out_p
    device = resolve_device(train_cfg.device)
    text_fn = make_text_fn(text_encoder, text_max_tokens, device, caption_cache_dir(text_cache, out_p))
    train_set = MotionDataset(data, split="train", stats="none", max_len=max_frames, unit=unit, seed=train_cfg.seed,
                              preload=False)
    val_set = None
    if val_split:
        try:
            val_set = MotionDataset(data, split=val_split, stats="none", mode="eval", max_len=max_frames, unit=unit,
                                    warn=False, preload=False)
        except Exception:
            val_set = None
    precompute_captions(text_fn, [train_set, val_set])
    res = train_length_run(run_dir, train_set, val_set, text_fn, train_cfg, resume=resume)
    if loaded is not None:
        cfg = loaded.config
        metrics = dict(cfg.get("metrics") or {})
        if res.get("val"):
            metrics.update({f"length_val_{k}": round(float(v), 4) for k, v in res["val"].items()})
        save_model_dir(model_dir, loaded.tokenizer, loaded.generator, loaded.normalizer, loaded.text_encoder,
                       length=load_length_run(run_dir), fp16=cfg.get("weights_dtype") == "float16",
                       text_max_tokens=loaded.text_max_tokens, text_dim=cfg["text_encoder"].get("dim"),
                       training=cfg.get("training"), metrics=metrics, license=cfg.get("license", "Apache-2.0"),
                       name=cfg.get("name"), fps=loaded.fps, min_frames=loaded.min_frames,
                       stats_source=(cfg.get("stats") or {}).get("source"))
        res["model_dir"] = str(model_dir)
    return res


# ----------------------------------------------------------------------------- a chosen checkpoint
def export_checkpoint(run: str | os.PathLike, checkpoint: str | os.PathLike, out: str | os.PathLike,
                      metrics: dict[str, Any] | None = None, fp16: bool = False) -> Path:
    """A model directory at ``out`` from a ``train`` run's model directory with the generator weights of one of
    its checkpoints (``checkpoint-<step>`` folder or its path): to ship the checkpoint chosen by an evaluation
    (program accuracy, FID) rather than by validation loss. The training record gains ``checkpoint``."""
    from moscale_cli.checkpoint import load_module
    from moscale_cli.model_dir import load_model_dir, save_model_dir

    run_p = Path(run)
    ck = Path(checkpoint)
    if not ck.is_absolute() and not ck.exists():
        ck = run_p / ck
    weights = ck / "model.safetensors"
    if not weights.is_file():
        raise CheckpointError(f"{ck} is not a training checkpoint (model.safetensors missing)")
    lm = load_model_dir(run_p / MODEL_DIR)
    load_module(weights, lm.generator)
    cfg = lm.config
    training = {**(cfg.get("training") or {}), "checkpoint": ck.name}
    m = {k: v for k, v in (cfg.get("metrics") or {}).items() if not k.startswith("val_") and k != "generator_best_step"}
    return save_model_dir(out, lm.tokenizer, lm.generator, lm.normalizer, lm.text_encoder, length=lm.length, fp16=fp16,
                          text_max_tokens=lm.text_max_tokens, text_dim=cfg["text_encoder"].get("dim"),
                          training=training, metrics={**m, **(metrics or {})}, license=cfg.get("license", "Apache-2.0"),
                          name=cfg.get("name"), fps=lm.fps, min_frames=lm.min_frames,
                          stats_source=(cfg.get("stats") or {}).get("source"))
