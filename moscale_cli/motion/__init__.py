"""Motion representation: skeletons, quaternions, HumanML3D features and their normalisation.

Leaf package (numpy, scipy; torch tensors accepted where noted, torch never imported here).
"""

from moscale_cli.motion.features import (
    body_forward,
    canonicalize_joints,
    features_to_joints,
    foot_contacts,
    forward_kinematics,
    inverse_kinematics,
    joints_to_features,
    recover_from_ric,
    recover_root_rot_pos,
    retarget_joints,
)
from moscale_cli.motion.normalize import (
    Normalizer,
    compute_stats,
    evaluator_std,
    group_average_std,
)
from moscale_cli.motion.quaternion import (
    cont6d_to_matrix,
    cont6d_to_quat,
    euler_to_quat,
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
)
from moscale_cli.motion.skeleton import KIT21, SKELETONS, SMPL22, Skeleton, skeleton_for_dim

__all__ = [
    "KIT21",
    "SKELETONS",
    "SMPL22",
    "Normalizer",
    "Skeleton",
    "body_forward",
    "canonicalize_joints",
    "compute_stats",
    "cont6d_to_matrix",
    "cont6d_to_quat",
    "euler_to_quat",
    "evaluator_std",
    "features_to_joints",
    "foot_contacts",
    "forward_kinematics",
    "group_average_std",
    "inverse_kinematics",
    "joints_to_features",
    "matrix_to_quat",
    "qbetween",
    "qinv",
    "qmul",
    "qnormalize",
    "qrot",
    "qslerp",
    "quat_to_cont6d",
    "quat_to_euler",
    "quat_to_matrix",
    "recover_from_ric",
    "recover_root_rot_pos",
    "retarget_joints",
    "skeleton_for_dim",
]
