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


def save_module(path: str | os.PathLike, module: torch.nn.Module, dtype: torch.dtype | None = None) -> None:
    sd = module.state_dict()
    if dtype is not None:
        sd = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in sd.items()}
    save_tensors(path, sd)


def load_module(path: str | os.PathLike, module: torch.nn.Module, strict: bool = True) -> None:
    """Load weights into a module (cast to the module's dtypes); mismatches raise CheckpointError naming keys.

    A module with an ``upgrade_state_dict(sd) -> sd`` method gets to rename keys of older weight files first."""
    sd = load_tensors(path)
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
