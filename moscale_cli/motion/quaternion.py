"""(w, x, y, z) Hamilton quaternions and rotation conversions for numpy arrays and torch tensors.

Every function takes arrays of shape (..., 4) (or (..., 3) vectors, (..., 3, 3) matrices, (..., 6) 6D
rotations) and returns the same kind of array it was given: numpy in -> numpy out, torch in -> torch
out (differentiable). torch is never imported here; a tensor is recognised through ``sys.modules``.

Conventions (HumanML3D's ``common/quaternion.py``):
- ``qmul(a, b)`` is the Hamilton product; ``qrot(q, v)`` is the active rotation of v by q;
- ``qinv`` negates the vector part (the inverse of a unit quaternion);
- 6D = the first two columns of the rotation matrix, concatenated (col0, col1);
- Euler orders are intrinsic, as BVH channel orders use them: ``"ZXY"`` means R = Rz @ Rx @ Ry.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

Array = Any  # numpy.ndarray or torch.Tensor

_AXES = {"X": 0, "Y": 1, "Z": 2}


def is_torch(x: Any) -> bool:
    """True when ``x`` is a torch tensor (without importing torch)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _xp(x: Any):
    return sys.modules["torch"] if is_torch(x) else np


def _cat(xs: list, axis: int = -1) -> Array:
    return _xp(xs[0]).cat(xs, dim=axis) if is_torch(xs[0]) else np.concatenate(xs, axis=axis)


def _stack(xs: list, axis: int = -1) -> Array:
    return _xp(xs[0]).stack(xs, dim=axis) if is_torch(xs[0]) else np.stack(xs, axis=axis)


def _as_like(v: Any, like: Array) -> Array:
    """``v`` as an array of the kind, dtype (floating) and device of ``like``."""
    if is_torch(like):
        torch = sys.modules["torch"]
        if is_torch(v):
            return v.to(dtype=like.dtype, device=like.device)
        return torch.as_tensor(np.asarray(v), dtype=like.dtype, device=like.device)
    dtype = like.dtype if np.issubdtype(np.asarray(like).dtype, np.floating) else np.float64
    return np.asarray(v, dtype=dtype)


def _float(x: Any) -> Array:
    if is_torch(x):
        return x if x.is_floating_point() else x.float()
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)


def _broadcast_pair(a: Array, b: Array, tail_a: int, tail_b: int) -> tuple[Array, Array]:
    """Broadcast the leading (batch) dimensions of two arrays with different trailing sizes."""
    lead = np.broadcast_shapes(tuple(a.shape[:-1]), tuple(b.shape[:-1]))
    if is_torch(a):
        return a.expand(*lead, tail_a), b.expand(*lead, tail_b)
    return np.broadcast_to(a, (*lead, tail_a)), np.broadcast_to(b, (*lead, tail_b))


def cross(a: Array, b: Array) -> Array:
    """Cross product over the last axis (numpy or torch, broadcasting)."""
    ax, ay, az = a[..., 0], a[..., 1], a[..., 2]
    bx, by, bz = b[..., 0], b[..., 1], b[..., 2]
    return _stack([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx])


def dot(a: Array, b: Array) -> Array:
    """Dot product over the last axis, keeping it as size 1."""
    return (a * b).sum(-1)[..., None]


def normalize(v: Array, eps: float = 1e-12) -> Array:
    """``v / |v|`` over the last axis (zero vectors stay zero)."""
    xp = _xp(v)
    n = xp.sqrt((v * v).sum(-1))[..., None]
    return v / xp.clip(n, eps, None) if xp is np else v / n.clamp_min(eps)


# ---------------------------------------------------------------- quaternion algebra


def qnormalize(q: Array) -> Array:
    return normalize(_float(q))


def qinv(q: Array) -> Array:
    """Conjugate (the inverse of a unit quaternion)."""
    q = _float(q)
    sign = _as_like([1.0, -1.0, -1.0, -1.0], q)
    return q * sign


