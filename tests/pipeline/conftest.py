"""Tiny random-weight model directories and pipelines for the pipeline tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def load_builder():
    path = Path(__file__).with_name("tiny_models.py")
    spec = importlib.util.spec_from_file_location("moscale_tests_tiny_models", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


tiny = load_builder()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return tiny.build_tiny_model_dir(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def tiny_pipeline(tiny_model_dir):
    from moscale_cli.pipeline import MoScalePipeline

    return MoScalePipeline.from_pretrained(tiny_model_dir, device="cpu")


@pytest.fixture
def run_cli(capsys):
    """Run ``moscale --quiet ARGS`` in-process; returns (exit code, stdout, stderr)."""
    from moscale_cli.cli.app import main

    def run(*args):
        capsys.readouterr()
        try:
            main(["--quiet", *(str(a) for a in args)])
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        o, e = capsys.readouterr()
        return code, o, e

    return run
