"""moscale: text-to-motion generation with next-scale autoregressive models (MoScale)."""

__version__ = "0.2.0"

__all__ = ["__version__"]
