"""The tiny pipeline of the pipeline tests (``tiny_model_dir`` and ``run_cli`` are in tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_pipeline(tiny_model_dir):
    from moscale_cli.pipeline import MoScalePipeline

    return MoScalePipeline.from_pretrained(tiny_model_dir, device="cpu")
