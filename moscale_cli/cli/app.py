"""The ``moscale`` Typer app: global options, error handling, and the command groups.

Every command group lives in its own module with a ``register(app)`` function; heavy imports (torch, the
models, the text encoder, matplotlib) happen inside the commands so that ``moscale --help`` is fast, and
``rich`` is imported only when something is printed (``moscale -q generate`` never imports it). The
start-up is measured by ``benchmarks/bench_startup.py`` and its imports checked by tests/cli/test_startup.py.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import NoReturn, TextIO

import typer

from moscale_cli import __version__
from moscale_cli.cli.common import STATE, console

app = typer.Typer(
    name="moscale",
    help="Text-to-motion generation with next-scale autoregressive models (MoScale).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Command-group modules; each defines register(app: typer.Typer) -> None.
COMMAND_MODULES = [
    "moscale_cli.cli.generate_cmd",
    "moscale_cli.cli.edit_cmd",
    "moscale_cli.cli.motion_cmd",
    "moscale_cli.cli.data_cmd",
    "moscale_cli.cli.train_cmd",
    "moscale_cli.cli.eval_cmd",
    "moscale_cli.cli.bench_cmd",
    "moscale_cli.cli.info_cmd",
]


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"moscale {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True, help="Show the version and exit."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or info messages."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    STATE.quiet = quiet
    STATE.debug = debug


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:
                continue  # group not built yet
            raise
        mod.register(app)


_register_all()


_MAIN_PID: list[int] = []  # the process that installed the handlers


def _on_terminate(signum: int, frame: object) -> None:
    import os
    import signal

    if _MAIN_PID and os.getpid() != _MAIN_PID[0]:  # a forked child (a pool or DataLoader worker): die as usual
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    from moscale_cli.errors import Terminated, note_stop

    note_stop(signum)
    raise Terminated(signum)


def install_signal_handlers() -> dict[int, object]:
    """SIGTERM and SIGHUP are handled like Ctrl-C: :class:`~moscale_cli.errors.Terminated` is raised, so
    temporary files and staging folders are removed and worker pools shut down before the process exits
    (128 + the signal number). Returns the previous handlers (main thread only; elsewhere nothing changes)."""
    import os
    import signal
    import threading

    old: dict[int, object] = {}
    if threading.current_thread() is not threading.main_thread():
        return old
    _MAIN_PID[:] = [os.getpid()]
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) in (signal.SIG_DFL, None):
            old[sig] = signal.signal(sig, _on_terminate)
    return old


def _warning_printer(fallback: Callable[..., None]) -> Callable[..., None]:
    """A ``warnings.showwarning`` that prints moscale's own warnings (``MoScaleWarning``) as one yellow line
    and hands any other warning to ``fallback`` (Python's usual display)."""

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: TextIO | None = None, line: str | None = None) -> None:
        from moscale_cli.errors import MoScaleWarning

        if issubclass(category, MoScaleWarning):
            from moscale_cli.utils.console import warn

            warn(str(message))
            return
        fallback(message, category, filename, lineno, file, line)

    return show


def _internal_error(e: Exception, debug: bool) -> NoReturn:
    """An unexpected error: still one line (exit 3) unless --debug."""
    if debug:
        raise e
    console.print(
        f"[bold red]internal error:[/bold red] {type(e).__name__}: {e} (run with --debug for the traceback)",
        highlight=False,
        soft_wrap=True,
    )
    sys.exit(3)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the app and turns MoScaleError into one red line + exit code."""
    import signal
    import warnings

    from moscale_cli.cli.invoke import run_click
    from moscale_cli.errors import MoScaleError, Terminated, note_stop, received_stop

    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    note_stop(None)
    old_handlers = install_signal_handlers()
    old_show = warnings.showwarning
    warnings.showwarning = _warning_printer(old_show)
    try:
        run_click(typer.main.get_command(app), argv)  # global flags anywhere; usage errors as one line
    except Terminated as e:
        console.print("[bold red]terminated[/bold red]")
        sys.exit(128 + int(e.args[0]) if e.args else 143)
    except Exception as e:
        if (signum := received_stop()) is not None:  # the error came from the stop (see note_stop): say so
            if debug:
                raise
            console.print("[bold red]terminated[/bold red]")
            sys.exit(128 + signum)
        if not isinstance(e, MoScaleError):
            _internal_error(e, debug)
        if debug:
            raise
        console.print(f"[bold red]error:[/bold red] {e}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        console.print("[bold red]interrupted[/bold red]")
        sys.exit(130)
    finally:  # in-process callers (tests) get their process back as it was
        note_stop(None)
        warnings.showwarning = old_show
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