def qmul(a: Array, b: Array) -> Array:
    """Hamilton product a * b (broadcasting over leading axes)."""
    a, b = _float(a), _float(b)
    aw, ax, ay, az = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bw, bx, by, bz = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return _stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ]
    )


def qrot(q: Array, v: Array) -> Array:
    """Rotate vectors v (..., 3) by unit quaternions q (..., 4): v + 2w(u x v) + 2u x (u x v)."""
    q, v = _float(q), _float(v)
    u = q[..., 1:]
    w = q[..., :1]
    uv = cross(u, v)
    return v + 2.0 * (w * uv + cross(u, uv))


def qbetween(v0: Array, v1: Array) -> Array:
    """The minimal rotation taking the direction of v0 onto the direction of v1 (w >= 0).

    Robust for (anti)parallel vectors: opposite vectors give a half turn about an axis
    perpendicular to v0 (the cross product of v0 with its least-aligned coordinate axis).
    """
    v0, v1 = _float(v0), _float(v1)
    v0, v1 = _broadcast_pair(v0, v1, 3, 3)
    xp = _xp(v0)
    a, b = normalize(v0), normalize(v1)
    c = cross(a, b)
    w = 1.0 + dot(a, b)
    q = _cat([w, c])
    # opposite vectors: w ~ 0 and c ~ 0; use a perpendicular axis instead
    absa = xp.abs(a)
    if xp is np:
        k = np.argmin(absa, axis=-1)
        e = np.eye(3, dtype=a.dtype)[k]
    else:
        k = absa.argmin(dim=-1)
        e = xp.eye(3, dtype=a.dtype, device=a.device)[k]
    perp = normalize(cross(a, e))
    q_opp = _cat([xp.zeros_like(w), perp])
    bad = w < 1e-6
    q = xp.where(bad, q_opp, q)
    return normalize(q)


def yaw_quat(angle: Array) -> Array:
    """Quaternion of a rotation by ``angle`` (radians) about +Y: (cos a/2, 0, sin a/2, 0)."""
    angle = _float(angle)
    xp = _xp(angle)
    h = angle / 2.0
    z = xp.zeros_like(h)
    return _stack([xp.cos(h), z, xp.sin(h), z])


def qslerp(q0: Array, q1: Array, t: Array | float) -> Array:
    """Spherical linear interpolation along the shortest arc; ``t`` broadcasts against (...)."""
    q0, q1 = qnormalize(q0), qnormalize(q1)
    xp = _xp(q0)
    t = _as_like(t, q0)
    if t.ndim == 0:
        t = t[None]
    t = t[..., None]
    d = dot(q0, q1)
    q1 = xp.where(d < 0, -q1, q1)
    d = xp.abs(d)
    d = xp.clip(d, -1.0, 1.0)
    theta = xp.arccos(d)
    s = xp.sin(theta)
    small = s < 1e-6
    s_safe = xp.where(small, xp.ones_like(s), s)
    w0 = xp.where(small, 1.0 - t, xp.sin((1.0 - t) * theta) / s_safe)
    w1 = xp.where(small, t, xp.sin(t * theta) / s_safe)
    return qnormalize(w0 * q0 + w1 * q1)


# ---------------------------------------------------------------- matrices and 6D


def quat_to_matrix(q: Array) -> Array:
    """Unit quaternions (..., 4) -> rotation matrices (..., 3, 3) acting on column vectors."""
    q = qnormalize(q)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return _stack([_stack(r, axis=-1) for r in rows], axis=-2)


