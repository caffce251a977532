"""The console: stderr/stdout consoles, the global flags (--quiet, --debug) and progress bars.

The ground floor, so that the library (training, data import) and the CLI print through the same console
and ``--quiet`` silences both; library code that wants finer control takes an ``on_progress`` callback.

``rich`` is imported only when something is actually shown: ``console`` and ``out`` are stand-ins that build
their rich ``Console`` on first use, and with ``--quiet`` :func:`progress` hands back a bar that draws
nothing (a quiet ``moscale -q generate`` never imports rich).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress


@dataclass
class GlobalState:
    quiet: bool = False
    debug: bool = False


STATE = GlobalState()


class LazyConsole:
    """A rich ``Console`` built on first attribute access (``Console(**kwargs)``); behaves as one."""

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._console: Console | None = None

    @property
    def real(self) -> Console:
        """The rich Console itself (built now if it was not yet)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._kwargs)
        return self._console

    def __getattr__(self, name: str) -> Any:  # only reached for names this class does not define
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.real, name)

    def __repr__(self) -> str:
        return f"LazyConsole({self._kwargs}, built={self._console is not None})"


console = LazyConsole(stderr=True)
out = LazyConsole()


class NullProgress:
    """The part of rich's ``Progress`` the package uses (tasks, advance, update, stop), drawing nothing."""

    def __init__(self) -> None:
        self._next = 0

    def __enter__(self) -> NullProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, description: str, *args: Any, **kwargs: Any) -> int:
        self._next += 1
        return self._next - 1

    def advance(self, task_id: int, advance: float = 1) -> None:
        return None

    def update(self, task_id: int, *args: Any, **kwargs: Any) -> None:
        return None

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class PlainProgress:
    """Progress as plain text lines, for output that is not a terminal (a log file, a pipe), where rich draws
    nothing: while a task runs, a line every ``every_s`` seconds (growing to a tenth of the elapsed time, at most
    ``max_every_s``, so that an hour-long run writes about one line a minute), and one when it completes (for a
    ``transient`` bar only if it printed before: short work stays silent, as a transient bar would)."""

    def __init__(self, write: Callable[[str], None], every_s: float = 10.0, max_every_s: float = 60.0,
                 transient: bool = False, clock: Callable[[], float] = time.monotonic) -> None:
        self._write = write
        self._clock = clock
        self.every_s = float(every_s)
        self.max_every_s = float(max_every_s)
        self.transient = transient
        self._tasks: dict[int, dict[str, Any]] = {}
        self._stopped = False

    def add_task(self, description: str, *args: Any, total: float | None = None, completed: float = 0,
                 **kwargs: Any) -> int:
        tid = len(self._tasks)
        now = self._clock()
        self._tasks[tid] = {"description": description, "total": total, "completed": float(completed), "start": now,
                            "start_completed": float(completed), "last": now, "done": False,
                            "printed": False}
        return tid

    def advance(self, task_id: int, advance: float = 1) -> None:
        t = self._tasks[task_id]
        self.update(task_id, completed=t["completed"] + advance)

    def update(self, task_id: int, *args: Any, completed: float | None = None, total: float | None = None,
               description: str | None = None, advance: float | None = None, **kwargs: Any) -> None:
        t = self._tasks[task_id]
        if description is not None:
            t["description"] = description
        if total is not None:
            t["total"] = total
        if completed is not None:
            t["completed"] = float(completed)
        if advance is not None:
            t["completed"] += float(advance)
        now = self._clock()
        finished = t["total"] is not None and t["completed"] >= t["total"]
        every = min(self.max_every_s, max(self.every_s, (now - t["start"]) / 10))
        if self._stopped or t["done"] or not (finished or now - t["last"] >= every):
            return
        t["done"] = finished
        if finished and self.transient and not t["printed"]:
            return
        t["last"] = now
        t["printed"] = True
        self._write(self._line(t, now))

    def _line(self, t: dict[str, Any], now: float) -> str:
        elapsed = now - t["start"]
        total, done = t["total"], t["completed"]
        if total is None:
            return f"{t['description']}: {done:g} ({_duration(elapsed)})"
        line = f"{t['description']}: {done:g}/{total:g} ({100 * done / max(total, 1e-9):.0f} %), {_duration(elapsed)}"
        rate = (done - t["start_completed"]) / max(elapsed, 1e-9)
        if done < total and rate > 0:
            line += f", about {_duration((total - done) / rate)} left"
        return line

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def start(self) -> None:
        return None

    def stop(self) -> None:
        self._stopped = True


def progress(transient: bool = False) -> Progress | NullProgress | PlainProgress:
    """A rich progress bar on the stderr console; plain text lines (:class:`PlainProgress`) when stderr is not a
    terminal; with ``--quiet`` a :class:`NullProgress` (rich not imported)."""
    if STATE.quiet:
        return NullProgress()
    real = console.real
    if not (real.is_terminal or real.is_jupyter):
        return PlainProgress(lambda line: real.print(line, highlight=False, markup=False, soft_wrap=True),
                             transient=transient)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=real,
        transient=transient,
    )


def info(msg: str) -> None:
    """One plain line on stderr unless ``--quiet`` (not wrapped, no markup: paths and captions print as they are)."""
    if not STATE.quiet:
        from rich.markup import escape

        console.print(escape(msg), soft_wrap=True, highlight=False)


def warn(msg: str) -> None:
    """One yellow-tagged line on stderr (not wrapped; ``msg`` is plain text, not markup)."""
    from rich.markup import escape

    console.print(f"[yellow]warning:[/yellow] {escape(msg)}", soft_wrap=True, highlight=False)
