"""The sampling flags of every command that samples (generate, edit, inbetween, compose, eval, bench).

A command declares ``sampling: SamplingConfig`` and is decorated with :func:`sampling_options`: the decorator
gives it the flags (the same option objects everywhere, so the same names, defaults and help) and passes the
one :class:`~moscale_cli.sampling.config.SamplingConfig` that :func:`sampling_from_flags` builds. The defaults
are the config's own (``sampling/config.py``): nothing here restates a number. A new option is a field in
``SamplingConfig``, one entry in ``FLAGS`` and a keyword of ``sampling_from_flags``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import typer

from moscale_cli.errors import ConfigError, UsageError
from moscale_cli.sampling.config import DEFAULT_SAMPLING as D
from moscale_cli.sampling.config import SamplingConfig

CFG_OPT = typer.Option(None, "--cfg", show_default="the model's, else 5",
                       help="Classifier-free guidance g (scale k uses g - 0.25 (k - 1); 0 = off). Default: the guidance "
                            "the model directory recommends (config.json \"sampling\"), else the reference's 5.")
REFINE_OPT = typer.Option(",".join(map(str, D.refine_steps)), "--refine-steps",
                          help="Refinement passes per scale, coarse to fine, comma-separated.")
TOP_P_OPT = typer.Option(D.top_p, "--top-p", help="Nucleus sampling: keep the likeliest codes within this mass (1 = off).")
TOP_K_OPT = typer.Option(D.top_k, "--top-k", help="Keep only the k most likely codes (0 = off).")
MIN_P_OPT = typer.Option(D.min_p, "--min-p", help="Drop codes less likely than this fraction of the likeliest (0 = off).")
TEMPERATURE_OPT = typer.Option(D.temperature, "--temperature", help="Sampling temperature (0 = greedy).")


def parse_refine_steps(s: str) -> tuple[int, ...]:
    try:
        steps = tuple(int(x) for x in s.replace(" ", "").split(",") if x)
    except ValueError:
        raise UsageError(f"--refine-steps must be comma-separated integers like 1,2,5,10, got {s!r}") from None
    if not steps or any(x < 1 for x in steps):
        raise UsageError(f"--refine-steps must be positive integers like 1,2,5,10, got {s!r}")
    return steps


def sampling_from_flags(
    cfg: float | None = D.cfg,
    refine_steps: str = REFINE_OPT.default,
    top_p: float = D.top_p,
    top_k: int = D.top_k,
    min_p: float = D.min_p,
    temperature: float = D.temperature,
) -> SamplingConfig:
    """One checked :class:`SamplingConfig` from the flat flags (bad values: a one-line usage error)."""
    try:
        return SamplingConfig(refine_steps=parse_refine_steps(refine_steps), cfg=None if cfg is None else float(cfg), top_p=float(top_p),
                              top_k=int(top_k), min_p=float(min_p), temperature=float(temperature))
    except ConfigError as e:
        raise UsageError(f"bad sampling options: {e}") from None


# (parameter name, type, option): the flags every sampling command gets, in --help order
FLAGS: tuple[tuple[str, type, Any], ...] = (
    ("cfg", float | None, CFG_OPT), ("refine_steps", str, REFINE_OPT), ("top_p", float, TOP_P_OPT),
    ("top_k", int, TOP_K_OPT), ("min_p", float, MIN_P_OPT), ("temperature", float, TEMPERATURE_OPT),
)


def sampling_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Give a Typer command the sampling flags; it receives them as one ``sampling: SamplingConfig``."""
    sig = inspect.signature(fn)
    if "sampling" not in sig.parameters:
        raise TypeError(f"{fn.__name__} needs a 'sampling' parameter")
    params = [p for name, p in sig.parameters.items() if name != "sampling"]
    params += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=opt, annotation=typ)
               for name, typ, opt in FLAGS]

    @functools.wraps(fn)
    def command(*args: Any, **kwargs: Any) -> Any:
        flags = {name: kwargs.pop(name) for name, _, _ in FLAGS}
        return fn(*args, sampling=sampling_from_flags(**flags), **kwargs)

    command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    command.__annotations__ = {**{k: v for k, v in fn.__annotations__.items() if k != "sampling"},
                               **{name: typ for name, typ, _ in FLAGS}}
    return command


__all__ = [
    "FLAGS",
    "sampling_options",
    "CFG_OPT",
    "MIN_P_OPT",
    "REFINE_OPT",
    "TEMPERATURE_OPT",
    "TOP_K_OPT",
    "TOP_P_OPT",
    "parse_refine_steps",
    "sampling_from_flags",
]
