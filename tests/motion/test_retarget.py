"""Fitting SMPL-22 motion to a rig's body (motion.retarget) and the two-bone IK it uses (motion.kinematics)."""

from __future__ import annotations

import numpy as np
import pytest

from moscale_cli.motion.kinematics import bone_lengths, impose_bones, two_bone_ik
from moscale_cli.motion.retarget import ARMS, LEGS, fit_motion, motion_leg, rig_body, scale_motion, snap_axes
from moscale_cli.motion.rig import body_axes, rest_values, rig_smpl22
from moscale_cli.motion.skeleton import SMPL22

from .families import family_rig, squat_sway, walk


def test_two_bone_ik_reaches_keeps_lengths_and_bends_where_it_bent():
    rng = np.random.default_rng(0)
    root = rng.normal(size=(50, 3))
    mid = root + rng.normal(size=(50, 3))
    l1, l2 = 0.45, 0.4
    target = root + rng.normal(size=(50, 3)) * 0.3
    m, e = two_bone_ik(root, mid, target, l1, l2, np.array([0.0, 0.0, 1.0]))
    reach = np.linalg.norm(target - root, axis=-1)
    ok = (reach < l1 + l2 - 1e-3) & (reach > abs(l1 - l2) + 1e-3)
    assert ok.sum() > 20
    np.testing.assert_allclose(e[ok], target[ok], atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(m - root, axis=-1), l1, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(e - m, axis=-1), l2, atol=1e-9)
    normal = np.cross(mid - root, target - root)  # the new mid lies in the old bend plane, on the same side
    assert np.abs(np.sum(normal * (m - root), -1)).max() < 1e-9 * np.linalg.norm(normal, axis=-1).max() + 1e-9
    far = root + np.array([2.0, 0.0, 0.0])  # out of reach: stretched towards the target
    m2, e2 = two_bone_ik(root, mid, far, l1, l2, np.array([0.0, 0.0, 1.0]))
    np.testing.assert_allclose(np.linalg.norm(e2 - root, axis=-1), (l1 + l2) * 0.9999, rtol=1e-9)
    np.testing.assert_allclose((e2 - root) / np.linalg.norm(e2 - root, axis=-1, keepdims=True), [[1, 0, 0]] * 50, atol=1e-12)
    # a straight chain (no bend plane) bends towards the pole
    m3, _ = two_bone_ik(root[:1], root[:1] + [[0, -0.45, 0]], root[:1] + [[0, -0.6, 0]], l1, l2, np.array([[0, 0, 1.0]]))
    assert (m3 - root[:1])[0, 2] > 0.1


def test_snap_axes_is_a_rotation_onto_the_nearest_axes():
    np.testing.assert_allclose(snap_axes(np.array([0.02, 1.0, 0.0]), np.array([0.1, 0.05, 0.99])), np.eye(3))
    b = snap_axes(np.array([0.0, 0.1, 0.99]), np.array([0.05, 1.0, 0.2]))  # Z up, facing +Y
    np.testing.assert_allclose(b, [[-1, 0, 0], [0, 0, 1], [0, 1, 0]])
    assert np.isclose(np.linalg.det(b), 1.0)


@pytest.mark.parametrize("family", ["mixamo", "collar", "ue_zup"])
def test_fit_motion_takes_the_rig_bones_and_keeps_the_feet(family):
    rig, _ = family_rig(family)
    mp = family_rig(family)[1].mapping
    pos, rot = rig.forward(rest_values(rig))
    rest22 = rig_smpl22(rig, pos, mp, rotations=rot)[0]
    body = rig_body(rest22, *body_axes(rig, mp, pos[0]))
    j = walk()
    fit, s = fit_motion(j, body)
    assert s == pytest.approx(body.leg / motion_leg(j))
    c = body.to_canonical(fit)
    # every bone has the rig's length
    np.testing.assert_allclose(bone_lengths(SMPL22.parents, c)[:, 1:], np.linalg.norm(body.offsets[1:], axis=-1)[None].repeat(len(j), 0), rtol=1e-9)
    scaled, s2 = scale_motion(j, body)
    assert s2 == s
    # ankles exactly where the scaled motion has them (in reach here), toes at its heights
    for _, _, ankle, toe in LEGS:
        np.testing.assert_allclose(c[:, ankle], scaled[:, ankle], atol=1e-9 * body.leg)
        np.testing.assert_allclose(c[:, toe, 1], scaled[:, toe, 1], atol=1e-9 * body.leg)
    for sh, el, wr in ARMS:
        reach = np.linalg.norm(scaled[:, wr] - c[:, sh], axis=-1)
        ok = reach < 0.999 * (np.linalg.norm(body.offsets[el]) + np.linalg.norm(body.offsets[wr]))
        np.testing.assert_allclose(c[ok, wr], scaled[ok, wr], atol=1e-9 * body.leg)
    # the ankles move as the motion's, scaled
    step = np.linalg.norm(np.diff(j[:, 7], axis=0), axis=-1)
    fit_step = np.linalg.norm(np.diff(c[:, 7], axis=0), axis=-1)
    np.testing.assert_allclose(fit_step, step * s, atol=1e-9 * body.leg)
    # the floor: the lowest joint of the clip on the rig's floor; the motion starts over the rest root
    assert c[..., 1].min() == pytest.approx(body.floor, abs=1e-9 * body.leg)
    np.testing.assert_allclose(c[0, 0, [0, 2]], body.origin, atol=1e-9 * body.leg)
    # and the world is the rig's: its up axis
    up_world = body.basis[:, 1]
    heights = fit @ up_world
    assert heights[:, 15].mean() > heights[:, 0].mean() > heights[:, 7].mean()


def test_impose_bones_is_exact_on_consistent_joints():
    j = walk(10)
    off = np.zeros((22, 3))
    for k, p in enumerate(SMPL22.parents):
        if p >= 0:
            off[k] = SMPL22.rest_pose()[k] - SMPL22.rest_pose()[p]
    np.testing.assert_allclose(impose_bones(SMPL22.parents, j, off), j, atol=1e-6)


@pytest.mark.parametrize("family", ["mixamo", "collar"])
def test_planted_feet_stay_planted(family):
    rig, fam = family_rig(family)
    pos, rot = rig.forward(rest_values(rig))
    body = rig_body(rig_smpl22(rig, pos, fam.mapping, rotations=rot)[0], *body_axes(rig, fam.mapping, pos[0]))
    j = squat_sway()
    for k in (7, 8, 10, 11):  # the test motion: feet planted, the body squats and sways over them
        assert np.ptp(j[:, k], axis=0).max() < 1e-12
    assert np.ptp(j[:, 0, 1]) > 0.1
    c = body.to_canonical(fit_motion(j, body)[0])
    for k in (7, 8, 10, 11):
        assert np.ptp(c[:, k], axis=0).max() < 1e-9 * body.leg, SMPL22.joint_names[k]
    # without the leg IK (bones imposed only) the rig's other proportions would make the feet slide
    scaled, _ = scale_motion(j, body)
    imposed = impose_bones(SMPL22.parents, scaled, body.offsets)
    assert np.ptp(imposed[:, 7], axis=0).max() > 1e-3 * body.leg
