"""Device resolution for ``--device auto|cpu|cuda|cuda:N``."""

from __future__ import annotations

import torch

from moscale_cli.errors import UsageError


def resolve_device(name: str | None = "auto") -> torch.device:
    """Turn a user string into a torch.device, with a clear error for unknown or unavailable devices."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise UsageError("device 'mps' requested but not available on this machine")
        return torch.device("mps")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise UsageError(f"device '{name}' requested but CUDA is not available on this machine")
        if ":" in name:
            idx_s = name.split(":", 1)[1]
            if not idx_s.isdigit():
                raise UsageError(f"unknown device '{name}' (use auto, cpu, cuda or cuda:N)")
            idx = int(idx_s)
            if idx >= torch.cuda.device_count():
                raise UsageError(f"device '{name}' does not exist (this machine has {torch.cuda.device_count()} GPU(s))")
        return torch.device(name)
    raise UsageError(f"unknown device '{name}' (use auto, cpu, cuda or cuda:N)")


def autocast_context(device: torch.device, enabled: bool = True):
    """bf16 autocast on CUDA, a no-op elsewhere (CPU runs in float32)."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast(device.type, enabled=False)
