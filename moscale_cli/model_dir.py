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
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from moscale_cli.config import check_recommended_sampling
from moscale_cli.errors import CheckpointError, ConfigError
from moscale_cli.models.layers import count_parameters

FORMAT = "moscale-model"
FORMAT_VERSION = 1
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "assets" / "default"
REQUIRED_FILES = ("config.json", "tokenizer.safetensors", "generator.safetensors", "stats.safetensors")
TOKENIZER_WEIGHTS = "tokenizer.safetensors"  # an exported tokenizer run (train-tokenizer) ...
TOKENIZER_CONFIG = "tokenizer_config.json"  # ... beside Mean.npy / Std.npy
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")


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
    """Write a complete model directory at ``path`` (replacing an existing model directory there)."""
    from moscale_cli.checkpoint import save_module, save_tensors
    from moscale_cli.utils.atomic import replace_dir, write_json_atomic, write_text_atomic

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
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        save_module(tmp / "tokenizer.safetensors", tokenizer, dtype=dtype)
        save_module(tmp / "generator.safetensors", generator, dtype=dtype)
        if length is not None:
            save_module(tmp / "length.safetensors", length, dtype=dtype)
        save_tensors(
            tmp / "stats.safetensors",
            {"mean": torch.as_tensor(normalizer.mean, dtype=torch.float32), "std": torch.as_tensor(normalizer.std, dtype=torch.float32)},
        )
        write_text_atomic(tmp / "README.md", _model_card(cfg))
        write_json_atomic(tmp / "config.json", cfg)
        replace_dir(tmp, path, path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


EVALUATOR_DIR = "evaluator"
EVALUATOR_FILES = ("evaluator.safetensors", "evaluator_config.json", "stats.safetensors")


def update_model_dir(path: str | os.PathLike, evaluator_run: str | os.PathLike | None = None,
                     metrics: dict[str, Any] | None = None,
                     sampling: dict[str, Any] | None = None) -> dict[str, Any]:
    """Add to an existing model directory: the evaluator it is measured with (the exported files of a
    ``train-evaluator`` run, copied to ``evaluator/`` and named in config.json, so ``moscale eval`` finds it),
    more metrics (merged into config.json's ``metrics``) and/or the sampling settings the model recommends
    (config.json ``sampling``, e.g. ``{"cfg": 2.0}``: used wherever the user leaves them unset); the model card
    is rewritten. Atomic per file."""
    from moscale_cli.utils.atomic import replace_dir, write_json_atomic, write_text_atomic

    path = Path(path)
    cfg = read_model_config(path)
    if evaluator_run is not None:
        src = Path(evaluator_run)
        missing = [f for f in EVALUATOR_FILES if not (src / f).is_file()]
        if missing:
            raise CheckpointError(f"{src} is not an exported evaluator run (missing {', '.join(missing)})")
        tmp = path / f".{EVALUATOR_DIR}.tmp-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            for f in EVALUATOR_FILES:
                shutil.copyfile(src / f, tmp / f)
            replace_dir(tmp, path / EVALUATOR_DIR, path / f".{EVALUATOR_DIR}.old-{uuid.uuid4().hex[:8]}")
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
    missing = [f for f in REQUIRED_FILES if not (path / f).is_file()]
    if cfg.get("length") and not (path / "length.safetensors").is_file():
        missing.append("length.safetensors")
    if missing:
        raise CheckpointError(f"model directory {path} is incomplete: missing {', '.join(missing)}")
    return cfg


def _build(kind: str, cls_cfg: Any, cls_mod: Any, d: dict[str, Any], path: Path) -> Any:

    try:
        cfg = cls_cfg.from_dict(d)
    except ConfigError as e:
        raise CheckpointError(f"{path}: incompatible {kind} config ({e})") from None
    return cls_mod(cfg)


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
    """Load a model directory (float32, eval mode) with clear errors for missing or incompatible ones."""
    from moscale_cli.checkpoint import load_module, load_tensors
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
    load_module(path / "tokenizer.safetensors", tokenizer)
    load_module(path / "generator.safetensors", generator)
    length = None
    if with_length and cfg.get("length"):
        length = _build("length", LengthConfig, LengthEstimator, cfg["length"], path)
        load_module(path / "length.safetensors", length)
    stats = load_tensors(path / "stats.safetensors")
    if "mean" not in stats or "std" not in stats:
        raise CheckpointError(f"{path}/stats.safetensors lacks mean/std")
    if stats["mean"].numel() != int(cfg["feature_dim"]):
        raise CheckpointError(f"{path}: statistics have {stats['mean'].numel()} dims, config says {cfg['feature_dim']}")
    normalizer = Normalizer(stats["mean"].float().numpy(), stats["std"].float().numpy())
    mods = [m for m in (tokenizer, generator, length) if m is not None]
    for m in mods:
        m.float().to(device).eval()
        for p in m.parameters():
            p.requires_grad_(False)
    return LoadedModel(path, cfg, tokenizer, generator, normalizer, length, device)


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