def matrix_to_quat(m: Array) -> Array:
    """Rotation matrices (..., 3, 3) -> unit quaternions (..., 4) with w >= 0 (numerically robust)."""
    m = _float(m)
    xp = _xp(m)
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # four candidates, each accurate when its leading component is large (Shepperd's method)
    tr = _stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22])
    cands = _stack(
        [
            _stack([tr[..., 0], m21 - m12, m02 - m20, m10 - m01]),
            _stack([m21 - m12, tr[..., 1], m10 + m01, m02 + m20]),
            _stack([m02 - m20, m10 + m01, tr[..., 2], m21 + m12]),
            _stack([m10 - m01, m02 + m20, m21 + m12, tr[..., 3]]),
        ],
        axis=-2,
    )  # (..., 4 candidates, 4)
    if xp is np:
        k = np.argmax(tr, axis=-1)[..., None, None]
        q = np.take_along_axis(cands, np.broadcast_to(k, (*k.shape[:-1], 4)), axis=-2)[..., 0, :]
    else:
        k = tr.argmax(dim=-1)[..., None, None].expand(*tr.shape[:-1], 1, 4)
        q = cands.gather(-2, k)[..., 0, :]
    q = normalize(q)
    return xp.where(q[..., :1] < 0, -q, q)


def quat_to_cont6d(q: Array) -> Array:
    """Quaternions (..., 4) -> 6D rotations (..., 6): matrix columns 0 and 1 concatenated."""
    m = quat_to_matrix(q)
    return _cat([m[..., :, 0], m[..., :, 1]])


def matrix_to_cont6d(m: Array) -> Array:
    return _cat([m[..., :, 0], m[..., :, 1]])


def cont6d_to_matrix(d6: Array) -> Array:
    """6D rotations (..., 6) -> matrices: x = norm(a), z = norm(x cross b), y = z cross x; columns [x y z]."""
    d6 = _float(d6)
    x = normalize(d6[..., 0:3])
    z = normalize(cross(x, d6[..., 3:6]))
    y = cross(z, x)
    return _stack([x, y, z], axis=-1)


def cont6d_to_quat(d6: Array) -> Array:
    return matrix_to_quat(cont6d_to_matrix(d6))


# ---------------------------------------------------------------- Euler angles


def _check_order(order: str) -> str:
    order = order.upper()
    if len(order) != 3 or set(order) != {"X", "Y", "Z"}:
        raise ValueError(f"Euler order must be a permutation of 'XYZ' (e.g. 'ZXY'), got {order!r}")
    return order


def _axis_quat(axis: int, angle: Array) -> Array:
    xp = _xp(angle)
    h = angle / 2.0
    z = xp.zeros_like(h)
    comps = [xp.cos(h), z, z, z]
    comps[axis + 1] = xp.sin(h)
    return _stack(comps)


def euler_to_quat(e: Array, order: str = "ZYX", degrees: bool = True) -> Array:
    """Intrinsic Euler angles (..., 3), given in the order's axis order, to quaternions.

    ``order="ZXY"`` with angles (a, b, c) means R = Rz(a) @ Rx(b) @ Ry(c), as in a BVH channel list
    ``Zrotation Xrotation Yrotation``.
    """
    order = _check_order(order)
    e = _float(e)
    if degrees:
        e = e * (np.pi / 180.0)
    q = _axis_quat(_AXES[order[0]], e[..., 0])
    for i in (1, 2):
        q = qmul(q, _axis_quat(_AXES[order[i]], e[..., i]))
    return q


def quat_to_euler(q: Array, order: str = "ZYX", degrees: bool = True) -> Array:
    """Quaternions to intrinsic Euler angles (..., 3) in the order's axis order (inverse of euler_to_quat).

    The middle angle lies in [-90, 90] degrees; at gimbal lock the last angle is set to 0.
    """
    return matrix_to_euler(quat_to_matrix(q), order, degrees)


