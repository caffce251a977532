"""Running the click command tree: global flags anywhere on the line, usage errors as one line.

- ``--quiet/-q`` and ``--debug`` belong to ``moscale`` itself, but a user types them where they think of them
  (``moscale generate "..." -o w.bvh -q``). :func:`hoist_global_flags` moves every one found after the command
  name to the front of the line, walking the tree as click does, so that an option's value (``--title -q``)
  and everything after ``--`` stay where they are.
- click's own usage errors (an unknown option, a missing argument, a bad value) become
  :class:`~moscale_cli.errors.UsageError`: one red line and exit code 2, like every other usage error of
  moscale, instead of a usage box.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import typer

GLOBAL_FLAGS = ("-q", "--quiet", "--debug")


def click_exceptions() -> ModuleType:
    """The exception module of the click that typer runs on (click itself, or the copy newer typers vendor)."""
    return sys.modules[typer.BadParameter.__module__]


def _find_option(cmd: Any, token: str) -> Any:
    """The option of ``cmd`` that ``token`` names (``--name`` or ``--name=value``), else None."""
    name = token.split("=", 1)[0]
    for p in getattr(cmd, "params", []):
        if getattr(p, "param_type_name", "") == "option" and (name in p.opts or name in p.secondary_opts):
            return p
    return None


def _takes_value(opt: Any, token: str) -> int:
    """How many of the following tokens are ``opt``'s value (0 for flags and ``--name=value``)."""
    if getattr(opt, "is_flag", False) or getattr(opt, "count", False) or "=" in token:
        return 0
    return max(int(opt.nargs), 1)


def hoist_global_flags(args: Sequence[str], root: Any) -> list[str]:
    """``args`` with every global flag that follows a command name moved to the front (order otherwise kept)."""
    front: list[str] = []
    rest: list[str] = []
    cmd = root
    pending = 0  # tokens still owed to the last option as its value
    it = iter(list(args))
    for tok in it:
        if pending:
            rest.append(tok)
            pending -= 1
        elif tok == "--":
            rest.append(tok)
            rest.extend(it)
        elif tok in GLOBAL_FLAGS and cmd is not root:
            front.append(tok)
        elif tok.startswith("-") and len(tok) > 1:
            opt = _find_option(cmd, tok)
            if opt is not None:
                pending = _takes_value(opt, tok)
            rest.append(tok)
        else:
            sub = getattr(cmd, "commands", None)  # a group: the token may name one of its commands
            if isinstance(sub, dict) and tok in sub:
                cmd = sub[tok]
            rest.append(tok)
    return front + rest


def usage_message(e: Exception) -> str:
    """One line for a click error: the message and where to look (``moscale generate --help``)."""
    fmt = getattr(e, "format_message", None)
    msg = " ".join((fmt() if callable(fmt) else str(e)).split())
    ctx = getattr(e, "ctx", None)
    if isinstance(e, click_exceptions().UsageError) and ctx is not None:
        msg += f" (see '{ctx.command_path} --help')"
    return msg


def run_click(root: Any, argv: Sequence[str] | None, prog_name: str = "moscale") -> None:
    """Run ``root`` on ``argv`` (default ``sys.argv[1:]``); exits with the command's exit code when it asks for
    one. A click usage error is raised as :class:`~moscale_cli.errors.UsageError` (other click errors as
    :class:`~moscale_cli.errors.MoScaleError`); ``moscale`` and ``moscale data`` alone print their help."""
    from moscale_cli.errors import MoScaleError, UsageError

    ce = click_exceptions()
    # click >= 8.2 raises this for a group run without a command (`moscale`, `moscale data`); 8.1 prints the help
    no_args_help = getattr(ce, "NoArgsIsHelpError", ())
    args = hoist_global_flags(sys.argv[1:] if argv is None else argv, root)
    try:
        rv = root.main(args=args, prog_name=prog_name, standalone_mode=False)
    except no_args_help as e:  # the help, as click shows it
        e.show()
        sys.exit(e.exit_code)
    except ce.UsageError as e:
        raise UsageError(usage_message(e)) from None
    except typer.Abort:
        raise KeyboardInterrupt from None
    except ce.ClickException as e:
        err = MoScaleError(usage_message(e))
        err.exit_code = e.exit_code
        raise err from None
    if isinstance(rv, int) and not isinstance(rv, bool) and rv != 0:  # typer.Exit(code) / ctx.exit(code)
        sys.exit(rv)
