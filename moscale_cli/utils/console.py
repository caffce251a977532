"""The console: stderr/stdout consoles, the global flags (--quiet, --debug) and progress bars.

The ground floor, so that the library (training, data import) and the CLI print through the same console
and ``--quiet`` silences both; library code that wants finer control takes an ``on_progress`` callback.

``rich`` is imported only when something is actually shown: ``console`` and ``out`` are stand-ins that build
their rich ``Console`` on first use, and with ``--quiet`` :func:`progress` hands back a bar that draws
nothing (a quiet ``moscale -q generate`` never imports rich).
"""

from __future__ import annotations

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


def progress(transient: bool = False) -> Progress | NullProgress:
    """A rich progress bar on the stderr console; with ``--quiet`` a :class:`NullProgress` (rich not imported)."""
    if STATE.quiet:
        return NullProgress()
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
        console=console.real,
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
