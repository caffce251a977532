"""Small curve helpers for authoring motion: smooth steps, key-frame interpolation, bumps, filters."""

from __future__ import annotations

import numpy as np


def smoothstep(x: np.ndarray | float) -> np.ndarray:
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    return x * x * x * (x * (6 * x - 15) + 10)


def keys(n: int, times: list[float], values: list) -> np.ndarray:
    """Values at key frames, interpolated by a monotone cubic (PCHIP: no overshoot, zero velocity at
    holds and turning points, velocity carried through keys that continue a movement), held outside."""
    from scipy.interpolate import PchipInterpolator

    vals = np.asarray(values, dtype=np.float64)
    tk = np.asarray(times, dtype=np.float64).copy()
    for i in range(1, len(tk)):  # strictly increasing times
        tk[i] = max(tk[i], tk[i - 1] + 1e-3)
    t = np.clip(np.arange(n, dtype=np.float64), tk[0], tk[-1])
    if len(tk) == 1:
        return np.repeat(vals[:1], n, 0)
    return PchipInterpolator(tk, vals, axis=0)(t)


def bump(n: int, center: float, width: float) -> np.ndarray:
    """A smooth 0..1..0 bump of total width ``width`` frames centred at ``center`` (sin^2 shape)."""
    t = np.arange(n, dtype=np.float64)
    x = np.clip((t - center) / width + 0.5, 0.0, 1.0)
    return np.sin(np.pi * x) ** 2


def gaussian_smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return x
    r = int(np.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    xp = np.concatenate([np.repeat(x[:1], r, 0), x, np.repeat(x[-1:], r, 0)])
    return np.convolve(xp, k, mode="valid")


def max_filter(x: np.ndarray, radius: int) -> np.ndarray:
    xp = np.concatenate([np.repeat(x[:1], radius), x, np.repeat(x[-1:], radius)])
    win = np.lib.stride_tricks.sliding_window_view(xp, 2 * radius + 1)
    return win.max(-1)
