"""The CLI's console pieces: re-exported from :mod:`moscale_cli.utils.console` (the library reports through
the same console, so ``--quiet`` silences both)."""

from moscale_cli.utils.console import STATE, GlobalState, console, info, out, progress, warn

__all__ = ["STATE", "GlobalState", "console", "info", "out", "progress", "warn"]
