"""Fixtures of the generate/info CLI tests: a tiny random-weight model directory and an in-process runner."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def _builder():
    path = Path(__file__).resolve().parents[1] / "pipeline" / "tiny_models.py"
    spec = importlib.util.spec_from_file_location("moscale_tests_tiny_models", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def cli_model_dir(tmp_path_factory) -> Path:
    return _builder().build_tiny_model_dir(tmp_path_factory.mktemp("cli-models") / "tiny")


@pytest.fixture
def run_cli(capsys):
    """Run ``moscale ARGS`` in-process through the real entry point; returns (exit code, stdout, stderr)."""
    from moscale_cli.cli.app import main

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            main(["--quiet", *(str(a) for a in args)])
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        o, e = capsys.readouterr()
        return code, o, e

    return run
