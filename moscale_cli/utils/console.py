"""The console: stderr/stdout consoles, the global flags (--quiet, --debug) and progress bars.

The ground floor, so that the library (training, data import) and the CLI print through the same console
and ``--quiet`` silences both; library code that wants finer control takes an ``on_progress`` callback."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True)
out = Console()


@dataclass
class GlobalState:
    quiet: bool = False
    debug: bool = False


STATE = GlobalState()


def progress(transient: bool = False) -> Progress:
    """A rich progress bar; disabled with ``--quiet``."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}" if False else ""),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
        disable=STATE.quiet,
    )


def info(msg: str) -> None:
    if not STATE.quiet:
        console.print(msg)


def warn(msg: str) -> None:
    console.print(f"[yellow]warning:[/yellow] {msg}")
