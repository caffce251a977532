"""The user-level tasks: :class:`MoScalePipeline` (generate, edit, extend, inbetween, compose).

Names are imported lazily, so that ``moscale_cli.pipeline.defaults`` (used by the CLI's option defaults)
does not pull in torch.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "MoScalePipeline": "moscale_cli.pipeline.core",
    "LengthAdjustedWarning": "moscale_cli.pipeline.core",
    "GeneratedMotion": "moscale_cli.pipeline.results",
    "EditedMotion": "moscale_cli.pipeline.results",
    "SeamReport": "moscale_cli.pipeline.results",
    "DEFAULT_BLEND": "moscale_cli.pipeline.defaults",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'moscale_cli.pipeline' has no attribute {name!r}")
