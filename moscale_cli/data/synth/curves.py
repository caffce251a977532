"""Small curve helpers for authoring motion: smooth steps, key-frame interpolation, bumps, filters."""

from __future__ import annotations

import numpy as np


def smoothstep(x: np.ndarray | float) -> np.ndarray:
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    return x * x * x * (x * (6 * x - 15) + 10)


def keys(n: int, times: list[float], values: list) -> np.ndarray:
    """Values at key frames, smooth (zero-velocity) interpolation between them, held outside."""
    t = np.arange(n, dtype=np.float64)
    vals = np.asarray(values, dtype=np.float64)
    tk = np.asarray(times, dtype=np.float64)
    out = np.empty((n,) + vals.shape[1:])
    idx = np.clip(np.searchsorted(tk, t, side="right") - 1, 0, len(tk) - 1)
    nxt = np.minimum(idx + 1, len(tk) - 1)
    span = np.maximum(tk[nxt] - tk[idx], 1e-9)
    w = np.where(nxt > idx, smoothstep((t - tk[idx]) / span), 0.0)
    w = w.reshape((n,) + (1,) * (vals.ndim - 1))
    out[:] = vals[idx] * (1 - w) + vals[nxt] * w
    return out


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
