"""Load an evaluator for ``moscale eval --evaluator``: the official T2M one or one of our runs.

``official:DIR`` accepts (first match wins):

- the ``checkpoints/t2m`` (or ``checkpoints/kit``) folder of the official download, holding
  ``text_mot_match/model/finest.tar`` and ``Comp_v6_KLD005/meta/{mean,std}.npy``;
- ``DIR`` = ``text_mot_match`` itself with a ``meta/`` folder beside ``model/`` (some mirrors),
  or with ``../Comp_v6_KLD005/meta``.

The GloVe files (``our_vab_data.npy``, ``our_vab_words.pkl``, ``our_vab_idx.pkl``) are looked up in
``--glove DIR`` when given, else in ``DIR/glove``, ``DIR/../glove``, ``DIR/../../glove`` (the
momask-codes layout ``checkpoints/t2m`` + ``glove/``).

``finest.tar`` is a torch pickle; it is read with ``torch.load(weights_only=True)``, which refuses
anything but tensors and plain containers, so a crafted file cannot run code. Every state dict is
checked key by key and shape by shape before loading.

Any other value is one of our evaluator runs (``moscale train-evaluator --out RUN``): the folder holds
``evaluator.safetensors``, ``evaluator_config.json`` and ``stats.safetensors``.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from moscale_cli.errors import CheckpointError

OFFICIAL_SUBMODULES = ("movement_encoder", "text_encoder", "motion_encoder")
OUR_WEIGHTS = "evaluator.safetensors"
OUR_CONFIG = "evaluator_config.json"
OUR_STATS = "stats.safetensors"


@dataclass
class EvaluatorBundle:
    """An evaluator ready for the protocol: the network, its input statistics and how it reads text."""

    kind: str  # "official" | "moscale"
    model: torch.nn.Module
    mean: np.ndarray
    std: np.ndarray
    source: str
    feature_dim: int
    word_vectorizer: Any = None  # official: glove.WordVectorizer
    text_encoder_name: str = ""  # ours: the TextEncoder its text side was trained on
    info: dict = field(default_factory=dict)

    @property
    def normalizer(self):
        from moscale_cli.motion.normalize import Normalizer

        return Normalizer(self.mean, self.std)


def _load_tar(path: Path) -> dict:
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: refused to load (it holds objects other than tensors: {first})") from None
    except Exception as e:
        raise CheckpointError(f"{path}: cannot read the checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict of state dicts, got {type(obj).__name__}")
    return obj


def check_state_dict(module: torch.nn.Module, sd: Any, where: str) -> None:
    """Raise CheckpointError naming the first missing/unexpected key or mismatched shape."""
    if not isinstance(sd, dict):
        raise CheckpointError(f"{where}: expected a state dict, got {type(sd).__name__}")
    own = module.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    if missing:
        raise CheckpointError(f"{where}: missing key {missing[0]}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    if unexpected:
        raise CheckpointError(
            f"{where}: unexpected key {unexpected[0]}" + (f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else "")
        )
    for k, v in sd.items():
        if not isinstance(v, torch.Tensor):
            raise CheckpointError(f"{where}: {k} is not a tensor")
        if tuple(v.shape) != tuple(own[k].shape):
            raise CheckpointError(f"{where}: {k} has shape {tuple(v.shape)}, expected {tuple(own[k].shape)}")


def load_official_weights(path: str | Path) -> tuple[dict, int]:
    """Read finest.tar safely; return its dict and the pose dim implied by ``movement_encoder.main.0.weight``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"official evaluator weights not found: {path}")
    ckpt = _load_tar(path)
    for name in OFFICIAL_SUBMODULES:
        if name not in ckpt:
            raise CheckpointError(f"{path}: missing key {name}")
    w = ckpt["movement_encoder"].get("main.0.weight") if isinstance(ckpt["movement_encoder"], dict) else None
    if not isinstance(w, torch.Tensor) or w.ndim != 3:
        raise CheckpointError(f"{path} [movement_encoder]: missing key main.0.weight")
    return ckpt, int(w.shape[1]) + 4


def build_official(ckpt: dict, dim_pose: int, where: str):
    from moscale_cli.models.evaluator import OfficialEvaluator

    model = OfficialEvaluator(dim_pose)
    for name in OFFICIAL_SUBMODULES:
        sub = getattr(model, name)
        check_state_dict(sub, ckpt[name], f"{where} [{name}]")
        sub.load_state_dict(ckpt[name])
    return model.eval()


def _find_official_paths(d: Path) -> tuple[Path, Path]:
    candidates = [
        (d / "text_mot_match" / "model" / "finest.tar", d / "Comp_v6_KLD005" / "meta"),
        (d / "model" / "finest.tar", d / "meta"),
        (d / "model" / "finest.tar", d.parent / "Comp_v6_KLD005" / "meta"),
        (d / "finest.tar", d / "meta"),
    ]
    tar = next((t for t, _ in candidates if t.is_file()), None)
    if tar is None:
        raise CheckpointError(f"official evaluator folder {d} has no text_mot_match/model/finest.tar")
    for t, meta in candidates:
        if t == tar and (meta / "mean.npy").is_file() and (meta / "std.npy").is_file():
            return tar, meta
    raise CheckpointError(
        f"official evaluator folder {d} has no meta statistics (expected Comp_v6_KLD005/meta/mean.npy and std.npy)"
    )


