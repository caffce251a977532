"""Auto-mapping of the common naming families (a BVH rig written for each test), toe-less rigs (virtual toes)
and --mapping winning over the detection."""

from __future__ import annotations

import numpy as np
import pytest

from moscale_cli.errors import MotionFileError
from moscale_cli.io.bvh import bvh_to_smpl22, read_bvh, resolve_mapping, source_smpl22
from moscale_cli.motion.mapping import detect_mapping, joint_side, virtual_toe_base, virtual_toe_name
from moscale_cli.motion.rig import TOE_DOWN, TOE_FORWARD, rest_values, rig_smpl22, virtual_toes
from moscale_cli.motion.skeleton import SMPL22

from .families import FAMILIES, family_rig, write_family

MAPPED_BEFORE = ("mixamo", "rokoko", "xsens")  # families the detection already mapped (must not change)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_rig_file_maps_by_names(family, tmp_path):
    path = write_family(family, tmp_path)
    clip = read_bvh(path)
    kind, mp = resolve_mapping(clip)
    assert kind == "detected"
    assert mp == family_rig(family)[1].mapping
    # the import (moscale convert) reads the file's SMPL-22 joints where the rig's joints are
    src = source_smpl22(clip)
    pos = clip.positions
    for k, name in enumerate(SMPL22.joint_names):
        v = mp[name]
        names = [v] if isinstance(v, str) else v
        if any(virtual_toe_base(n) for n in names):
            continue  # checked in test_virtual_toe_*
        want = np.mean([pos[:, clip.index(n)] for n in names], axis=0)
        np.testing.assert_allclose(src.joints[:, k], want, atol=1e-9)
    j = bvh_to_smpl22(path)
    assert j.shape == (2, 22, 3) and abs(float(j[..., 1].min())) < 1e-6  # 3 frames at 30 fps -> 2 at 20


def test_collar_family_names_the_issue_lists():
    """The rig of the report: Hips, Chest, Chest2, LeftCollar, LeftShoulder, LeftElbow, LeftWrist, Neck, Head,
    LeftHip, LeftKnee, LeftAnkle (no toes): the shoulder is the upper arm because there is a collar."""
    rig, fam = family_rig("collar")
    assert {"Hips", "Chest", "Chest2", "LeftCollar", "LeftShoulder", "LeftElbow", "LeftWrist", "Neck", "Head",
            "LeftHip", "LeftKnee", "LeftAnkle"} <= set(rig.names)  # fmt: skip
    assert not any("Toe" in n for n in rig.names)
    _, mp = detect_mapping(rig.names, rig.parents)
    assert (mp["left_collar"], mp["left_shoulder"], mp["left_elbow"], mp["left_wrist"]) == (
        "LeftCollar", "LeftShoulder", "LeftElbow", "LeftWrist",
    )  # fmt: skip
    assert (mp["left_hip"], mp["left_knee"], mp["left_ankle"]) == ("LeftHip", "LeftKnee", "LeftAnkle")
    assert mp["left_foot"] == virtual_toe_name("LeftAnkle") == "LeftAnkle (toe)"
    assert mp["right_foot"] == "RightAnkle (toe)"


def test_shoulder_without_collar_is_the_upper_arm():
    names = ["Hips", "Spine", "Neck", "Head", "LeftShoulder", "LeftElbow", "LeftWrist", "RightShoulder",
             "RightElbow", "RightWrist", "LeftHip", "LeftKnee", "LeftAnkle", "LeftToe", "RightHip", "RightKnee",
             "RightAnkle", "RightToe"]  # fmt: skip
    parents = [-1, 0, 1, 2, 1, 4, 5, 1, 7, 8, 0, 10, 11, 12, 0, 14, 15, 16]
    _, mp = detect_mapping(names, parents)
    assert mp["left_shoulder"] == "LeftShoulder" and mp["left_collar"] == ["Spine", "LeftShoulder"]
    assert mp["right_elbow"] == "RightElbow" and mp["left_foot"] == "LeftToe"


