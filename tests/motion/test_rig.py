"""Rigs with channels: channel semantics, and solving a rig's channels onto new SMPL-22 joints."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from moscale_cli.errors import MotionFileError
from moscale_cli.motion.mapping import detect_mapping
from moscale_cli.motion.rig import Rig, nearest_kept, rig_smpl22, solve_channels

from .rigs import mixamo_rig, random_values


def test_channel_semantics():
    rig = Rig(
        ["Root", "Arm", "Hand"],
        [-1, 0, 1],
        np.array([[0.0, 0, 0], [1.0, 0, 0], [0.0, 2.0, 0]]),
        [["Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation"],
         ["Yrotation", "Xposition"], []],
    )  # fmt: skip
    assert rig.num_channels == 8 and rig.columns == [[0, 1, 2, 3, 4, 5], [6, 7], []]
    assert rig.rot_order == ["ZXY", "Y", ""] and rig.rotatable(0) and not rig.rotatable(1)
    v = np.array([[5.0, 6.0, 7.0, 10.0, 20.0, 30.0, 90.0, 3.0]])
    rot, trans = rig.local_transforms(v)
    np.testing.assert_allclose(
        rot[0, 0], Rotation.from_euler("ZXY", [10, 20, 30], degrees=True).as_matrix(), atol=1e-12
    )
    np.testing.assert_allclose(trans[0], [[5, 6, 7], [3, 0, 0], [0, 2, 0]])  # Xposition overrides OFFSET x
    pos, glob = rig.forward(v)
    r0 = rot[0, 0]
    r1 = Rotation.from_euler("Y", 90, degrees=True).as_matrix()
    np.testing.assert_allclose(pos[0, 1], [5, 6, 7] + r0 @ [3, 0, 0], atol=1e-12)
    np.testing.assert_allclose(pos[0, 2], pos[0, 1] + r0 @ r1 @ [0, 2, 0], atol=1e-12)
    with pytest.raises(MotionFileError, match="unknown channel"):
        Rig(["A"], [-1], np.zeros((1, 3)), [["Wrotation"]])


def test_nearest_kept():
    keep = np.array([1, 0, 0, 0, 1, 0, 0], dtype=bool)
    np.testing.assert_array_equal(nearest_kept(keep), [0, 0, 0, 4, 4, 4, 4])
    np.testing.assert_array_equal(nearest_kept(np.zeros(3, bool)), [0, 1, 2])


@pytest.fixture(scope="module")
def cm_rig():
    """A Mixamo-style rig in centimetres, ZXY, with fingers, a head top and a sword."""
    rig, smpl = mixamo_rig(units=100.0, order="ZXY")
    _, mp = detect_mapping(rig.names, rig.parents)
    return rig, mp, random_values(rig, 60, seed=0)


def test_solve_on_own_joints_gives_back_the_source_values(cm_rig):
    rig, mp, values = cm_rig
    joints = rig_smpl22(rig, rig.forward(values)[0], mp)
    frames = np.arange(20, 40)
    out = solve_channels(rig, values, mp, joints[frames], frames)
    keep = np.ones(60, bool)
    keep[frames] = False
    np.testing.assert_array_equal(out[keep], values[keep])  # outside: untouched, bit for bit
    back = rig_smpl22(rig, rig.forward(out)[0], mp)
    assert np.abs(back - joints).max() < 1e-6  # cm
    mapped = {v for v in mp.values() if isinstance(v, str)}
    for k, name in enumerate(rig.names):
        cols = rig.columns[k]
        if name in mapped:  # mapped joints: their own rotations come back (twist kept)
            np.testing.assert_allclose(out[frames][:, cols], values[frames][:, cols], atol=1e-7)
        else:  # fingers, head top, sword: the nearest kept frame's values
            near = np.where(frames < 30, 19, 40)
            np.testing.assert_array_equal(out[frames][:, cols], values[near][:, cols])


@pytest.mark.parametrize("order,six", [("ZXY", False), ("XYZ", True), ("YZX", False)])
def test_solve_other_motion_of_the_same_rig(order, six):
    rig, _ = mixamo_rig(prefix="mixamorig:", units=100.0, order=order, six_channels=six)
    _, mp = detect_mapping(rig.names, rig.parents)
    src = random_values(rig, 50, seed=1)
    other = random_values(rig, 50, seed=2, amp=35.0)
    new = rig_smpl22(rig, rig.forward(other)[0], mp)
    frames = np.arange(10, 35)
    outs = {}
    for twist in ("frame", "nearest"):
        out = solve_channels(rig, src, mp, new[frames][::-1], frames[::-1], twist=twist)  # any order
        got = rig_smpl22(rig, rig.forward(out)[0], mp)
        assert np.abs(got[frames] - new[frames]).max() < 1e-6
        np.testing.assert_array_equal(np.delete(out, frames, axis=0), np.delete(src, frames, axis=0))
        # no 360-degree wraps into and through the region: each angle is the one nearest the frame before
        rot = [c for k in range(rig.num_joints) for c in rig.rot_cols[k]]
        assert np.abs(np.diff(out[9:35][:, rot], axis=0)).max() <= 180.0
        outs[twist] = out
    assert not np.allclose(outs["frame"], outs["nearest"])
    mask = np.zeros(50, bool)
    mask[frames] = True
    np.testing.assert_array_equal(solve_channels(rig, src, mp, new[frames], mask), outs["frame"])


def test_solve_six_channel_rig_moves_the_pelvis_joint_only():
    """Bandai-like: a static root above Hips, every joint with position channels."""
    rig, _ = mixamo_rig(prefix="", units=100.0, six_channels=True)
    names = ["joint_Root", *rig.names]
    base = Rig(names, [-1] + [p + 1 for p in rig.parents], np.vstack([np.zeros(3), rig.offsets]),
               [["Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation"], *rig.channels])  # fmt: skip
    _, mp = detect_mapping(base.names, base.parents)
    src = random_values(base, 30, seed=3)
    src[:, :6] = 0.0  # static root
    src[:, 6:9] = random_values(rig, 30, seed=3)[:, :3]
    # a 6-channel child whose position channel moves (its bone length changes)
    src[5:, 9 + 6 + 0] += np.linspace(0, 2, 25)
    other = src.copy()
    other[:, 9:] = random_values(base, 30, seed=4)[:, 9:]
    other[:, 6:9] += 15.0
    new = rig_smpl22(base, base.forward(other)[0], mp)
    frames = np.arange(8, 20)
    out = solve_channels(base, src, mp, new[frames], frames)
    np.testing.assert_array_equal(out[frames][:, :6], src[7][None, :6].repeat(12, 0))  # root holds
    for k in range(2, base.num_joints):  # non-root position channels: the frame's own source values
        cols = [c for c, _ in base.pos_cols[k]]
        np.testing.assert_array_equal(out[frames][:, cols], src[frames][:, cols])
    got = rig_smpl22(base, base.forward(out)[0], mp)
    # the pelvis lands exactly; bone lengths of the source at those frames differ from the new motion's
    np.testing.assert_allclose(got[frames, 0], new[frames, 0], atol=1e-9)
    assert np.abs(got[frames] - new[frames]).max() < 5.0  # cm


def test_solve_errors(cm_rig):
    rig, mp, values = cm_rig
    j = np.zeros((3, 22, 3))
    with pytest.raises(MotionFileError, match=r"expected \(2, 22, 3\)"):
        solve_channels(rig, values, mp, j, [1, 2])
    with pytest.raises(MotionFileError, match="0..59"):
        solve_channels(rig, values, mp, j, [1, 2, 60])
    with pytest.raises(MotionFileError, match="repeat"):
        solve_channels(rig, values, mp, j, [1, 2, 2])
    j[1, 3, 0] = np.nan
    with pytest.raises(MotionFileError, match="NaN"):
        solve_channels(rig, values, mp, j, [1, 2, 3])
    with pytest.raises(MotionFileError, match="twist"):
        solve_channels(rig, values, mp, j, [1, 2, 3], twist="none")
    np.testing.assert_array_equal(solve_channels(rig, values, mp, np.zeros((0, 22, 3)), []), values)
