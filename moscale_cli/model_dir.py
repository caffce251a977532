"""The model directory (design.md §4): everything ``generate`` needs, in one folder.

::

    config.json             format, configs (tokenizer/generator/length), text encoder, feature dim, fps,
                            statistics reference, training data, metrics, licence
    tokenizer.safetensors   MSTokenizer weights (+ codebook buffers)
    generator.safetensors   MoScaleTransformer weights
    length.safetensors      LengthEstimator weights (optional)
    stats.safetensors       mean / std of the features (float32)
    README.md               model card

``save_model_dir`` builds the folder under a temporary name and renames it into place, so a reader never
sees a half-written model. Weights may be stored in float16 (``fp16=True``); they are loaded as float32.
``resolve_model`` turns a local folder or a Hugging Face hub id into a local folder.

The parts are bound together (:func:`write_parts`): every weight file carries the fingerprint of its tensors
in its safetensors metadata (``moscale.fingerprint``), the tokenizer the fingerprint of the statistics it was
trained with (``moscale.stats``), the generator those of the tokenizer and the statistics
(``moscale.tokenizer``, ``moscale.stats``), and ``config.json`` lists them all (``fingerprints``).
:func:`load_model_dir` checks them, so a part of another run is one error naming both files; directories
written before the fingerprints existed load as before (:func:`bind_model_dir` adds them). ``config.json``
is validated field by field (:func:`check_model_config`), and weights with NaN/inf values or statistics with
a non-positive std are refused, naming the file and the tensor.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from moscale_cli.config import ConfigValueError, check_recommended_sampling
from moscale_cli.errors import CheckpointError, ConfigError
from moscale_cli.models.layers import count_parameters

FORMAT = "moscale-model"
FORMAT_VERSION = 1
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "assets" / "default"
REQUIRED_FILES = ("config.json", "tokenizer.safetensors", "generator.safetensors", "stats.safetensors")
TOKENIZER_WEIGHTS = "tokenizer.safetensors"  # an exported tokenizer run (train-tokenizer) ...
TOKENIZER_CONFIG = "tokenizer_config.json"  # ... beside Mean.npy / Std.npy
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")
PART_FILES = ("tokenizer.safetensors", "generator.safetensors", "length.safetensors", "stats.safetensors")
FINGERPRINT_KEY = "moscale.fingerprint"
# which parts each part was trained with (their fingerprints are recorded in its metadata)
BINDINGS = {
    "generator.safetensors": ("tokenizer.safetensors", "stats.safetensors"),
    "tokenizer.safetensors": ("stats.safetensors",),
}
STD_FLOOR = 1e-8  # the normaliser treats a smaller std as 1: a model directory may not hold one


def _module_cfg(m: torch.nn.Module) -> Any:
    cfg = getattr(m, "cfg", None) or getattr(m, "config", None)
    if cfg is None or not hasattr(cfg, "to_dict"):
        raise CheckpointError(f"{type(m).__name__} has no .cfg config to save")
    return cfg


@dataclass
class LoadedModel:
    """A loaded model directory (modules in eval mode on ``device``)."""

    path: Path
    config: dict[str, Any]
    tokenizer: Any
    generator: Any
    normalizer: Any
    length: Any | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def text_encoder(self) -> str:
        return self.config["text_encoder"]["name"]

    @property
    def text_max_tokens(self) -> int:
        return int(self.config["text_encoder"].get("max_tokens", 32))

    @property
    def fps(self) -> float:
        return float(self.config.get("fps", 20.0))

    @property
    def unit(self) -> int:
        return int(self.config.get("unit", 4))

    @property
    def min_frames(self) -> int:
        return int(self.config.get("min_frames", 40))

    @property
    def max_frames(self) -> int:
        return int(self.config.get("max_frames", 196))

    @property
    def feature_dim(self) -> int:
        return int(self.config["feature_dim"])


# ----------------------------------------------------------------------------- saving
def _model_card(cfg: dict[str, Any]) -> str:
    p = cfg.get("parameters", {})
    lines = [
        "---",
        f"license: {cfg.get('license', 'unknown').lower()}",
        "library_name: moscale",
        "tags: [text-to-motion, motion-generation, moscale]",
        "---",
        "",
        f"# {cfg.get('name') or 'moscale model'}",
        "",
        "A MoScale text-to-motion model (next-scale autoregressive generation over a multi-scale residual "
        "motion tokenizer), saved by the `moscale` toolkit.",
        "",
        "## Use",
        "",
        "```",
        "moscale generate \"a person walks forward and waves\" -o out.bvh --model PATH_TO_THIS_FOLDER",
        "```",
        "",
        "```python",
        "from moscale_cli.pipeline import MoScalePipeline",
        "pipe = MoScalePipeline.from_pretrained(\"PATH_TO_THIS_FOLDER\")",
        "motion = pipe.generate([\"a person jumps twice\"], seconds=4)[0]",
        "```",
        "",
        "## Contents",
        "",
        f"- text encoder: `{cfg['text_encoder']['name']}` (window {cfg['text_encoder'].get('max_tokens')} tokens)",
        f"- features: {cfg['feature_dim']}-dim HumanML3D representation, {cfg.get('fps')} fps, "
        f"{cfg.get('min_frames')}..{cfg.get('max_frames')} frames",
        f"- parameters: tokenizer {p.get('tokenizer', 0):,}, generator {p.get('generator', 0):,}, "
        f"length estimator {p.get('length', 0):,}",
        f"- length estimator: {'yes' if cfg.get('length') else 'no (give --frames or --seconds)'}",
        *([f"- evaluator: `{cfg['evaluator']}/` (the one its metrics are measured with; `moscale eval` uses it)"]
          if cfg.get("evaluator") else []),
        *([f"- recommended sampling: {', '.join(f'{k} {v}' for k, v in cfg['sampling'].items())} (used when the "
           "sampling flags leave it unset)"] if cfg.get("sampling") else []),
        "",
        "## Training data",
        "",
    ]
    tr = cfg.get("training") or {}
    if tr:
        lines += [f"- {k}: {v}" for k, v in sorted(tr.items())]
    else:
        lines.append("- not recorded")
    lines += ["", "## Metrics", ""]
    met = cfg.get("metrics") or {}
    if met:
        lines += [f"- {k}: {v}" for k, v in sorted(met.items())]
    else:
        lines.append("- not measured")
    lines += ["", "## Licence", "", f"{cfg.get('license', 'unknown')}", ""]
    return "\n".join(lines)


def build_config(
    tokenizer: torch.nn.Module,
    generator: torch.nn.Module,
    normalizer: Any,
    text_encoder: str,
    text_max_tokens: int = 32,
    text_dim: int | None = None,
    length: torch.nn.Module | None = None,
    fps: float = 20.0,
    min_frames: int = 40,
    skeleton: str = "smpl22",
    training: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    license: str = "Apache-2.0",
    name: str | None = None,
    stats_source: str | None = None,
) -> dict[str, Any]:
    from moscale_cli import __version__

    tcfg = _module_cfg(tokenizer)
    gcfg = _module_cfg(generator)
    feature_dim = int(normalizer.dim)
    if int(getattr(tcfg, "feature_dim", feature_dim)) != feature_dim:
        raise CheckpointError(f"tokenizer feature_dim {tcfg.feature_dim} differs from the statistics' {feature_dim}")
    unit = int(getattr(tcfg, "unit", 4))
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "moscale_version": __version__,
        "name": name,
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tokenizer": tcfg.to_dict(),
        "generator": gcfg.to_dict(),
        "length": _module_cfg(length).to_dict() if length is not None else None,
        "text_encoder": {"name": text_encoder, "max_tokens": int(text_max_tokens), "dim": text_dim},
        "feature_dim": feature_dim,
        "skeleton": skeleton,
        "fps": float(fps),
        "unit": unit,
        "min_frames": int(min_frames),
        "max_frames": int(getattr(tcfg, "max_frames", 196)),
        "stats": {"file": "stats.safetensors", "source": stats_source},
        "parameters": {
            "tokenizer": count_parameters(tokenizer),
            "generator": count_parameters(generator),
            "length": count_parameters(length),
        },
        "training": training or {},
        "metrics": metrics or {},
        "license": license,
    }


def save_model_dir(
    path: str | os.PathLike,
    tokenizer: torch.nn.Module,
    generator: torch.nn.Module,
    normalizer: Any,
    text_encoder: str,
    length: torch.nn.Module | None = None,
    fp16: bool = False,
    **config_kwargs: Any,
) -> Path:
    """Write a complete model directory at ``path`` (replacing an existing model directory there); the parts
    are bound by their fingerprints (:func:`write_parts`)."""
    from moscale_cli.checkpoint import state_dict_for_save
    from moscale_cli.utils.atomic import replace_dir, temp_dir, write_json_atomic, write_text_atomic

    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise CheckpointError(f"cannot write model directory {path}: a file is in the way")
        if any(path.iterdir()) and not (path / "config.json").is_file():
            raise CheckpointError(f"refusing to overwrite {path}: it is a non-empty folder that is not a model directory")
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg = build_config(tokenizer, generator, normalizer, text_encoder, length=length, **config_kwargs)
    cfg["weights_dtype"] = "float16" if fp16 else "float32"
    dtype = torch.float16 if fp16 else None
    parts = {
        "tokenizer.safetensors": state_dict_for_save(tokenizer, dtype),
        "generator.safetensors": state_dict_for_save(generator, dtype),
        **({"length.safetensors": state_dict_for_save(length, dtype)} if length is not None else {}),
        "stats.safetensors": {"mean": torch.as_tensor(normalizer.mean, dtype=torch.float32),
                              "std": torch.as_tensor(normalizer.std, dtype=torch.float32)},
    }
    tmp = temp_dir(path, "tmp")
    try:
        cfg["fingerprints"] = write_parts(tmp, parts)
        write_text_atomic(tmp / "README.md", _model_card(cfg))
        write_json_atomic(tmp / "config.json", cfg)
        replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _bound_key(part: str) -> str:
    return "moscale." + part.removesuffix(".safetensors")


def write_parts(folder: str | os.PathLike, parts: dict[str, dict[str, torch.Tensor]]) -> dict[str, str]:
    """Write the weight files ``parts`` (file name -> tensors) into ``folder``, each atomically, bound together:
    every file's metadata holds its own fingerprint and those of the parts it was trained with (``BINDINGS``).
    Returns the fingerprints (for config.json). The one writer of a model directory's weights."""
    from moscale_cli.checkpoint import save_tensors, tensors_fingerprint

    folder = Path(folder)
    fps = {f: tensors_fingerprint(t) for f, t in parts.items()}
    for f, t in parts.items():
        meta = {FINGERPRINT_KEY: fps[f]}
        meta.update({_bound_key(dep): fps[dep] for dep in BINDINGS.get(f, ()) if dep in fps})
        save_tensors(folder / f, t, metadata=meta)
    return fps


