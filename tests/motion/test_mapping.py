"""SMPL-22 mappings: built-in ones, detection from CMU/Mixamo/Biped/Blender-style names, checks and units."""

from __future__ import annotations

import numpy as np
import pytest

from moscale_cli.errors import MotionFileError
from moscale_cli.motion.mapping import (
    BANDAI_MAPPING,
    MOSCALE_MAPPING,
    apply_mapping,
    check_bones,
    check_mapping,
    detect_by_names,
    detect_mapping,
    detect_scale,
    mapping_indices,
)
from moscale_cli.motion.skeleton import SMPL22

from .rigs import mixamo_rig

# CMU's converted BVH files: hip joints between Hips and the thighs, three spine joints, two necks
CMU = [
    ("Hips", None), ("LHipJoint", "Hips"), ("LeftUpLeg", "LHipJoint"), ("LeftLeg", "LeftUpLeg"),
    ("LeftFoot", "LeftLeg"), ("LeftToeBase", "LeftFoot"), ("RHipJoint", "Hips"), ("RightUpLeg", "RHipJoint"),
    ("RightLeg", "RightUpLeg"), ("RightFoot", "RightLeg"), ("RightToeBase", "RightFoot"),
    ("LowerBack", "Hips"), ("Spine", "LowerBack"), ("Spine1", "Spine"), ("Neck", "Spine1"), ("Neck1", "Neck"),
    ("Head", "Neck1"), ("LeftShoulder", "Spine1"), ("LeftArm", "LeftShoulder"), ("LeftForeArm", "LeftArm"),
    ("LeftHand", "LeftForeArm"), ("LeftFingerBase", "LeftHand"), ("LeftHandIndex1", "LeftFingerBase"),
    ("LThumb", "LeftHand"), ("RightShoulder", "Spine1"), ("RightArm", "RightShoulder"),
    ("RightForeArm", "RightArm"), ("RightHand", "RightForeArm"), ("RThumb", "RightHand"),
]  # fmt: skip
BIPED = [
    ("Bip01", None), ("Bip01 Pelvis", "Bip01"), ("Bip01 Spine", "Bip01 Pelvis"),
    ("Bip01 L Thigh", "Bip01 Spine"), ("Bip01 L Calf", "Bip01 L Thigh"), ("Bip01 L Foot", "Bip01 L Calf"),
    ("Bip01 L Toe0", "Bip01 L Foot"), ("Bip01 R Thigh", "Bip01 Spine"), ("Bip01 R Calf", "Bip01 R Thigh"),
    ("Bip01 R Foot", "Bip01 R Calf"), ("Bip01 R Toe0", "Bip01 R Foot"), ("Bip01 Spine1", "Bip01 Spine"),
    ("Bip01 Neck", "Bip01 Spine1"), ("Bip01 Head", "Bip01 Neck"), ("Bip01 L Clavicle", "Bip01 Neck"),
    ("Bip01 L UpperArm", "Bip01 L Clavicle"), ("Bip01 L Forearm", "Bip01 L UpperArm"),
    ("Bip01 L Hand", "Bip01 L Forearm"), ("Bip01 L Finger0", "Bip01 L Hand"), ("Bip01 R Clavicle", "Bip01 Neck"),
    ("Bip01 R UpperArm", "Bip01 R Clavicle"), ("Bip01 R Forearm", "Bip01 R UpperArm"),
    ("Bip01 R Hand", "Bip01 R Forearm"),
]  # fmt: skip


def _tree(pairs):
    names = [n for n, _ in pairs]
    return names, [-1 if p is None else names.index(p) for _, p in pairs]


def test_builtin_mappings_are_complete_and_win():
    for mp in (BANDAI_MAPPING, MOSCALE_MAPPING):
        assert check_mapping(mp) is mp
    names = sorted({v for v in MOSCALE_MAPPING.values()}) + ["Extra"]
    assert detect_mapping(names, [-1] + [0] * (len(names) - 1)) == ("moscale", MOSCALE_MAPPING)


@pytest.mark.parametrize("prefix", ["", "mixamorig:", "mixamorig1:", "Character1|"])
def test_mixamo_names_with_prefixes(prefix):
    rig, smpl = mixamo_rig(prefix=prefix)
    kind, mp = detect_mapping(rig.names, rig.parents)
    assert kind == "detected"
    for k, s in enumerate(smpl):  # every SMPL joint maps to the rig joint built for it; fingers are left out
        if s is not None:
            assert mp[SMPL22.joint_names[s]] == rig.names[k]
    assert not any("Index" in str(v) or "Thumb" in str(v) or "Sword" in str(v) for v in mp.values())


def test_cmu_names_skip_hip_joints_and_spread_the_spine():
    names, parents = _tree(CMU)
    mp = detect_by_names(names, parents).mapping
    assert mp is not None
    assert (mp["left_hip"], mp["right_hip"]) == ("LeftUpLeg", "RightUpLeg")
    assert (mp["spine1"], mp["spine2"], mp["spine3"]) == ("LowerBack", "Spine", "Spine1")
    assert (mp["neck"], mp["head"], mp["left_foot"], mp["right_wrist"]) == (
        "Neck",
        "Head",
        "LeftToeBase",
        "RightHand",
    )


