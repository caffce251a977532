"""Small vectorised rotation-matrix helpers used by BVH export/import (numpy, float64)."""

from __future__ import annotations

import numpy as np


def normalize(v: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, eps)


def skew(k: np.ndarray) -> np.ndarray:
    """(..., 3) -> (..., 3, 3) cross-product matrices."""
    z = np.zeros(k.shape[:-1])
    return np.stack(
        [
            np.stack([z, -k[..., 2], k[..., 1]], -1),
            np.stack([k[..., 2], z, -k[..., 0]], -1),
            np.stack([-k[..., 1], k[..., 0], z], -1),
        ],
        -2,
    )


def axis_angle(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotation matrices about unit ``axis`` (..., 3) by ``angle`` (...) radians (Rodrigues)."""
    k = skew(axis)
    s = np.sin(angle)[..., None, None]
    c = np.cos(angle)[..., None, None]
    return np.eye(3) + s * k + (1.0 - c) * (k @ k)


def swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Minimal rotation matrices taking direction ``a`` onto direction ``b`` (both (..., 3), any length).

    Antiparallel pairs get a half turn about an axis perpendicular to ``a``.
    """
    a = normalize(np.asarray(a, dtype=np.float64))
    b = normalize(np.asarray(b, dtype=np.float64))
    a, b = np.broadcast_arrays(a, b)
    k = np.cross(a, b)
    c = np.sum(a * b, axis=-1)
    kx = skew(k)
    denom = np.maximum(1.0 + c, 1e-9)[..., None, None]
    out = np.eye(3) + kx + (kx @ kx) / denom
    bad = c < -1.0 + 1e-6
    if np.any(bad):
        ab = a[bad]
        helper = np.where(np.abs(ab[:, :1]) < 0.9, np.array([[1.0, 0, 0]]), np.array([[0, 1.0, 0]]))
        perp = normalize(np.cross(ab, helper))
        out[bad] = axis_angle(perp, np.full(len(ab), np.pi))
    return out


def kabsch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Rotations R (T, 3, 3) minimising sum_i |R src_i - dst_t,i|^2; src (N, 3), dst (T, N, 3)."""
    h = np.einsum("ni,tnj->tij", src, dst)  # sum_n src_n dst_n^T
    u, _, vt = np.linalg.svd(h)
    v = np.swapaxes(vt, -1, -2)
    ut = np.swapaxes(u, -1, -2)
    d = np.sign(np.linalg.det(v @ ut))
    d[d == 0] = 1.0
    diag = np.zeros(h.shape)
    diag[:, 0, 0] = 1.0
    diag[:, 1, 1] = 1.0
    diag[:, 2, 2] = d
    return v @ diag @ ut


def rotation_angle(r: np.ndarray) -> np.ndarray:
    """Angle (radians) of rotation matrices (..., 3, 3)."""
    tr = np.trace(r, axis1=-2, axis2=-1)
    return np.arccos(np.clip((tr - 1.0) / 2.0, -1.0, 1.0))


def euler_to_matrix(angles_deg: np.ndarray, order: str) -> np.ndarray:
    """Intrinsic Euler angles (..., k) in degrees, ``order`` like "ZXY" -> R = R_Z @ R_X @ R_Y."""
    angles = np.radians(np.asarray(angles_deg, dtype=np.float64))
    out = np.broadcast_to(np.eye(3), angles.shape[:-1] + (3, 3)).copy()
    for i, ax in enumerate(order):
        c, s = np.cos(angles[..., i]), np.sin(angles[..., i])
        m = np.zeros(angles.shape[:-1] + (3, 3))
        a = "XYZ".index(ax)
        b, d = [x for x in range(3) if x != a]
        m[..., a, a] = 1.0
        m[..., b, b] = c
        m[..., d, d] = c
        # right-handed: X: (y,z), Y: (z,x), Z: (x,y)
        if ax == "Y":
            m[..., d, b] = -s
            m[..., b, d] = s
        else:
            m[..., b, d] = -s
            m[..., d, b] = s
        out = out @ m
    return out