def bind_model_dir(path: str | os.PathLike) -> dict[str, str]:
    """Add the part fingerprints to an existing model directory (written before they existed), by the same
    writer a new export uses (:func:`write_parts`): the weight files are rewritten with the same tensors and the
    fingerprints in their metadata, and config.json gets ``fingerprints``. Only for a directory whose parts do
    belong together (it cannot tell)."""
    from moscale_cli.checkpoint import check_finite, load_tensors
    from moscale_cli.utils.atomic import write_json_atomic

    path = Path(path)
    cfg = read_model_config(path)
    parts = {f: load_tensors(path / f) for f in PART_FILES if (path / f).is_file()}
    for f, t in parts.items():
        check_finite(t, path / f)
    cfg["fingerprints"] = write_parts(path, parts)
    write_json_atomic(path / "config.json", cfg)
    return cfg["fingerprints"]


EVALUATOR_DIR = "evaluator"
EVALUATOR_FILES = ("evaluator.safetensors", "evaluator_config.json", "stats.safetensors")


def update_model_dir(path: str | os.PathLike, evaluator_run: str | os.PathLike | None = None,
                     metrics: dict[str, Any] | None = None,
                     sampling: dict[str, Any] | None = None, name: str | None = None) -> dict[str, Any]:
    """Add to an existing model directory: the evaluator it is measured with (the exported files of a
    ``train-evaluator`` run, copied to ``evaluator/`` and named in config.json, so ``moscale eval`` finds it),
    more metrics (merged into config.json's ``metrics``), the sampling settings the model recommends
    (config.json ``sampling``, e.g. ``{"cfg": 2.0}``: used wherever the user leaves them unset) and/or its
    name (``moscale info`` shows it); the model card is rewritten. Atomic per file."""
    from moscale_cli.utils.atomic import replace_dir, temp_dir, write_json_atomic, write_text_atomic

    path = Path(path)
    cfg = read_model_config(path)
    if evaluator_run is not None:
        src = Path(evaluator_run)
        missing = [f for f in EVALUATOR_FILES if not (src / f).is_file()]
        if missing:
            raise CheckpointError(f"{src} is not an exported evaluator run (missing {', '.join(missing)})")
        tmp = temp_dir(path / EVALUATOR_DIR, "tmp")
        try:
            for f in EVALUATOR_FILES:
                shutil.copyfile(src / f, tmp / f)
            replace_dir(tmp, path / EVALUATOR_DIR)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        cfg["evaluator"] = EVALUATOR_DIR
    if metrics:
        cfg["metrics"] = {**(cfg.get("metrics") or {}), **metrics}
    if sampling:
        try:
            sampling = check_recommended_sampling(sampling)
        except ConfigError as e:
            raise CheckpointError(f"{path}: {e}") from None
        cfg["sampling"] = {**(cfg.get("sampling") or {}), **sampling}
    if name is not None:
        if not name.strip():
            raise CheckpointError(f"{path}: a model name must not be empty")
        cfg["name"] = name
    write_json_atomic(path / "config.json", cfg)
    write_text_atomic(path / "README.md", _model_card(cfg))
    return cfg


