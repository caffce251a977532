"""Dataclass configs with a JSON round-trip.

Each component keeps its own config dataclass beside its code (``models/tokenizer.py`` holds
``TokenizerConfig``, ``models/generator.py`` holds ``GeneratorConfig``, ``training/loop.py`` holds
``TrainConfig``); they all derive from :class:`ConfigBase` defined here, so that every config
serialises the same way and unknown or missing keys are reported by name.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, TypeVar

from moscale_cli.errors import ConfigError

T = TypeVar("T", bound="ConfigBase")


@dataclasses.dataclass
class ConfigBase:
    """Base for config dataclasses: ``to_dict``/``from_dict``/``diff`` with clear errors."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls: type[T], d: dict[str, Any], strict: bool = True) -> T:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown and strict:
            raise ConfigError(f"{cls.__name__}: unknown keys {', '.join(unknown)}")
        kwargs = {}
        for f in dataclasses.fields(cls):
            if f.name not in d:
                continue
            v = d[f.name]
            if isinstance(v, list) and f.type in ("tuple[int, ...]", "tuple[float, ...]", "tuple[str, ...]"):
                v = tuple(v)
            kwargs[f.name] = v
        try:
            return cls(**kwargs)
        except TypeError as e:  # pragma: no cover - dataclass argument errors
            raise ConfigError(f"{cls.__name__}: {e}") from None

    def replace(self: T, **changes: Any) -> T:
        return dataclasses.replace(self, **changes)

    def diff(self, other: ConfigBase) -> list[str]:
        """Keys whose values differ between two configs (as JSON values), sorted."""
        a = json.loads(json.dumps(self.to_dict()))
        b = json.loads(json.dumps(other.to_dict()))
        return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


RECOMMENDED_SAMPLING_KEYS = ("cfg",)


def check_recommended_sampling(d: Any) -> dict[str, float]:
    """A model directory's recommended sampling block (config.json ``"sampling"``, e.g. ``{"cfg": 2.0}``) checked
    and normalised; the one rule used when it is written (``update_model_dir``) and when it is read
    (``SamplingConfig.for_model``). Bad blocks raise :class:`ConfigError`."""
    if d is None:
        return {}
    if not isinstance(d, dict):
        raise ConfigError(f"recommended sampling settings must be an object like {{\"cfg\": 2.0}}, got {d!r}")
    unknown = sorted(set(d) - set(RECOMMENDED_SAMPLING_KEYS))
    if unknown:
        raise ConfigError(f"unknown recommended sampling settings {unknown} (known: {', '.join(RECOMMENDED_SAMPLING_KEYS)})")
    out = {}
    for k, v in d.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
            raise ConfigError(f"recommended sampling setting {k} must be a number >= 0, got {v!r}")
        out[k] = float(v)
    return out
