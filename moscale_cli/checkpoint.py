"""Low-level weight files: safetensors + JSON, written atomically, read with clear errors.

Never pickles. Model directories (design.md §4) are built on these helpers in ``model_dir.py``;
training runs (trainer state for exact resume) in ``training/``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from moscale_cli.errors import CheckpointError
from moscale_cli.utils.atomic import atomic_path, write_json_atomic


def save_tensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """Save a flat dict of tensors to safetensors atomically (contiguous CPU copies; shared storage is split)."""
    from safetensors.torch import save_file

    flat = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file(flat, str(tmp), metadata=metadata)


def load_tensors(path: str | os.PathLike, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Load a safetensors file; a missing, truncated or corrupted file raises CheckpointError naming it."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    try:
        return load_file(str(path), device=str(device))
    except Exception as e:  # safetensors raises its own error types for bad headers / truncation
        raise CheckpointError(f"checkpoint file {path} is corrupted or truncated ({type(e).__name__}: {e})") from None


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The string metadata of a safetensors file's header ({} when it has none)."""
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error types for bad headers
        raise CheckpointError(f"checkpoint file {path} is corrupted or truncated ({type(e).__name__}: {e})") from None


def tensors_fingerprint(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 (hex) of a flat dict of tensors as stored: every name, dtype, shape and the raw bytes, in name
    order. Independent of the file's layout and header, so a file re-saved with metadata keeps it."""
    import hashlib

    h = hashlib.sha256()
    for k in sorted(tensors):
        v = tensors[k].detach().to("cpu").contiguous()
        h.update(f"{k}\0{str(v.dtype).removeprefix('torch.')}\0{tuple(v.shape)}\0".encode())
        if v.numel():
            h.update(v.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def check_finite(tensors: dict[str, torch.Tensor], path: str | os.PathLike) -> None:
    """CheckpointError naming the file and the first tensor that holds NaN or infinite values.

    One fused norm per tensor finds the suspects (a NaN or inf makes the norm non-finite; a huge finite fp16
    tensor may too): only those are checked element by element, so a clean file costs about a millisecond."""
    names = sorted(k for k, v in tensors.items() if v.is_floating_point() and v.numel())
    if not names:
        return
    try:
        norms = torch._foreach_norm([tensors[k] for k in names])
        suspects = [k for k, n in zip(names, norms, strict=True) if not bool(torch.isfinite(n))]
    except (RuntimeError, TypeError, AttributeError):  # no fused kernel here: check every tensor
        suspects = names
    for k in suspects:
        bad = ~torch.isfinite(tensors[k])
        if bool(bad.any()):
            raise CheckpointError(
                f"{path}: tensor {k} holds {int(bad.sum())} NaN or infinite value(s); the file is damaged"
            )


def state_dict_for_save(module: torch.nn.Module, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """A module's state dict as :func:`save_module` stores it (floating tensors cast to ``dtype`` if given)."""
    sd = module.state_dict()
    if dtype is not None:
        sd = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in sd.items()}
    return sd


def save_module(path: str | os.PathLike, module: torch.nn.Module, dtype: torch.dtype | None = None) -> None:
    save_tensors(path, state_dict_for_save(module, dtype))


def load_module(path: str | os.PathLike, module: torch.nn.Module, strict: bool = True) -> None:
    """Load weights into a module (cast to the module's dtypes); mismatches raise CheckpointError naming keys.

    A module with an ``upgrade_state_dict(sd) -> sd`` method gets to rename keys of older weight files first."""
    apply_state(module, load_tensors(path), path, strict)


def apply_state(module: torch.nn.Module, sd: dict[str, torch.Tensor], path: str | os.PathLike, strict: bool = True) -> None:
    """Load the tensors ``sd`` read from ``path`` into ``module`` (see :func:`load_module`)."""
    upgrade = getattr(module, "upgrade_state_dict", None)
    if callable(upgrade):
        sd = upgrade(sd)
    own = module.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    if strict and (missing or unexpected):
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:5]}{'...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}")
        raise CheckpointError(f"{path} does not match the model: {'; '.join(parts)}")
    bad = [k for k in sd if k in own and tuple(sd[k].shape) != tuple(own[k].shape)]
    if bad:
        k = bad[0]
        raise CheckpointError(f"{path}: tensor {k} has shape {tuple(sd[k].shape)}, the model expects {tuple(own[k].shape)}")
    sd = {k: v.to(own[k].dtype) if k in own else v for k, v in sd.items()}
    module.load_state_dict(sd, strict=strict)


def save_json(path: str | os.PathLike, obj: Any) -> None:
    write_json_atomic(path, obj)


def load_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"file not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is not valid JSON ({e})") from None
