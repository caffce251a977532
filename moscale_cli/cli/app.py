"""The ``moscale`` Typer app: global options, error handling, and the command groups.

Every command group lives in its own module with a ``register(app)`` function; heavy imports (torch, the
models, the text encoder, matplotlib) happen inside the commands so that ``moscale --help`` is fast, and
``rich`` is imported only when something is printed (``moscale -q generate`` never imports it). The
start-up is measured by ``benchmarks/bench_startup.py`` and its imports checked by tests/cli/test_startup.py.
"""

from __future__ import annotations

import importlib
import sys

import typer

from moscale_cli import __version__
from moscale_cli.cli.common import STATE, console

app = typer.Typer(
    name="moscale",
    help="Text-to-motion generation with next-scale autoregressive models (MoScale).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
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


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the app and turns MoScaleError into one red line + exit code."""
    from moscale_cli.errors import MoScaleError

    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        app(args=argv, prog_name="moscale", standalone_mode=True)
    except MoScaleError as e:
        if debug:
            raise
        console.print(f"[bold red]error:[/bold red] {e}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        console.print("[bold red]interrupted[/bold red]")
        sys.exit(130)
    except Exception as e:  # unexpected: still one line unless --debug
        if debug:
            raise
        console.print(
            f"[bold red]internal error:[/bold red] {type(e).__name__}: {e} (run with --debug for the traceback)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(3)
