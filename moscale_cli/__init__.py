"""moscale: text-to-motion generation with next-scale autoregressive models (MoScale)."""

__version__ = "0.1.0"

__all__ = ["__version__"]
