"""Length estimator: pooled text vector -> distribution over motion lengths in tokens.

A motion of F frames has F // unit tokens; the estimator covers ``min_tokens..max_tokens``
(10..49 tokens = 40..196 frames at unit 4) as ``num_classes`` classes. Trained with cross-entropy
(``training/length_stage.py``); used by the pipeline when the user gives no length.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from moscale_cli.config import ConfigBase
from moscale_cli.errors import ConfigError


@dataclass
class LengthConfig(ConfigBase):
    text_dim: int = 384
    hidden: int = 256
    layers: int = 2
    dropout: float = 0.1
    unit: int = 4
    min_frames: int = 40
    max_frames: int = 196

    def __post_init__(self) -> None:
        if self.unit < 1 or self.min_frames < self.unit or self.max_frames < self.min_frames:
            raise ConfigError(
                f"LengthConfig: need 1 <= unit <= min_frames <= max_frames, got unit={self.unit}, "
                f"min_frames={self.min_frames}, max_frames={self.max_frames}"
            )
        if self.layers < 1:
            raise ConfigError(f"LengthConfig: layers must be >= 1, got {self.layers}")

    @property
    def min_tokens(self) -> int:
        return self.min_frames // self.unit

    @property
    def max_tokens(self) -> int:
        return self.max_frames // self.unit

    @property
    def num_classes(self) -> int:
        return self.max_tokens - self.min_tokens + 1


class LengthEstimator(nn.Module):
    """MLP over the pooled text vector; ``forward`` gives logits over ``cfg.num_classes`` lengths."""

    def __init__(self, cfg: LengthConfig):
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = [nn.LayerNorm(cfg.text_dim)]
        d = cfg.text_dim
        for _ in range(cfg.layers - 1):
            layers += [nn.Linear(d, cfg.hidden), nn.GELU(), nn.Dropout(cfg.dropout)]
            d = cfg.hidden
        layers.append(nn.Linear(d, cfg.num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, pooled_BE: torch.Tensor) -> torch.Tensor:
        return self.net(pooled_BE)

    # ------------------------------------------------------------ conversions
    def frames_to_class(self, frames_B: torch.Tensor) -> torch.Tensor:
        """Class index of each length in frames (clamped into the covered range)."""
        tokens = torch.div(frames_B.long(), self.cfg.unit, rounding_mode="floor")
        return (tokens - self.cfg.min_tokens).clamp(0, self.cfg.num_classes - 1)

    def class_to_frames(self, cls_B: torch.Tensor) -> torch.Tensor:
        return (cls_B.long() + self.cfg.min_tokens) * self.cfg.unit

    @torch.no_grad()
    def predict(
        self,
        pooled_BE: torch.Tensor,
        sample: bool = True,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
    ) -> torch.Tensor:
        """Lengths in frames (multiples of ``unit``): drawn from the distribution, or its mode."""
        logits = self.forward(pooled_BE).float()
        if not sample or temperature <= 0:
            cls = logits.argmax(-1)
        else:
            probs = torch.softmax(logits / temperature, dim=-1)
            if generator is not None and generator.device != probs.device:
                probs = probs.to(generator.device)
            cls = torch.multinomial(probs, 1, generator=generator).squeeze(-1).to(logits.device)
        return self.class_to_frames(cls)
