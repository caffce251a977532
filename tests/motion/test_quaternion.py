"""Quaternion helpers: algebra identities, conversions, numpy/torch agreement."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from moscale_cli.motion.quaternion import (
    axis_angle_to_quat,
    closest_euler,
    cont6d_to_matrix,
    cont6d_to_quat,
    euler_to_matrix,
    euler_to_quat,
    matrix_to_euler,
    matrix_to_quat,
    qbetween,
    qinv,
    qmul,
    qnormalize,
    qrot,
    qslerp,
    quat_to_cont6d,
    quat_to_euler,
    quat_to_matrix,
    rotation_angle,
)

ORDERS = ["XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"]


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _rand_quats(rng, n=200):
    return qnormalize(rng.normal(size=(n, 4)))


def _same_rotation(q1, q2):
    return np.abs(np.abs((q1 * q2).sum(-1)) - 1).max()


def test_qrot_matches_matrix_and_scipy(rng):
    q = _rand_quats(rng)
    v = rng.normal(size=(200, 3))
    m = quat_to_matrix(q)
    assert np.abs(qrot(q, v) - np.einsum("nij,nj->ni", m, v)).max() < 1e-12
    scipy_m = Rotation.from_quat(q[:, [1, 2, 3, 0]]).as_matrix()  # scipy is (x, y, z, w)
    assert np.abs(m - scipy_m).max() < 1e-12


def test_qmul_composes_and_qinv_inverts(rng):
    a, b = _rand_quats(rng), _rand_quats(rng)
    v = rng.normal(size=(200, 3))
    assert np.abs(qrot(qmul(a, b), v) - qrot(a, qrot(b, v))).max() < 1e-12
    assert np.abs(qrot(qinv(a), qrot(a, v)) - v).max() < 1e-12
    assert np.abs(qmul(a, qinv(a)) - np.array([1.0, 0, 0, 0])).max() < 1e-12


def test_qrot_of_known_rotation():
    q = np.array([np.cos(np.pi / 4), 0.0, np.sin(np.pi / 4), 0.0])  # +90 degrees about +Y
    assert np.allclose(qrot(q, np.array([0.0, 0.0, 1.0])), [1.0, 0.0, 0.0])


def test_qbetween_general_parallel_and_opposite(rng):
    v0, v1 = rng.normal(size=(300, 3)), rng.normal(size=(300, 3)) * 3
    v1[:100] = -v0[:100] * 2.0  # opposite
    v1[100:150] = v0[100:150] * 0.5  # parallel
    v1[150] = [0.0, 0.0, 1.0]
    v0[150] = [0.0, 0.0, -1.0]
    q = qbetween(v0, v1)
    assert np.isfinite(q).all() and (q[:, 0] >= 0).all()
    n0 = v0 / np.linalg.norm(v0, axis=-1, keepdims=True)
    n1 = v1 / np.linalg.norm(v1, axis=-1, keepdims=True)
    assert np.abs(qrot(q, n0) - n1).max() < 1e-9
    assert np.abs(q[100:150] - np.array([1.0, 0, 0, 0])).max() < 1e-9
    # minimal rotation: the angle equals the angle between the vectors
    ang = 2 * np.arccos(np.clip(q[150:, 0], -1, 1))
    ref = np.arccos(np.clip((n0[150:] * n1[150:]).sum(-1), -1, 1))
    assert np.abs(ang - ref).max() < 1e-6


def test_matrix_quat_round_trip_including_half_turns(rng):
    q = _rand_quats(rng)
    q[:3] = [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]  # w = 0 cases
    q2 = matrix_to_quat(quat_to_matrix(q))
    assert (q2[:, 0] >= 0).all()
    assert _same_rotation(q, q2) < 1e-12


def test_cont6d_is_first_two_columns(rng):
    q = _rand_quats(rng)
    m = quat_to_matrix(q)
    d6 = quat_to_cont6d(q)
    assert np.array_equal(d6[:, :3], m[:, :, 0]) and np.array_equal(d6[:, 3:], m[:, :, 1])
    assert np.abs(cont6d_to_matrix(d6) - m).max() < 1e-12
    assert _same_rotation(cont6d_to_quat(d6), q) < 1e-12
    # decoding orthonormalises a perturbed 6D vector
    noisy = cont6d_to_matrix(d6 + rng.normal(scale=0.05, size=d6.shape))
    assert np.abs(np.einsum("nji,njk->nik", noisy, noisy) - np.eye(3)).max() < 1e-12
    assert np.abs(np.linalg.det(noisy) - 1).max() < 1e-12


@pytest.mark.parametrize("order", ORDERS)
def test_euler_intrinsic_orders_match_scipy_and_round_trip(order, rng):
    e = rng.uniform(-179, 179, size=(200, 3))
    e[:, 1] = rng.uniform(-89, 89, size=200)
    q = euler_to_quat(e, order)
    ref = Rotation.from_euler(order, e, degrees=True).as_matrix()  # upper case = intrinsic in scipy
    assert np.abs(quat_to_matrix(q) - ref).max() < 1e-12
    assert np.abs(quat_to_euler(q, order) - e).max() < 1e-9
    rad = quat_to_euler(q, order, degrees=False)
    assert _same_rotation(euler_to_quat(rad, order, degrees=False), q) < 1e-12


@pytest.mark.parametrize("order", ORDERS)
def test_euler_gimbal_lock_keeps_the_rotation(order):
    q = euler_to_quat(np.array([[30.0, 90.0, 20.0], [-50.0, -90.0, 10.0]]), order)
    assert _same_rotation(euler_to_quat(quat_to_euler(q, order), order), q) < 1e-9


def test_euler_rejects_bad_order():
    with pytest.raises(ValueError):
        euler_to_quat(np.zeros(3), "XXY")


def test_zxy_means_rz_rx_ry():
    e = np.array([10.0, 20.0, 30.0])
    rz, rx, ry = (Rotation.from_euler(a, x, degrees=True).as_matrix() for a, x in zip("zxy", e, strict=True))
    assert np.abs(quat_to_matrix(euler_to_quat(e, "ZXY")) - rz @ rx @ ry).max() < 1e-12


def test_qslerp_endpoints_midpoint_and_shortest_arc(rng):
    a, b = _rand_quats(rng, 50), _rand_quats(rng, 50)
    assert _same_rotation(qslerp(a, b, 0.0), a) < 1e-12
    assert _same_rotation(qslerp(a, b, 1.0), b) < 1e-12
    mid = qslerp(a, b, 0.5)
    # the midpoint is equally far from both ends
    da = np.arccos(np.clip(np.abs((mid * a).sum(-1)), -1, 1))
    db = np.arccos(np.clip(np.abs((mid * b).sum(-1)), -1, 1))
    assert np.abs(da - db).max() < 1e-9
    assert _same_rotation(qslerp(a, -a, 0.3), a) < 1e-12  # q and -q: no motion
    t = np.linspace(0, 1, 5)
    assert qslerp(a[0], b[0], t).shape == (5, 4)


def test_torch_matches_numpy_and_has_gradients(rng):
    q, v = _rand_quats(rng), rng.normal(size=(200, 3))
    qt = torch.tensor(q, requires_grad=True)
    vt = torch.tensor(v)
    out = qrot(qt, vt)
    assert isinstance(out, torch.Tensor)
    assert np.abs(out.detach().numpy() - qrot(q, v)).max() < 1e-12
    out.sum().backward()
    assert qt.grad is not None and torch.isfinite(qt.grad).all()
    d6 = torch.tensor(quat_to_cont6d(q))
    for fn in (cont6d_to_matrix, cont6d_to_quat):
        assert np.abs(fn(d6).numpy() - fn(d6.numpy())).max() < 1e-12
    assert (
        np.abs(
            matrix_to_quat(torch.tensor(quat_to_matrix(q))).numpy() - matrix_to_quat(quat_to_matrix(q))
        ).max()
        < 1e-12
    )
    e = torch.tensor(rng.uniform(-80, 80, size=(20, 3)))
    assert np.abs(quat_to_euler(euler_to_quat(e, "ZYX"), "ZYX").numpy() - e.numpy()).max() < 1e-9
    assert np.abs(qbetween(torch.tensor(v), -torch.tensor(v)).numpy() - qbetween(v, -v)).max() < 1e-12
    assert (
        np.abs(
            qslerp(torch.tensor(q[:5]), torch.tensor(q[5:10]), 0.25).numpy() - qslerp(q[:5], q[5:10], 0.25)
        ).max()
        < 1e-12
    )


def test_float32_stays_float32(rng):
    q = _rand_quats(rng).astype(np.float32)
    assert qmul(q, q).dtype == np.float32
    assert qrot(q, np.ones((200, 3), np.float32)).dtype == np.float32
    assert qrot(torch.from_numpy(q), torch.ones(200, 3)).dtype == torch.float32


@pytest.mark.parametrize("order", ORDERS)
def test_euler_matrices_match_scipy_and_quaternions(order, rng):
    e = rng.uniform(-180, 180, size=(100, 3))
    ref = Rotation.from_euler(order, e, degrees=True).as_matrix()
    assert np.abs(euler_to_matrix(e, order) - ref).max() < 1e-12
    assert np.abs(euler_to_matrix(e, order) - quat_to_matrix(euler_to_quat(e, order))).max() < 1e-12
    back = matrix_to_euler(ref, order)
    assert np.abs(euler_to_matrix(back, order) - ref).max() < 1e-12
    q = euler_to_quat(e, order)
    assert np.array_equal(quat_to_euler(q, order), matrix_to_euler(quat_to_matrix(q), order))


def test_euler_matrix_takes_one_or_two_axes(rng):
    e = rng.uniform(-180, 180, size=(20, 2))
    ref = Rotation.from_euler("ZX", e, degrees=True).as_matrix()
    assert np.abs(euler_to_matrix(e, "ZX") - ref).max() < 1e-12
    one = Rotation.from_euler("Y", e[:, :1], degrees=True).as_matrix()
    assert np.abs(euler_to_matrix(e[:, :1], "Y") - one).max() < 1e-12
    with pytest.raises(ValueError):
        euler_to_matrix(e, "ZW")


@pytest.mark.parametrize("order", ORDERS)
def test_closest_euler_same_rotation_nearest_reference(order, rng):
    e = rng.uniform(-180, 180, size=(200, 3))
    e[:, 1] = rng.uniform(-85, 85, size=200)
    m = euler_to_matrix(e, order)
    # references near the second triple (a+180, 180-b, c+180) shifted by whole turns
    alt = np.stack([e[:, 0] + 180 + 360, 180 - e[:, 1], e[:, 2] + 180 - 720], -1)
    for ref in (e + rng.normal(scale=5, size=e.shape) + 360, alt + rng.normal(scale=5, size=e.shape)):
        got = closest_euler(matrix_to_euler(m, order), ref, order)
        assert np.abs(euler_to_matrix(got, order) - m).max() < 1e-9
        assert np.abs(got - ref).max() < 30.0
    t = torch.from_numpy(e)
    assert torch.allclose(closest_euler(t, t + 360.0, order), t + 360.0)


def test_rotation_angle_and_axis_angle(rng):
    axis = qnormalize(rng.normal(size=(50, 3)))
    ang = rng.uniform(0, np.pi, size=50)
    q = axis_angle_to_quat(axis, ang)
    assert np.abs(rotation_angle(quat_to_matrix(q)) - ang).max() < 1e-6
    ref = Rotation.from_rotvec(axis * ang[:, None]).as_matrix()
    assert np.abs(quat_to_matrix(q) - ref).max() < 1e-12
