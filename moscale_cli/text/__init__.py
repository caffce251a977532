"""Text encoders (the light BERT path and sentence-transformers), the prompt-embedding cache and the
training caption cache. ``from moscale_cli.text import get_text_encoder`` gives the shared encoder."""

from __future__ import annotations

from collections.abc import Callable


def __getattr__(name: str) -> Callable[..., object]:  # lazy, so that importing a submodule stays cheap
    if name in ("get_text_encoder", "clear_text_encoders"):
        from moscale_cli.text import factory

        return getattr(factory, name)
    raise AttributeError(f"module 'moscale_cli.text' has no attribute {name!r}")
