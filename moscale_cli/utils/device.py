"""Device resolution for ``--device auto|cpu|cuda|cuda:N`` and the CPU thread count of the commands that run
a model: chosen once from the load average (:func:`set_cpu_threads`), or followed during long work
(:class:`ThreadGovernor`: training and evaluation re-check the cores other processes leave idle)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping

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


def available_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_pinned(env: Mapping[str, str]) -> bool:
    """Whether the environment fixes the thread count (``OMP_NUM_THREADS``/``MKL_NUM_THREADS``)."""
    return any(env.get(k, "").strip() for k in THREAD_ENV_VARS)


def read_cpu_busy(path: str = "/proc/stat", cpus: set[int] | None = None) -> float | None:
    """Seconds the given CPUs (default: this process's) have been busy since boot, from Linux's ``/proc/stat``
    (time not idle nor waiting for I/O; stolen time counts as busy); None where it cannot be read."""
    if cpus is None:
        try:
            cpus = set(os.sched_getaffinity(0))
        except AttributeError:
            return None
    try:
        with open(path, encoding="ascii") as f:
            lines = f.read().splitlines()
        hz = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, AttributeError):
        return None
    busy = 0
    seen = 0
    for line in lines:
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or not name[3:].isdigit() or int(name[3:]) not in cpus:
            continue
        vals = [int(v) for v in rest.split()[:8]]  # user nice system idle iowait irq softirq steal
        if len(vals) < 5:
            return None
        busy += sum(vals) - vals[3] - vals[4]
        seen += 1
    return busy / hz if seen else None


def threads_for_idle(idle: float, current: int, max_threads: int) -> int:
    """Threads for ``idle`` free cores when ``current`` run now: a thread is added when at least 0.75 of a core is
    free for it and dropped when less than half a core is (the band keeps the choice from flapping), in
    [1, max_threads]. An intra-op thread waiting for a core held by another process stalls every operation:
    with one of 2 cores busy elsewhere, training with 2 threads ran 3x (generator) to 60x (tokenizer) slower
    than with 1."""
    up = int(idle + 0.25)
    down = int(idle + 0.5)
    n = up if up > current else (down if down < current else current)
    return max(1, min(max_threads, n))


class ThreadGovernor:
    """Follows the load during long work: every ``every_s`` seconds (at a :meth:`tick`) it measures how many
    cores other processes used since the last check (all CPU time of this process's CPUs less this process's
    own) and sets ``torch.set_num_threads`` to what the idle cores allow (:func:`threads_for_idle`), reporting
    each change through ``log``. It does nothing off the CPU, when the environment or the caller fixes the
    threads (``OMP_NUM_THREADS``/``MKL_NUM_THREADS``, ``pinned``), or where ``/proc/stat`` cannot be read.

    The thread count changes floating-point results slightly (sums split differently), so a run that must
    be bitwise reproducible (exact resume) pins the threads."""

    def __init__(self, device: torch.device, log: Callable[[str], None] | None = None, every_s: float = 10.0,
                 max_threads: int | None = None, pinned: int | None = None,
                 env: Mapping[str, str] | None = None, clock: Callable[[], float] = time.monotonic,
                 busy: Callable[[], float | None] = read_cpu_busy, own: Callable[[], float] = time.process_time,
                 probe_s: float = 0.0, sleep: Callable[[float], None] = time.sleep, cpus: int | None = None) -> None:
        """``probe_s`` > 0: watch the machine that long before the work starts (this process idle) and choose the
        first thread count from it, instead of running the first ``every_s`` seconds with torch's count."""
        self.cpus = cpus or available_cpus()
        self.max_threads = max(1, max_threads or self.cpus)
        self.every_s = float(every_s)
        self.log = log
        self._clock, self._busy, self._own = clock, busy, own
        self.changes: list[tuple[int, int, float]] = []  # (from, to, idle cores) of each switch
        if pinned is not None:
            check_threads(pinned)
            torch.set_num_threads(pinned)
        self.active = device.type == "cpu" and pinned is None and not threads_pinned(os.environ if env is None else env)
        self._last: tuple[float, float, float] | None = None
        if self.active:
            self._last = self._sample()
            self.active = self._last is not None
        if self.active and probe_s > 0:
            sleep(probe_s)
            self._update()

    def _sample(self) -> tuple[float, float, float] | None:
        b = self._busy()
        return None if b is None else (self._clock(), b, self._own())

    def tick(self) -> int | None:
        """Re-check when ``every_s`` has passed; returns the new thread count when it changed, else None."""
        if not self.active or self._last is None or self._clock() - self._last[0] < self.every_s:
            return None
        return self._update()

    def _update(self) -> int | None:
        assert self._last is not None
        now = self._sample()
        if now is None:
            self.active = False
            return None
        (t0, b0, o0), (t1, b1, o1) = self._last, now
        self._last = now
        others = max(0.0, ((b1 - b0) - (o1 - o0)) / max(t1 - t0, 1e-9))
        idle = self.cpus - others
        current = torch.get_num_threads()
        n = threads_for_idle(idle, current, self.max_threads)
        if n == current:
            return None
        torch.set_num_threads(n)
        self.changes.append((current, n, idle))
        if self.log is not None:
            self.log(f"CPU threads {current} -> {n} (other processes used {others:.1f} of {self.cpus} cores)")
        return n