def _find_glove(d: Path, glove_dir: str | Path | None) -> Path:
    from moscale_cli.evaluation.glove import GLOVE_FILES

    if glove_dir is not None:
        return Path(glove_dir)
    for g in (d / "glove", d.parent / "glove", d.parent.parent / "glove"):
        if all((g / f).is_file() for f in GLOVE_FILES):
            return g
    raise CheckpointError(f"GloVe files ({', '.join(GLOVE_FILES)}) not found near {d}; pass --glove DIR")


def _load_stat(path: Path, dim: int) -> np.ndarray:
    try:
        a = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise CheckpointError(f"{path}: not a plain numeric array ({e})") from None
    a = np.asarray(a, dtype=np.float32).reshape(-1)
    if a.shape != (dim,):
        raise CheckpointError(f"{path}: shape {a.shape}, expected ({dim},) for {dim}-dim features")
    if not np.isfinite(a).all():
        raise CheckpointError(f"{path}: holds NaN or infinite values")
    return a


def load_official_evaluator(d: str | Path, glove_dir: str | Path | None = None, device: str | torch.device = "cpu") -> EvaluatorBundle:
    from moscale_cli.evaluation.glove import WordVectorizer

    d = Path(d)
    if not d.is_dir():
        raise CheckpointError(f"official evaluator folder not found: {d}")
    tar, meta = _find_official_paths(d)
    ckpt, dim_pose = load_official_weights(tar)
    model = build_official(ckpt, dim_pose, str(tar)).to(device)
    mean = _load_stat(meta / "mean.npy", dim_pose)
    std = _load_stat(meta / "std.npy", dim_pose)
    wv = WordVectorizer.from_dir(_find_glove(d, glove_dir))
    info = {"weights": str(tar), "meta": str(meta), "epoch": _plain(ckpt.get("epoch")), "iter": _plain(ckpt.get("iter"))}
    return EvaluatorBundle("official", model, mean, std, f"official:{d}", dim_pose, word_vectorizer=wv, info=info)


def _plain(v):
    if isinstance(v, torch.Tensor):
        return v.item() if v.numel() == 1 else None
    return v if isinstance(v, (int, float, str)) or v is None else None


def save_our_evaluator(run_dir: str | Path, model, mean: np.ndarray, std: np.ndarray, extra: dict | None = None) -> None:
    """Write our evaluator's deliverable files into ``run_dir`` (weights, config, normaliser stats)."""
    from moscale_cli.checkpoint import save_json, save_tensors

    run_dir = Path(run_dir)
    save_tensors(run_dir / OUR_WEIGHTS, model.state_dict())
    save_tensors(run_dir / OUR_STATS, {"mean": torch.as_tensor(mean, dtype=torch.float32), "std": torch.as_tensor(std, dtype=torch.float32)})
    save_json(run_dir / OUR_CONFIG, {"kind": "moscale-evaluator", "config": model.cfg.to_dict(), **(extra or {})})


def _our_files(d: Path) -> Path:
    if (d / OUR_WEIGHTS).is_file():
        return d
    for sub in ("best", "export"):
        if (d / sub / OUR_WEIGHTS).is_file():
            return d / sub
    raise CheckpointError(f"{d} is not an evaluator run (no {OUR_WEIGHTS}; use official:DIR for the official evaluator)")


def load_our_evaluator(d: str | Path, device: str | torch.device = "cpu") -> EvaluatorBundle:
    from moscale_cli.checkpoint import load_json, load_module, load_tensors
    from moscale_cli.models.evaluator import EvaluatorConfig, MoScaleEvaluator

    d = Path(d)
    if not d.is_dir():
        raise CheckpointError(f"evaluator folder not found: {d}")
    f = _our_files(d)
    meta = load_json(f / OUR_CONFIG)
    if not isinstance(meta, dict) or "config" not in meta:
        raise CheckpointError(f"{f / OUR_CONFIG}: not an evaluator config")
    cfg = EvaluatorConfig.from_dict(meta["config"])
    model = MoScaleEvaluator(cfg)
    load_module(f / OUR_WEIGHTS, model)
    stats = load_tensors(f / OUR_STATS)
    if "mean" not in stats or "std" not in stats:
        raise CheckpointError(f"{f / OUR_STATS}: needs tensors 'mean' and 'std'")
    mean = stats["mean"].numpy().astype(np.float32)
    std = stats["std"].numpy().astype(np.float32)
    if mean.shape != (cfg.feature_dim,) or std.shape != (cfg.feature_dim,):
        raise CheckpointError(f"{f / OUR_STATS}: stats shape {mean.shape} does not match feature_dim {cfg.feature_dim}")
    info = {k: v for k, v in meta.items() if k != "config"}
    return EvaluatorBundle(
        "moscale", model.to(device).eval(), mean, std, str(d), cfg.feature_dim, text_encoder_name=cfg.text_encoder, info=info
    )


def load_evaluator(spec: str, glove_dir: str | Path | None = None, device: str | torch.device = "cpu") -> EvaluatorBundle:
    """``official:DIR`` or an evaluator run folder."""
    if spec.startswith("official:"):
        return load_official_evaluator(spec[len("official:") :], glove_dir=glove_dir, device=device)
    return load_our_evaluator(spec, device=device)