def test_virtual_toe_from_the_ankle_end_site(tmp_path):
    clip = read_bvh(write_family("collar", tmp_path))
    kind, mp = resolve_mapping(clip)
    toes = virtual_toes(clip.rig, mp)
    assert sorted(toes) == ["LeftAnkle (toe)", "RightAnkle (toe)"]
    k, off = toes["LeftAnkle (toe)"]
    assert clip.names[k] == "LeftAnkle"
    np.testing.assert_array_equal(off, clip.rig.end_sites[k])  # the End Site points forward: it is the toe
    # the toe follows the ankle's rotation: a turned ankle turns its toe
    values = rest_values(clip.rig, 2)
    values[1, clip.rig.rot_cols[k][2]] = 30.0  # Yrotation of the ankle (ZXY channels)
    pos, rot = clip.rig.forward(values)
    j = rig_smpl22(clip.rig, pos, mp, rotations=rot)
    np.testing.assert_allclose(j[:, 10], pos[:, k] + np.einsum("tij,j->ti", rot[:, k], off), atol=1e-12)
    assert np.linalg.norm(j[1, 10] - j[0, 10]) > 0.01 * np.linalg.norm(off)
    with pytest.raises(MotionFileError, match="virtual toes"):
        rig_smpl22(clip.rig, pos, mp)  # without rotations


def test_virtual_toe_on_the_foot_forward_axis(tmp_path):
    """No End Site pointing forward (under the heel): the toe is TOE_FORWARD shin lengths forward of the
    ankle and TOE_DOWN below it, in the body's rest frame."""
    clip = read_bvh(write_family("collar_heel", tmp_path))
    _, mp = resolve_mapping(clip)
    rest = clip.rig.forward(rest_values(clip.rig))[0][0]
    j = rig_smpl22(clip.rig, rest[None], mp, rotations=np.broadcast_to(np.eye(3), (1, clip.rig.num_joints, 3, 3)))[0]
    for ankle, knee, toe in ((7, 4, 10), (8, 5, 11)):
        shin = np.linalg.norm(j[ankle] - j[knee])
        d = j[toe] - j[ankle]
        np.testing.assert_allclose(d, shin * np.array([0.0, -TOE_DOWN, TOE_FORWARD]), atol=1e-9)  # facing +Z, Y up
    # and the file converts like any other (moscale convert)
    assert bvh_to_smpl22(clip.path).shape[1:] == (22, 3)


def test_mapping_option_wins_over_the_detection(tmp_path):
    path = write_family("collar", tmp_path)
    clip = read_bvh(path)
    _, detected = resolve_mapping(clip)
    mine = dict(detected, left_wrist=["LeftElbow", "LeftWrist"])  # deliberately different
    kind, mp = resolve_mapping(clip, mine)
    assert kind == "user" and mp == mine
    j = bvh_to_smpl22(path, mapping=mine, floor=False, scale=1.0)
    d = bvh_to_smpl22(path, floor=False, scale=1.0)
    np.testing.assert_allclose(j[:, 20], (d[:, 18] + d[:, 20]) / 2, atol=1e-6)  # the wrist now mid-forearm
    # a user mapping may name a virtual toe too
    kind, mp = resolve_mapping(clip, dict(detected, left_foot="LeftAnkle (toe)"))
    assert kind == "user" and mp["left_foot"] == "LeftAnkle (toe)"


def test_families_mapped_before_keep_their_mapping_and_others_failed_before():
    """Mixamo, Rokoko and Xsens-segment rigs were mapped before this change and still map the same;
    the Collar, UE and Daz families are the ones that used to fail (see the test above for each)."""
    for family in MAPPED_BEFORE:
        rig, fam = family_rig(family)
        assert detect_mapping(rig.names, rig.parents)[1] == fam.mapping


def test_virtual_toe_names_and_sides():
    assert virtual_toe_base("LeftAnkle (toe)") == "LeftAnkle"
    assert virtual_toe_base("LeftAnkle") is None and virtual_toe_base(" (toe)") is None
    assert [joint_side(n) for n in ("mixamorig:LeftArm", "hand_r", "lShldr", "J_Bip_C_Hips", "Spine1_M", "Head")] == [
        "left", "right", "left", "", "", "",
    ]  # fmt: skip


def test_rig_without_ankles_still_fails_with_one_line():
    names = ["Hips", "Spine", "Neck", "Head", "LeftArm", "LeftForeArm", "LeftHand", "RightArm", "RightForeArm",
             "RightHand", "LeftUpLeg", "LeftLeg", "RightUpLeg", "RightLeg"]  # fmt: skip
    parents = [-1, 0, 1, 2, 1, 4, 5, 1, 7, 8, 0, 10, 0, 12]
    with pytest.raises(MotionFileError, match="no left ankle, right ankle joint found") as e:
        detect_mapping(names, parents, "legs.bvh")
    assert "\n" not in str(e.value)
