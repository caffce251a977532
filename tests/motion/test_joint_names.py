"""The named SMPL-22 joint indices are the positions of those joints in SMPL22's joint names and chains."""

from __future__ import annotations

from moscale_cli.motion import skeleton as sk


def test_every_joint_constant_names_its_joint():
    names = {
        "PELVIS": "pelvis", "L_HIP": "left_hip", "R_HIP": "right_hip", "SPINE1": "spine1", "L_KNEE": "left_knee",
        "R_KNEE": "right_knee", "SPINE2": "spine2", "L_ANKLE": "left_ankle", "R_ANKLE": "right_ankle",
        "SPINE3": "spine3", "L_FOOT": "left_foot", "R_FOOT": "right_foot", "NECK": "neck", "L_COLLAR": "left_collar",
        "R_COLLAR": "right_collar", "HEAD": "head", "L_SHOULDER": "left_shoulder", "R_SHOULDER": "right_shoulder",
        "L_ELBOW": "left_elbow", "R_ELBOW": "right_elbow", "L_WRIST": "left_wrist", "R_WRIST": "right_wrist",
    }  # fmt: skip
    assert sorted(getattr(sk, c) for c in names) == list(range(sk.SMPL22.num_joints))
    for const, joint in names.items():
        assert sk.SMPL22_NAMES[getattr(sk, const)] == joint, const


def test_named_joints_agree_with_the_skeleton_definition():
    s = sk.SMPL22
    assert s.foot_left == (sk.L_ANKLE, sk.L_FOOT) and s.foot_right == (sk.R_ANKLE, sk.R_FOOT)
    assert s.face_joints == (sk.R_HIP, sk.L_HIP, sk.R_SHOULDER, sk.L_SHOULDER)
    assert s.parents[sk.L_WRIST] == sk.L_ELBOW and s.parents[sk.R_ELBOW] == sk.R_SHOULDER
    for left, right in sk.SMPL22_LR_PAIRS:
        assert s.joint_names[left] == s.joint_names[right].replace("right_", "left_")
