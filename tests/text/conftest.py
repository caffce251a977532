"""One real default text encoder per test session (loading it takes a few seconds)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def text_encoder():
    from moscale_cli.text.encoder import TextEncoder

    return TextEncoder(max_tokens=16)