def test_biped_and_blender_style_names():
    names, parents = _tree(BIPED)
    mp = detect_by_names(names, parents).mapping
    assert mp is not None and mp["pelvis"] == "Bip01 Pelvis" and mp["left_knee"] == "Bip01 L Calf"
    assert mp["left_collar"] == "Bip01 L Clavicle" and mp["left_shoulder"] == "Bip01 L UpperArm"
    assert mp["left_foot"] == "Bip01 L Toe0"
    assert (mp["spine1"], mp["spine2"], mp["spine3"]) == (
        "Bip01 Spine",
        "Bip01 Spine1",
        ["Bip01 Spine1", "Bip01 Neck"],
    )
    # one spine joint between pelvis and neck: spine2/spine3 are weighted means of it and the neck
    one = [(n, "Bip01 Spine" if p == "Bip01 Spine1" else p) for n, p in BIPED if n != "Bip01 Spine1"]
    mp = detect_by_names(*_tree(one)).mapping
    assert mp is not None and mp["spine1"] == "Bip01 Spine"
    assert (
        mp["spine2"] == ["Bip01 Spine"] * 2 + ["Bip01 Neck"]
        and mp["spine3"] == ["Bip01 Spine"] + ["Bip01 Neck"] * 2
    )
    # Blender / Rigify-like suffix sides, lower case
    blender = {"LeftUpLeg": "thigh.L", "LeftLeg": "shin.L", "LeftFoot": "foot.L", "LeftToeBase": "toe.L",
               "RightUpLeg": "thigh_r", "RightLeg": "calf_r", "RightFoot": "foot_r", "RightToeBase": "ball_r",
               "LeftShoulder": "clavicle_l", "LeftArm": "upperarm_l", "LeftForeArm": "lowerarm_l",
               "LeftHand": "hand_l", "Hips": "pelvis"}  # fmt: skip
    rig, smpl = mixamo_rig(prefix="", rename=blender)
    mp = detect_by_names(rig.names, rig.parents).mapping
    assert mp is not None
    for k, s in enumerate(smpl):
        if s is not None:
            assert mp[SMPL22.joint_names[s]] == rig.names[k]


def test_collarless_rig_and_missing_parts():
    pairs = [p for p in CMU if "Shoulder" not in p[0]]
    pairs = [(n, "Spine1" if p in ("LeftShoulder", "RightShoulder") else p) for n, p in pairs]
    names, parents = _tree(pairs)
    mp = detect_by_names(names, parents).mapping
    assert mp is not None and mp["left_collar"] == ["Spine1", "LeftArm"]
    no_legs = _tree([p for p in CMU if "Leg" not in p[0] and "Foot" not in p[0] and "Toe" not in p[0]])
    with pytest.raises(MotionFileError, match="no left hip, right hip joint found") as e:
        detect_mapping(*no_legs, where="arms.bvh")
    assert str(e.value).startswith("arms.bvh: cannot map the skeleton") and "\n" not in str(e.value)
    with pytest.raises(MotionFileError, match=r"no pelvis \(Hips\)"):
        detect_mapping(["Root", "Thing"], [-1, 0])


def test_mapping_checks_and_indices():
    with pytest.raises(MotionFileError, match="lacks SMPL-22 joints: head, left_wrist"):
        check_mapping({k: v for k, v in BANDAI_MAPPING.items() if k not in ("head", "left_wrist")})
    with pytest.raises(MotionFileError, match="unknown SMPL-22 joints: tail"):
        check_mapping({**BANDAI_MAPPING, "tail": "Tail"})
    with pytest.raises(MotionFileError, match="value for head"):
        check_mapping({**BANDAI_MAPPING, "head": []})
    with pytest.raises(MotionFileError, match="JSON object"):
        check_mapping(["Hips"])
    names = sorted({n for v in BANDAI_MAPPING.values() for n in ([v] if isinstance(v, str) else v)})
    with pytest.raises(MotionFileError, match="x.bvh has no joints named Nope"):
        mapping_indices(names, {**BANDAI_MAPPING, "head": "Nope"}, "x.bvh")
    idx = mapping_indices(names, BANDAI_MAPPING)
    pos = np.random.default_rng(0).normal(size=(3, len(names), 3))
    out = apply_mapping(pos, idx)
    np.testing.assert_allclose(out[:, 9], (pos[:, names.index("Chest")] + pos[:, names.index("Neck")]) / 2)
    np.testing.assert_array_equal(out[:, 0], pos[:, names.index("Hips")])


def test_zero_length_bones_and_units():
    rest = SMPL22.rest_pose()[None].repeat(4, 0).astype(np.float64)
    check_bones(rest, "ok.bvh")
    bad = rest.copy()
    bad[:, 4] = bad[:, 1]  # knee on the hip
    with pytest.raises(MotionFileError, match=r"bad.bvh: the rig has zero-length bones .*left_hip-left_knee"):
        check_bones(bad, "bad.bvh")
    with pytest.raises(MotionFileError, match="zero-length bones"):
        check_bones(np.zeros((2, 22, 3)), "flat.bvh")
    assert detect_scale(rest) == 1.0
    assert detect_scale(rest * 100) == 0.01
    assert detect_scale(rest * 1000) == 0.001
    lying = rest[:, :, [1, 0, 2]] * 100  # the body along X
    assert detect_scale(lying) == 0.01
