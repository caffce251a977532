"""Device resolution for ``--device auto|cpu|cuda|cuda:N`` and the CPU thread count of the commands that run
a model."""

from __future__ import annotations

import os
from collections.abc import Mapping

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


THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def auto_cpu_threads(default: int, cpus: int, load: float | None, env: Mapping[str, str]) -> int | None:
    """Threads for running the model on the CPU when the user did not say (None = keep torch's ``default``).

    An environment that sets ``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` keeps its setting. Otherwise: the ``cpus``
    this process may use less the 1-minute ``load`` average (other work), at least 1 and at most torch's
    default. The model's matrices are small, and an intra-op thread that has to wait for a core held by
    another process stalls every operation: on a 2-core machine with a load of 3-5, one generate took 3-12 s
    with 2 threads and 2-2.5 s with 1.
    """
    if any(env.get(k, "").strip() for k in THREAD_ENV_VARS):
        return None
    if load is None:
        return None
    idle = int(cpus - load + 0.5)  # rounded: a spare core busy less than half the time counts as free
    return max(1, min(default, idle))


def check_threads(threads: int | None) -> None:
    if threads is not None and threads < 1:
        raise UsageError(f"--threads must be at least 1, got {threads}")


def set_cpu_threads(threads: int | None, device: str) -> None:
    """``--threads N`` for the CPU, else :func:`auto_cpu_threads` when the model runs on the CPU."""
    if threads is not None:
        check_threads(threads)
        torch.set_num_threads(threads)
        return
    if resolve_device(device).type != "cpu":
        return
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    try:
        load: float | None = os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows: no load average
        load = None
    n = auto_cpu_threads(torch.get_num_threads(), cpus, load, os.environ)
    if n is not None:
        torch.set_num_threads(n)
