"""Fixtures of the generate/info CLI tests: a tiny random-weight model directory (``run_cli`` is in
tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def cli_model_dir(tmp_path_factory, tiny_models) -> Path:
    return tiny_models.build_tiny_model_dir(tmp_path_factory.mktemp("cli-models") / "tiny")
