"""The command line itself: global flags after the command, usage errors as one line, --help at 80 columns."""

from __future__ import annotations

import re

import numpy as np
import pytest
import typer

from moscale_cli.cli.app import app
from moscale_cli.cli.invoke import hoist_global_flags


def _root():
    return typer.main.get_command(app)


def _all_commands() -> list[tuple[list[str], object]]:
    """(path, click command) of every command and group under ``moscale``."""
    out: list[tuple[list[str], object]] = []

    def walk(path: list[str], cmd: object) -> None:
        out.append((path, cmd))
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            walk([*path, name], sub)

    walk([], _root())
    return out


@pytest.mark.parametrize(
    ("argv", "want"),
    [
        (["generate", "a walk", "-o", "w.bvh", "-q"], ["-q", "generate", "a walk", "-o", "w.bvh"]),
        (["generate", "--debug", "a walk", "--quiet"], ["--debug", "--quiet", "generate", "a walk"]),
        (["-q", "generate", "a walk"], ["-q", "generate", "a walk"]),  # already in front: unchanged
        (["data", "stats", "d", "-q"], ["-q", "data", "stats", "d"]),  # a command of a group
        (["render", "m.bvh", "--title", "-q", "-o", "m.mp4"], ["render", "m.bvh", "--title", "-q", "-o", "m.mp4"]),
        (["generate", "--", "-q"], ["generate", "--", "-q"]),  # after --: a prompt, not a flag
        (["generate", "x", "--title=-q"], ["generate", "x", "--title=-q"]),
    ],
)
def test_global_flags_are_moved_in_front_of_the_command(argv, want):
    assert hoist_global_flags(argv, _root()) == want


def test_quiet_after_the_command_generates(cli_model_dir, tmp_path, run_loud):
    out = tmp_path / "w.npy"
    code, o, e = run_loud("generate", "a person walks", "-o", out, "--frames", 40, "--model", cli_model_dir,
                        "--refine-steps", "1,1,1,1", "--device", "cpu", "-q")
    assert code == 0, e
    assert o.split() == [str(out)] and e == ""  # quiet: nothing on stderr
    assert np.load(out).shape == (40, 22, 3)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["generate", "a walk", "-o", "w.bvh", "--no-such-flag"], "No such option: --no-such-flag"),
        (["generate", "a walk", "-o", "w.bvh", "--frames", "many"], "Invalid value for '--frames'"),
        (["no-such-command"], "No such command 'no-such-command'"),
        (["data", "stats"], "Missing argument 'DIR'"),
        (["generate", "a walk", "-o"], "requires an argument"),
    ],
)
def test_usage_errors_are_one_line_with_exit_code_2(run_loud, args, needle):
    code, o, e = run_loud(*args)
    assert code == 2
    assert o == ""
    lines = e.strip().splitlines()
    assert len(lines) == 1, e
    assert lines[0].startswith("error: ") and needle in lines[0]
    assert "╭" not in e and "Usage:" not in e


@pytest.mark.parametrize("path", [p for p, _ in _all_commands()], ids=lambda p: " ".join(p) or "moscale")
def test_help_is_readable_at_80_columns(run_loud, monkeypatch, path):
    """Every option name appears whole in --help at COLUMNS=80, and no line is wider than 80 columns."""
    cmd = dict((tuple(p), c) for p, c in _all_commands())[tuple(path)]
    monkeypatch.setenv("COLUMNS", "80")
    code, o, e = run_loud(*path, "--help")
    assert code == 0, e
    assert o.startswith("Usage: moscale")
    assert max(len(line) for line in o.splitlines()) <= 80
    assert "…" not in o
    for p in cmd.params:
        if getattr(p, "hidden", False):
            continue
        for name in [*p.opts, *p.secondary_opts]:
            if p.param_type_name == "option":
                assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", o), f"{name} is cut in {path} --help"
