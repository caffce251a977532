"""Dataclass configs with a JSON round-trip.

Each component keeps its own config dataclass beside its code (``models/tokenizer.py`` holds
``TokenizerConfig``, ``models/generator.py`` holds ``GeneratorConfig``, ``training/loop.py`` holds
``TrainConfig``); they all derive from :class:`ConfigBase` defined here, so that every config
serialises the same way and unknown or missing keys are reported by name.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import types
import typing
from typing import Any, TypeVar

from moscale_cli.errors import ConfigError

T = TypeVar("T", bound="ConfigBase")


class ConfigValueError(ConfigError):
    """A config value of the wrong type: names the key, the value and what is allowed."""

    def __init__(self, owner: str, key: str, value: Any, allowed: str) -> None:
        self.owner, self.key, self.value, self.allowed = owner, key, value, allowed
        super().__init__(f"{owner}: {key} must be {allowed}, got {json.dumps(value) if _jsonable(value) else repr(value)}")


def _jsonable(v: Any) -> bool:
    try:
        json.dumps(v)
        return True
    except (TypeError, ValueError):
        return False


_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp in _NAMES:
        return _NAMES[tp]
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        opt = len(args) < len(typing.get_args(tp))
        return " or ".join(_describe(a) for a in args) + (" or null" if opt else "")
    if origin in (tuple, list):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return f"a list of {_describe(args[0]).removeprefix('an ').removeprefix('a ')}s" if args else "a list"
    if origin is dict or tp is dict:
        return "an object"
    return getattr(tp, "__name__", str(tp))


def _matches(tp: Any, v: Any) -> bool | None:
    """True/False when ``v`` fits the annotation ``tp``; None when the annotation is not one we check."""
    origin = typing.get_origin(tp)
    if tp is bool:
        return isinstance(v, bool)
    if tp is int:
        return isinstance(v, numbers.Integral) and not isinstance(v, bool)
    if tp is float:
        return isinstance(v, numbers.Real) and not isinstance(v, bool) and not (isinstance(v, float) and math.isnan(v))
    if tp is str:
        return isinstance(v, str)
    if origin in (typing.Union, types.UnionType):
        res = [_matches(a, v) if a is not type(None) else v is None for a in typing.get_args(tp)]
        return None if any(r is None for r in res) and not any(res) else any(bool(r) for r in res)
    if origin in (tuple, list):
        if not isinstance(v, (list, tuple)):
            return False
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        if len(args) == 1 or (origin is tuple and len(typing.get_args(tp)) == 2 and typing.get_args(tp)[1] is Ellipsis):
            return all(_matches(args[0], x) is not False for x in v)
        return None
    if origin is dict or tp is dict:
        return isinstance(v, dict)
    return None


def check_field_types(cls: type, d: dict[str, Any]) -> None:
    """:class:`ConfigValueError` for the first value of ``d`` whose type does not fit its field's annotation
    (ints for int fields, numbers for float fields, lists of ints for ``tuple[int, ...]``, ...); annotations
    that are not plain types, unions, lists, tuples or dicts are not checked."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - an annotation that does not resolve here: no type checks
        return
    for f in dataclasses.fields(cls):
        if f.name in d and f.name in hints and _matches(hints[f.name], d[f.name]) is False:
            raise ConfigValueError(cls.__name__, f.name, d[f.name], _describe(hints[f.name]))


@dataclasses.dataclass
class ConfigBase:
    """Base for config dataclasses: ``to_dict``/``from_dict``/``diff`` with clear errors."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls: type[T], d: dict[str, Any], strict: bool = True) -> T:
        """Build from a JSON object: unknown keys (``strict``) and values of the wrong type
        (:class:`ConfigValueError`, see :func:`check_field_types`) raise :class:`ConfigError`."""
        if not isinstance(d, dict):
            shown = json.dumps(d) if _jsonable(d) else repr(d)
            raise ConfigError(f"{cls.__name__}: expected an object of settings, got {shown}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown and strict:
            raise ConfigError(f"{cls.__name__}: unknown keys {', '.join(unknown)}")
        check_field_types(cls, d)
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
        except ConfigError:
            raise
        except (TypeError, ValueError, ZeroDivisionError, OverflowError) as e:  # a check in __post_init__ tripped
            raise ConfigError(f"{cls.__name__}: {type(e).__name__}: {e}") from None

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