def matrix_to_euler(m: Array, order: str = "ZYX", degrees: bool = True) -> Array:
    """Rotation matrices (..., 3, 3) to intrinsic Euler angles (..., 3) (see :func:`quat_to_euler`)."""
    order = _check_order(order)
    m = _float(m)
    xp = _xp(m)
    i, j, k = (_AXES[c] for c in order)
    s = 1.0 if (i, j, k) in ((0, 1, 2), (1, 2, 0), (2, 0, 1)) else -1.0
    sb = xp.clip(s * m[..., i, k], -1.0, 1.0)
    b = xp.arcsin(sb)
    a = xp.arctan2(-s * m[..., j, k], m[..., k, k])
    c = xp.arctan2(-s * m[..., i, j], m[..., i, i])
    # gimbal lock: only a +/- c is defined; put everything into a
    locked = xp.abs(sb) > 1.0 - 1e-9
    a_lock = xp.arctan2(s * m[..., k, j], m[..., j, j])
    a = xp.where(locked, a_lock, a)
    c = xp.where(locked, xp.zeros_like(c), c)
    out = _stack([a, b, c])
    return out * (180.0 / np.pi) if degrees else out


def _axis_matrix(axis: int, angle: Array) -> Array:
    xp = _xp(angle)
    c, s = xp.cos(angle), xp.sin(angle)
    o, z = xp.ones_like(angle), xp.zeros_like(angle)
    if axis == 0:
        rows = [[o, z, z], [z, c, -s], [z, s, c]]
    elif axis == 1:
        rows = [[c, z, s], [z, o, z], [-s, z, c]]
    else:
        rows = [[c, -s, z], [s, c, z], [z, z, o]]
    return _stack([_stack(r, axis=-1) for r in rows], axis=-2)


def euler_to_matrix(e: Array, order: str = "ZYX", degrees: bool = True) -> Array:
    """Intrinsic rotations about the axes of ``order`` (..., len(order)) to matrices (..., 3, 3).

    ``order`` is any sequence of the letters X, Y, Z (a BVH joint may list one, two or three rotation
    channels): ``"ZXY"`` gives Rz(a) @ Rx(b) @ Ry(c), as :func:`euler_to_quat`.
    """
    order = order.upper()
    if not order or set(order) - set("XYZ"):
        raise ValueError(f"rotation axes must be letters X, Y, Z (e.g. 'ZXY'), got {order!r}")
    e = _float(e)
    if degrees:
        e = e * (np.pi / 180.0)
    m = _axis_matrix(_AXES[order[0]], e[..., 0])
    for i in range(1, len(order)):
        m = m @ _axis_matrix(_AXES[order[i]], e[..., i])
    return m


def closest_euler(e: Array, ref: Array, order: str = "ZYX") -> Array:
    """Of the Euler triples (degrees) of the same rotations as ``e``, the ones nearest to ``ref`` (...,3).

    Each rotation has two triples, (a, b, c) and (a + 180, 180 - b, c + 180), each defined modulo 360
    per angle; picking the nearest keeps written channel curves continuous with their neighbours.
    """
    _check_order(order)
    e, ref = _float(e), _as_like(ref, _float(e))
    xp = _xp(e)
    alt = e + _as_like([180.0, 0.0, 180.0], e)
    alt = _stack([alt[..., 0], 180.0 - e[..., 1], alt[..., 2]])
    best, best_d = None, None
    for cand in (e, alt):
        wrapped = ref + (cand - ref + 180.0) % 360.0 - 180.0
        d = xp.abs(wrapped - ref).sum(-1)
        if best is None:
            best, best_d = wrapped, d
        else:
            pick = (d < best_d)[..., None]
            best = xp.where(pick, wrapped, best)
            best_d = xp.where(d < best_d, d, best_d)
    return best


def rotation_angle(m: Array) -> Array:
    """Angle (radians, in [0, pi]) of rotation matrices (..., 3, 3)."""
    m = _float(m)
    xp = _xp(m)
    tr = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    return xp.arccos(xp.clip((tr - 1.0) / 2.0, -1.0, 1.0))


def axis_angle_to_quat(axis: Array, angle: Array) -> Array:
    """Quaternions of rotations about unit ``axis`` (..., 3) by ``angle`` (...) radians."""
    axis, angle = _float(axis), _float(angle)
    xp = _xp(axis)
    h = _as_like(angle, axis)[..., None] / 2.0
    return _cat([xp.cos(h), axis * xp.sin(h)])
