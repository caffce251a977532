"""Tiny random-weight model directories and pipelines for the pipeline tests (``run_cli`` is in
tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_models) -> Path:
    return tiny_models.build_tiny_model_dir(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def tiny_pipeline(tiny_model_dir):
    from moscale_cli.pipeline import MoScalePipeline

    return MoScalePipeline.from_pretrained(tiny_model_dir, device="cpu")
