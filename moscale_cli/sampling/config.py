"""``SamplingConfig``: every sampling option and its default, in one place (free of torch imports, so the
CLI can show the defaults in ``--help`` without loading a model).

A new option is added here (field + check), applied in ``sampling/sampler.py`` (the fast path and the
next-token sampler share its functions) and exposed by ``cli/sampling_opts.py``; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from moscale_cli.config import ConfigBase, check_recommended_sampling
from moscale_cli.errors import ConfigError


@dataclass
class SamplingConfig(ConfigBase):
    """Sampling settings; the defaults are the reference's evaluation settings (method spec §5).

    ``cfg=None`` (the default) means "the guidance the model recommends": a model directory may name one in its
    config.json (``"sampling": {"cfg": 2.0}``, chosen on its validation split), and :meth:`for_model` fills it in;
    without one it is the reference's :data:`REFERENCE_CFG` (5). An explicit ``cfg`` always wins."""

    refine_steps: tuple[int, ...] = (1, 2, 5, 10)  # refinement passes per scale, coarse to fine (the paper's T_k)
    cfg: float | None = None  # guidance g (None: the model's, else 5); scale k (0-based) uses g - cfg_decay * (k - 1)
    cfg_decay: float = 0.25
    top_p: float = 0.9  # nucleus: keep the most likely codes whose cumulative probability stays <= top_p (1 = off)
    top_k: int = 0  # keep only the k most likely codes (0 = off; 1 = greedy)
    min_p: float = 0.0  # drop codes less likely than min_p x the most likely one (0 = off)
    temperature: float = 1.0  # <= 0 = greedy
    use_kv_cache: bool = True
    autocast: bool = True  # bf16 autocast on CUDA (no effect on CPU)

    def __post_init__(self) -> None:
        try:
            self.refine_steps = tuple(int(s) for s in self.refine_steps)
        except (TypeError, ValueError):
            raise ConfigError(f"refine steps must be integers, got {self.refine_steps!r}") from None
        if not self.refine_steps or min(self.refine_steps) < 1:
            raise ConfigError(f"refine steps must be positive integers, got {self.refine_steps}")
        if self.cfg is not None and self.cfg < 0:
            raise ConfigError(f"cfg must be >= 0, got {self.cfg}")
        if self.cfg_decay < 0:
            raise ConfigError(f"cfg_decay must be >= 0, got {self.cfg_decay}")
        if not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"top_p must lie in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ConfigError(f"top_k must be >= 0, got {self.top_k}")
        if not 0.0 <= self.min_p <= 1.0:
            raise ConfigError(f"min_p must lie in [0, 1], got {self.min_p}")

    def guidance(self, k: int) -> float:
        """The guidance ``t`` of scale ``k`` (0-based) as the reference computes it: ``g + (k - 1) * -decay``,
        i.e. 5.25, 5.0, 4.75, 4.5 for g = 5 (floored at 0). ``cfg == 0`` means no guidance at any scale."""
        g = self.guidance_scale
        if g == 0:
            return 0.0
        return max(g - self.cfg_decay * (k - 1), 0.0)

    @property
    def guidance_scale(self) -> float:
        """The guidance g in use: ``cfg``, or the reference's 5 when it was left to the model and not resolved."""
        return REFERENCE_CFG if self.cfg is None else float(self.cfg)

    def for_model(self, recommended: Mapping[str, Any] | None) -> SamplingConfig:
        """This config with what was left to the model filled in from the model directory's ``"sampling"``
        block (only ``cfg`` today), else with the reference's values. Explicit settings are kept."""
        if self.cfg is not None:
            return self
        rec = check_recommended_sampling(recommended)
        return replace(self, cfg=rec.get("cfg", REFERENCE_CFG))

    @property
    def passes(self) -> int:
        """Transformer passes per sample (the paper's S; 18 for the defaults)."""
        return sum(self.refine_steps)


REFERENCE_CFG = 5.0  # the reference's guidance g (method spec §5), used when neither the user nor the model sets one
DEFAULT_SAMPLING = SamplingConfig()

__all__ = ["DEFAULT_SAMPLING", "REFERENCE_CFG", "SamplingConfig"]