# ----------------------------------------------------------------------------- loading
def read_model_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check ``config.json`` of a model directory (no weights are loaded)."""
    from moscale_cli.checkpoint import load_json

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"model directory not found: {path}")
    if not path.is_dir():
        raise CheckpointError(f"{path} is not a model directory (it is a file)")
    if not (path / "config.json").is_file():
        raise CheckpointError(f"{path} is not a moscale model directory (no config.json)")
    cfg = load_json(path / "config.json")
    if not isinstance(cfg, dict) or cfg.get("format") != FORMAT:
        raise CheckpointError(f"{path}/config.json is not a moscale model config (format {cfg.get('format') if isinstance(cfg, dict) else None!r})")
    ver = cfg.get("format_version")
    if not isinstance(ver, int) or ver > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} uses model format version {ver}; this moscale reads up to {FORMAT_VERSION} (upgrade moscale)"
        )
    for key in ("tokenizer", "generator", "text_encoder", "feature_dim"):
        if key not in cfg:
            raise CheckpointError(f"{path}/config.json lacks the '{key}' entry")
    try:
        check_recommended_sampling(cfg.get("sampling"))
    except ConfigError as e:
        raise CheckpointError(f"{path}/config.json: {e}") from None
    check_model_config(cfg, path / "config.json")
    missing = [f for f in REQUIRED_FILES if not (path / f).is_file()]
    if cfg.get("length") and not (path / "length.safetensors").is_file():
        missing.append("length.safetensors")
    if missing:
        raise CheckpointError(f"model directory {path} is incomplete: missing {', '.join(missing)}")
    return cfg


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    import math

    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _bad(where: Path, key: str, value: Any, allowed: str) -> CheckpointError:
    import json

    try:
        shown = json.dumps(value)
    except (TypeError, ValueError):
        shown = repr(value)
    return CheckpointError(f"{where}: {key} must be {allowed}, got {shown}")


def check_model_config(cfg: dict[str, Any], where: Path) -> None:
    """The fields of a model directory's config.json that the loader and the pipeline read, each checked with
    a one-line :class:`CheckpointError` naming ``where`` (the file), the key, the value and what is allowed.
    The tokenizer/generator/length blocks are checked field by field when they are built (``_build``)."""
    for key in ("tokenizer", "generator"):
        if not isinstance(cfg[key], dict):
            raise _bad(where, key, cfg[key], "an object of settings")
    if cfg.get("length") is not None and not isinstance(cfg["length"], dict):
        raise _bad(where, "length", cfg["length"], "an object of settings or null")
    te = cfg["text_encoder"]
    if not isinstance(te, dict):
        raise _bad(where, "text_encoder", te, 'an object like {"name": ..., "max_tokens": 32, "dim": 384}')
    if not isinstance(te.get("name"), str) or not te["name"].strip():
        raise _bad(where, "text_encoder.name", te.get("name"), "the text encoder's name or path (a string)")
    if "max_tokens" in te and not (_is_int(te["max_tokens"]) and te["max_tokens"] >= 1):
        raise _bad(where, "text_encoder.max_tokens", te["max_tokens"], "an integer >= 1")
    if te.get("dim") is not None and not (_is_int(te["dim"]) and te["dim"] >= 1):
        raise _bad(where, "text_encoder.dim", te["dim"], "an integer >= 1 or null")
    if not (_is_int(cfg["feature_dim"]) and cfg["feature_dim"] >= 1):
        raise _bad(where, "feature_dim", cfg["feature_dim"], "an integer >= 1 (263 for SMPL-22, 251 for KIT-21)")
    tok = cfg["tokenizer"]
    if _is_int(tok.get("feature_dim", cfg["feature_dim"])) and tok.get("feature_dim", cfg["feature_dim"]) != cfg["feature_dim"]:
        raise _bad(where, "feature_dim", cfg["feature_dim"], f"the tokenizer's feature_dim {tok['feature_dim']}")
    if "fps" in cfg and not (_is_number(cfg["fps"]) and cfg["fps"] > 0):
        raise _bad(where, "fps", cfg["fps"], "a number > 0 (frames per second, 20 for HumanML3D)")
    down_t = tok.get("down_t", 2)
    tok_unit = 2 ** down_t if _is_int(down_t) and 0 <= down_t <= 8 else None
    tok_max = tok.get("max_frames", 196) if _is_int(tok.get("max_frames", 196)) else None
    unit = cfg.get("unit", 4)
    if not (_is_int(unit) and unit >= 1) or (tok_unit is not None and unit != tok_unit):
        allowed = f"the tokenizer's time unit {tok_unit} (2 ** tokenizer.down_t)" if tok_unit else "an integer >= 1"
        raise _bad(where, "unit", unit, allowed)
    lo, hi = cfg.get("min_frames", 40), cfg.get("max_frames", 196)
    top = tok_max if tok_max is not None else hi
    if not (_is_int(hi) and unit <= hi <= (top if _is_int(top) else hi)):
        raise _bad(where, "max_frames", hi, f"an integer in [{unit}, {top}] (the tokenizer's max_frames)")
    if not (_is_int(lo) and unit <= lo <= hi):
        raise _bad(where, "min_frames", lo, f"an integer in [{unit}, {hi}] (unit <= min_frames <= max_frames)")
    if "skeleton" in cfg and not isinstance(cfg["skeleton"], str):
        raise _bad(where, "skeleton", cfg["skeleton"], "a string such as \"smpl22\"")
    fps = cfg.get("fingerprints")
    if fps is not None and not (isinstance(fps, dict) and all(isinstance(v, str) for v in fps.values())):
        raise _bad(where, "fingerprints", fps, "an object of file name -> fingerprint strings")


def _build(kind: str, cls_cfg: Any, cls_mod: Any, d: dict[str, Any], path: Path) -> Any:
    """Build a module from its config.json block; every bad value is one CheckpointError naming the key."""
    where = path / "config.json"
    try:
        cfg = cls_cfg.from_dict(d)
    except ConfigValueError as e:
        raise _bad(where, f"{kind}.{e.key}", e.value, e.allowed) from None
    except ConfigError as e:
        raise CheckpointError(f"{where}: incompatible {kind} config ({e})") from None
    from moscale_cli.utils.build import no_random_init

    try:
        with no_random_init():  # its weights are loaded next: drawing random ones first is wasted work
            return cls_mod(cfg)
    except Exception as e:  # noqa: BLE001 - values that pass the checks but cannot build the network
        raise CheckpointError(f"{where}: the {kind} settings do not give a working network ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''})") from None


def _check_pair(tokenizer: Any, generator: Any, path: Path) -> None:
    """The generator must be built for this tokenizer (codebook size, code width, scale lengths, grid)."""
    from moscale_cli.models.generator import tokenizer_fields

    want = tokenizer_fields(tokenizer)
    have = {k: getattr(generator.cfg, k) for k in want}
    bad = [k for k in want if (list(want[k]) if isinstance(want[k], tuple) else want[k]) != (list(have[k]) if isinstance(have[k], tuple) else have[k])]
    if bad:
        raise CheckpointError(
            f"{path}: the generator does not fit the tokenizer ({', '.join(f'{k} {have[k]} vs {want[k]}' for k in bad)})"
        )


def load_model_dir(path: str | os.PathLike, device: str | torch.device = "cpu", with_length: bool = True) -> LoadedModel:
    """Load a model directory (float32, eval mode) with clear errors for missing, incompatible, damaged or
    mismatched ones (a part of another run: see the module doc)."""
    from moscale_cli.checkpoint import apply_state, check_finite, load_tensors
    from moscale_cli.models.generator import GeneratorConfig
    from moscale_cli.models.length import LengthConfig, LengthEstimator
    from moscale_cli.models.next_token import build_generator
    from moscale_cli.models.tokenizer import MSTokenizer, TokenizerConfig
    from moscale_cli.motion.normalize import Normalizer

    path = Path(path)
    cfg = read_model_config(path)
    device = torch.device(device)
    tokenizer = _build("tokenizer", TokenizerConfig, MSTokenizer, cfg["tokenizer"], path)
    generator = _build("generator", GeneratorConfig, build_generator, cfg["generator"], path)  # the arch it names
    _check_pair(tokenizer, generator, path)
    length = None
    if with_length and cfg.get("length"):
        length = _build("length", LengthConfig, LengthEstimator, cfg["length"], path)
    files = ["tokenizer.safetensors", "generator.safetensors", "stats.safetensors"]
    files += ["length.safetensors"] if length is not None else []
    parts = {f: load_tensors(path / f) for f in files}
    for f, t in parts.items():
        check_finite(t, path / f)
    stats = parts["stats.safetensors"]
    check_stats(stats, path / "stats.safetensors", int(cfg["feature_dim"]))
    check_bindings(path, parts, cfg)
    apply_state(tokenizer, parts["tokenizer.safetensors"], path / "tokenizer.safetensors")
    apply_state(generator, parts["generator.safetensors"], path / "generator.safetensors")
    if length is not None:
        apply_state(length, parts["length.safetensors"], path / "length.safetensors")
    normalizer = Normalizer(stats["mean"].float().numpy(), stats["std"].float().numpy())
    mods = [m for m in (tokenizer, generator, length) if m is not None]
    for m in mods:
        m.float().to(device).eval()
        for p in m.parameters():
            p.requires_grad_(False)
    return LoadedModel(path, cfg, tokenizer, generator, normalizer, length, device)


def check_stats(stats: dict[str, torch.Tensor], where: Path, feature_dim: int) -> None:
    """Statistics hold ``mean`` and ``std`` of ``feature_dim`` values each, finite, std above ``STD_FLOOR``."""
    if "mean" not in stats or "std" not in stats:
        raise CheckpointError(f"{where} lacks mean/std")
    for k in ("mean", "std"):
        if tuple(stats[k].shape) != (feature_dim,):
            raise CheckpointError(f"{where}: {k} has shape {tuple(stats[k].shape)}, config.json's feature_dim is {feature_dim}")
    std = stats["std"].float()
    bad = torch.nonzero(~(std > STD_FLOOR)).flatten()
    if bad.numel():
        i = int(bad[0])
        raise CheckpointError(
            f"{where}: std must be > 0 in every dimension (features are divided by it), got {float(std[i]):g} "
            f"at dimension {i} ({bad.numel()} dimension(s)); the statistics are damaged or not this model's"
        )


def check_bindings(path: Path, parts: dict[str, dict[str, torch.Tensor]], cfg: dict[str, Any]) -> None:
    """Each part's recorded fingerprints of the parts it was trained with (its metadata) and config.json's
    ``fingerprints`` against the files present: a part of another run is one error naming both files.
    Files without fingerprints (older directories) are fingerprinted here only when another part records one."""
    from moscale_cli.checkpoint import read_metadata, tensors_fingerprint

    metas = {f: read_metadata(path / f) for f in parts}
    actual: dict[str, str] = {}

    def fingerprint(f: str) -> str:
        if f not in actual:
            actual[f] = metas[f].get(FINGERPRINT_KEY) or tensors_fingerprint(parts[f])
        return actual[f]

    recorded = cfg.get("fingerprints") or {}

    def foreign() -> str:
        odd = [f for f, rec in recorded.items() if f in parts and rec != fingerprint(f)]
        return f"; {' and '.join(odd)} {'is' if len(odd) == 1 else 'are'} not the one config.json was written with" if odd else ""

    checked = False
    for f, deps in BINDINGS.items():
        for dep in deps:
            rec = metas.get(f, {}).get(_bound_key(dep))
            if rec is None or dep not in parts:
                continue
            checked = True
            if rec != fingerprint(dep):
                raise CheckpointError(
                    f"{path}: {dep} and {f} do not belong together ({f} was trained with the "
                    f"{dep.removesuffix('.safetensors')} {rec[:12]}, this {dep} is {fingerprint(dep)[:12]}{foreign()}): "
                    "parts of another run?"
                )
    for f, rec in recorded.items():
        if f in parts:
            checked = True
            if rec != fingerprint(f):
                raise CheckpointError(
                    f"{path}: {f} is not the file config.json was written with (fingerprint {fingerprint(f)[:12]}, "
                    f"config.json records {rec[:12]}): a part of another run?"
                )
    if not checked:
        from moscale_cli.utils.console import STATE, info

        if STATE.debug:
            info(f"{path}: no part fingerprints (a model directory from before moscale 0.3); parts not cross-checked")


# ----------------------------------------------------------------------------- resolving
def load_tokenizer_run(run_dir: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[Any, Any]:
    """Load an exported tokenizer run (``tokenizer.safetensors`` + ``tokenizer_config.json`` + Mean/Std.npy)
    -> (MSTokenizer in eval mode, Normalizer)."""
    from moscale_cli.checkpoint import load_json, load_module
    from moscale_cli.models.tokenizer import MSTokenizer, TokenizerConfig
    from moscale_cli.motion.normalize import Normalizer

    run_dir = Path(run_dir)
    if not (run_dir / TOKENIZER_CONFIG).is_file():
        raise CheckpointError(f"{run_dir} holds no exported tokenizer ({TOKENIZER_CONFIG} missing)")
    cfg = TokenizerConfig.from_dict(load_json(run_dir / TOKENIZER_CONFIG))
    model = MSTokenizer(cfg)
    load_module(run_dir / TOKENIZER_WEIGHTS, model)
    return model.to(device).eval(), Normalizer.from_dir(run_dir)


def default_model_dir() -> Path:
    return Path(os.environ.get("MOSCALE_DEFAULT_MODEL", DEFAULT_MODEL_DIR))


def _looks_like_path(spec: str) -> bool:
    return (
        spec.startswith((".", "/", "~"))
        or "\\" in spec
        or os.path.isabs(spec)
        or spec.count("/") != 1
    )


def resolve_model(spec: str | os.PathLike | None) -> Path:
    """A local model folder for ``spec``: None = the default model, a folder, or a hub id ``org/name[@rev]``."""
    if spec is None or str(spec).strip() == "":
        d = default_model_dir()
        if not (d / "config.json").is_file():
            raise CheckpointError("no default model is installed; pass --model DIR (a model directory or a hub id)")
        return d
    s = str(spec).strip()
    p = Path(s).expanduser()
    if p.exists():
        if not p.is_dir():
            raise CheckpointError(f"{p} is not a model directory (it is a file)")
        return p
    if _looks_like_path(s) or not _HUB_ID.match(s):
        raise CheckpointError(f"model directory not found: {s}")
    return _hub_download(s)


def _hub_download(spec: str) -> Path:
    repo_id, _, revision = spec.partition("@")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:  # pragma: no cover - a declared dependency
        raise CheckpointError(f"model {spec!r} is not a local folder and huggingface_hub is not installed") from None
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    try:
        local = snapshot_download(
            repo_id,
            revision=revision or None,
            allow_patterns=["*.json", "*.safetensors", "README.md"],
        )
    except Exception as e:
        name = type(e).__name__
        if offline or name in ("LocalEntryNotFoundError", "OfflineModeIsEnabled"):
            raise CheckpointError(
                f"model {spec!r} is not a local folder and is not in the hub cache (offline: HF_HUB_OFFLINE is set or the hub is unreachable)"
            ) from None
        if name in ("RepositoryNotFoundError", "GatedRepoError"):
            raise CheckpointError(f"model {spec!r} not found on the Hugging Face hub (nor as a local folder)") from None
        if name == "RevisionNotFoundError":
            raise CheckpointError(f"revision {revision!r} of hub model {repo_id!r} not found") from None
        raise CheckpointError(f"cannot download model {spec!r} from the Hugging Face hub: {name}: {str(e).splitlines()[0] if str(e) else ''}") from None
    return Path(local)
