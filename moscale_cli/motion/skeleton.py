"""Skeleton definitions: HumanML3D's 22-joint SMPL skeleton and KIT-ML's 21-joint one.

Conventions (HumanML3D): Y up, metres, +X = character's left, the body faces +Z at frame 0.
Raw offsets are unit directions of each bone in the rest pose; ``bone_lengths`` are the target
bone lengths HumanML3D retargets every clip to (measured on its reference skeleton, constant in
every processed clip).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Skeleton:
    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    raw_offsets: np.ndarray  # (J, 3) unit bone directions in the rest pose
    bone_lengths: np.ndarray  # (J,) length of the bone parent(j) -> j; 0 for the root
    kinematic_chains: tuple[tuple[int, ...], ...]
    face_joints: tuple[int, int, int, int]  # (r_hip, l_hip, r_shoulder, l_shoulder)
    foot_left: tuple[int, int]  # (ankle, foot)
    foot_right: tuple[int, int]
    leg_scale_joints: tuple[int, int]  # joints whose distance fixes the retarget scale
    contact_threshold: float  # squared displacement per frame below which a foot is in contact
    fps: float
    feature_dim: int = field(init=False)

    def __post_init__(self) -> None:
        j = len(self.joint_names)
        object.__setattr__(self, "feature_dim", 4 + (j - 1) * 3 + (j - 1) * 6 + j * 3 + 4)

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def offsets(self) -> np.ndarray:
        """(J, 3) rest-pose offsets: raw direction times target bone length."""
        return (self.raw_offsets * self.bone_lengths[:, None]).astype(np.float32)

    def feature_slices(self) -> dict[str, slice]:
        """The seven slices of the feature vector (root_rot_vel, root_lin_vel, root_y, ric, rot6d, vel, contacts)."""
        j = self.num_joints
        a = 4 + (j - 1) * 3
        b = a + (j - 1) * 6
        c = b + j * 3
        return {
            "root_rot_vel": slice(0, 1),
            "root_lin_vel": slice(1, 3),
            "root_y": slice(3, 4),
            "ric": slice(4, a),
            "rot6d": slice(a, b),
            "local_vel": slice(b, c),
            "foot_contact": slice(c, c + 4),
        }

    def rest_pose(self) -> np.ndarray:
        """(J, 3) joint positions of the rest pose (forward kinematics of the offsets), root at origin."""
        pos = np.zeros((self.num_joints, 3), dtype=np.float64)
        for i, p in enumerate(self.parents):
            if p >= 0:
                pos[i] = pos[p] + self.offsets[i]
        return pos.astype(np.float32)


SMPL22_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)  # fmt: skip
# SMPL-22 joint indices by name (the order of SMPL22_NAMES): the one place that names them. Use these instead
# of literal indices (L_WRIST, not 20).
(
    PELVIS, L_HIP, R_HIP, SPINE1, L_KNEE, R_KNEE, SPINE2, L_ANKLE, R_ANKLE, SPINE3, L_FOOT, R_FOOT, NECK,
    L_COLLAR, R_COLLAR, HEAD, L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST,
) = range(22)  # fmt: skip
# limb chains, left then right: (hip, knee, ankle, toe) and (shoulder, elbow, wrist)
SMPL22_LEGS = ((L_HIP, L_KNEE, L_ANKLE, L_FOOT), (R_HIP, R_KNEE, R_ANKLE, R_FOOT))
SMPL22_ARMS = ((L_SHOULDER, L_ELBOW, L_WRIST), (R_SHOULDER, R_ELBOW, R_WRIST))
# left/right joint pairs (mirroring a motion swaps them)
SMPL22_LR_PAIRS = (
    (L_HIP, R_HIP), (L_KNEE, R_KNEE), (L_ANKLE, R_ANKLE), (L_FOOT, R_FOOT), (L_COLLAR, R_COLLAR),
    (L_SHOULDER, R_SHOULDER), (L_ELBOW, R_ELBOW), (L_WRIST, R_WRIST),
)  # fmt: skip
SMPL22_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
SMPL22_RAW_OFFSETS = np.array(
    [
        [0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, -1, 0], [0, 1, 0], [0, -1, 0],
        [0, -1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 1, 0], [1, 0, 0], [-1, 0, 0], [0, 0, 1],
        [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0],
    ],
    dtype=np.float32,
)  # fmt: skip
# Bone lengths (metres) of HumanML3D's target skeleton, measured on new_joints/012314 (constant to 1e-7).
SMPL22_BONE_LENGTHS = np.array(
    [
        0.0, 0.10307397, 0.10988337, 0.13156824, 0.39362317, 0.39018825, 0.14319022, 0.43243304,
        0.42564338, 0.05736473, 0.14338179, 0.14941904, 0.21936004, 0.1374868, 0.14338282, 0.10303921,
        0.13161395, 0.12298438, 0.2568399, 0.26309186, 0.2660118, 0.26987627,
    ],
    dtype=np.float32,
)  # fmt: skip

SMPL22 = Skeleton(
    name="smpl22",
    joint_names=SMPL22_NAMES,
    parents=SMPL22_PARENTS,
    raw_offsets=SMPL22_RAW_OFFSETS,
    bone_lengths=SMPL22_BONE_LENGTHS,
    kinematic_chains=((0, 2, 5, 8, 11), (0, 1, 4, 7, 10), (0, 3, 6, 9, 12, 15), (9, 14, 17, 19, 21), (9, 13, 16, 18, 20)),
    face_joints=(2, 1, 17, 16),
    foot_left=(7, 10),
    foot_right=(8, 11),
    leg_scale_joints=(5, 8),
    contact_threshold=0.002,
    fps=20.0,
)

KIT21_NAMES = (
    "root", "pelvis_top", "torso", "neck_base", "head", "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "right_midfoot",
    "right_toe", "left_hip", "left_knee", "left_ankle", "left_midfoot", "left_toe",
)  # fmt: skip
KIT21_PARENTS = (-1, 0, 1, 2, 3, 3, 5, 6, 3, 8, 9, 0, 11, 12, 13, 14, 0, 16, 17, 18, 19)
KIT21_RAW_OFFSETS = np.array(
    [
        [0, 0, 0], [0, 1, 0], [0, 1, 0], [0, 1, 0], [0, 1, 0], [1, 0, 0], [0, -1, 0], [0, -1, 0],
        [-1, 0, 0], [0, -1, 0], [0, -1, 0], [1, 0, 0], [0, -1, 0], [0, -1, 0], [0, 0, 1], [0, 0, 1],
        [-1, 0, 0], [0, -1, 0], [0, -1, 0], [0, 0, 1], [0, 0, 1],
    ],
    dtype=np.float32,
)  # fmt: skip
# KIT-ML has no published target lengths here; these are typical KIT bone lengths in millimetres
# (KIT coordinates are about 1000x HumanML3D's). Features never depend on them; BVH export does.
KIT21_BONE_LENGTHS = np.array(
    [0, 110, 130, 160, 150, 200, 280, 250, 200, 280, 250, 90, 420, 410, 60, 80, 90, 420, 410, 60, 80],
    dtype=np.float32,
)

KIT21 = Skeleton(
    name="kit21",
    joint_names=KIT21_NAMES,
    parents=KIT21_PARENTS,
    raw_offsets=KIT21_RAW_OFFSETS,
    bone_lengths=KIT21_BONE_LENGTHS,
    kinematic_chains=((0, 11, 12, 13, 14, 15), (0, 16, 17, 18, 19, 20), (0, 1, 2, 3, 4), (3, 5, 6, 7), (3, 8, 9, 10)),
    face_joints=(11, 16, 5, 8),
    foot_left=(19, 20),
    foot_right=(14, 15),
    leg_scale_joints=(17, 18),
    contact_threshold=0.05,
    fps=12.5,
)

SKELETONS = {"smpl22": SMPL22, "kit21": KIT21}


def skeleton_for_dim(feature_dim: int) -> Skeleton:
    """The skeleton whose feature vector has this width (263 -> SMPL-22, 251 -> KIT-21)."""
    for sk in SKELETONS.values():
        if sk.feature_dim == feature_dim:
            return sk
    from moscale_cli.errors import MoScaleError

    raise MoScaleError(f"no skeleton has {feature_dim}-dim features (known: 263 for SMPL-22, 251 for KIT-21)")
