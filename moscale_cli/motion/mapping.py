"""Mappings from a rig's joints to the 22 SMPL joints: built-in, detected from joint names, or given.

A mapping is ``{smpl22_joint_name: rig_joint_name | [names]}``; a list maps to the mean of those
joints (repeat a name to weight it: ``["Spine", "Neck", "Neck"]`` lies two thirds of the way up).

Built in: our own files (``Hips``, ``LeftUpLeg``, ...) and Bandai-Namco's (``UpperLeg_L``, ...).
Detected: the common naming families (CMU / Mixamo / Unity / 3ds Max Biped / Blender style:
``Hips``, ``LeftUpLeg``, ``LeftLeg``, ``LeftFoot``, ``LeftToeBase``, ``Spine``..., ``LeftShoulder``,
``LeftArm``, ``LeftForeArm``, ``LeftHand``, ``Neck``, ``Head``; sides as ``Left``/``L`` prefixes or
``_L``/``.L`` suffixes; namespace prefixes such as ``mixamorig:`` ignored). The spine joints between
the pelvis and the neck are spread over spine1..spine3. Extra joints (fingers, props, twist bones) are
left out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from moscale_cli.errors import MotionFileError
from moscale_cli.motion.skeleton import SMPL22

# SMPL-22 joint order -> BVH joint names written by moscale (the names common tools use).
SMPL22_BVH_NAMES: tuple[str, ...] = (
    "Hips", "LeftUpLeg", "RightUpLeg", "Spine", "LeftLeg", "RightLeg", "Spine1", "LeftFoot",
    "RightFoot", "Spine2", "LeftToe", "RightToe", "Neck", "LeftShoulder", "RightShoulder", "Head",
    "LeftArm", "RightArm", "LeftForeArm", "RightForeArm", "LeftHand", "RightHand",
)  # fmt: skip

MappingValue = str | list[str]
Mapping = dict[str, MappingValue]

BANDAI_MAPPING: Mapping = {
    "pelvis": "Hips",
    "left_hip": "UpperLeg_L", "right_hip": "UpperLeg_R",
    "spine1": "Spine",
    "left_knee": "LowerLeg_L", "right_knee": "LowerLeg_R",
    "spine2": "Chest",
    "left_ankle": "Foot_L", "right_ankle": "Foot_R",
    "spine3": ["Chest", "Neck"],
    "left_foot": "Toes_L", "right_foot": "Toes_R",
    "neck": "Neck",
    "left_collar": "Shoulder_L", "right_collar": "Shoulder_R",
    "head": "Head",
    "left_shoulder": "UpperArm_L", "right_shoulder": "UpperArm_R",
    "left_elbow": "LowerArm_L", "right_elbow": "LowerArm_R",
    "left_wrist": "Hand_L", "right_wrist": "Hand_R",
}  # fmt: skip
MOSCALE_MAPPING: Mapping = dict(zip(SMPL22.joint_names, SMPL22_BVH_NAMES, strict=True))
BUILTIN_MAPPINGS: dict[str, Mapping] = {"moscale": MOSCALE_MAPPING, "bandai-namco": BANDAI_MAPPING}


def mapping_names(value: MappingValue) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def check_mapping(mapping: object, where: str = "the mapping") -> Mapping:
    """A mapping names every SMPL-22 joint, and only those, with a joint name or a non-empty list of names."""
    if not isinstance(mapping, dict):
        raise MotionFileError(f'{where} must be a JSON object {{"pelvis": "Hips", ...}}')
    missing = [n for n in SMPL22.joint_names if n not in mapping]
    if missing:
        raise MotionFileError(f"{where} lacks SMPL-22 joints: {', '.join(missing)}")
    unknown = [k for k in mapping if k not in SMPL22.joint_names]
    if unknown:
        raise MotionFileError(
            f"{where} names unknown SMPL-22 joints: {', '.join(unknown)} (known: {', '.join(SMPL22.joint_names)})"
        )
    for k, v in mapping.items():
        ok = isinstance(v, str) or (isinstance(v, list) and v and all(isinstance(x, str) for x in v))
        if not ok:
            raise MotionFileError(f"{where}: the value for {k} must be a joint name or a list of names")
    return mapping


def mapping_indices(names: Sequence[str], mapping: Mapping, where: str = "the file") -> list[list[int]]:
    """For each SMPL-22 joint, the indices of its rig joints in ``names`` (MotionFileError for absent names)."""
    check_mapping(mapping)
    index = {n: i for i, n in enumerate(names)}
    absent = sorted({s for v in mapping.values() for s in mapping_names(v) if s not in index})
    if absent:
        raise MotionFileError(f"{where} has no joints named {', '.join(absent)} (named in the mapping)")
    return [[index[s] for s in mapping_names(mapping[n])] for n in SMPL22.joint_names]


def apply_mapping(positions: np.ndarray, indices: list[list[int]]) -> np.ndarray:
    """SMPL-22 joints (T, 22, 3) from rig joint positions (T, J, 3): each the mean of its mapped joints."""
    return np.stack([positions[:, idx].mean(axis=1) for idx in indices], axis=1)


def check_bones(joints_TJ3: np.ndarray, where: str, names: Sequence[str] | None = None) -> None:
    """MotionFileError when a mapped SMPL-22 bone has no length over the whole clip (joints that coincide)."""
    j = np.asarray(joints_TJ3, dtype=np.float64)
    extent = float(np.ptp(j[0], axis=0).max())
    tol = max(extent, 1e-9) * 1e-3
    bad = []
    for k, p in enumerate(SMPL22.parents):
        if p >= 0 and np.median(np.linalg.norm(j[:, k] - j[:, p], axis=-1)) < tol:
            bad.append(f"{SMPL22.joint_names[p]}-{SMPL22.joint_names[k]}")
    if extent <= 1e-9 or bad:
        shown = ", ".join(bad[:4]) + (f" (+{len(bad) - 4})" if len(bad) > 4 else "") if bad else "all"
        raise MotionFileError(f"{where}: the rig has zero-length bones between mapped joints ({shown})")


def detect_scale(joints_TJ3: np.ndarray) -> float:
    """File units -> metres from the body's size on the first frame: the extent of the 22 joints along Y
    (or 0.9 x the largest extent if the body lies down). Height < 3 -> metres, < 300 -> centimetres,
    otherwise millimetres."""
    extent = joints_TJ3[0].max(axis=0) - joints_TJ3[0].min(axis=0)
    height = float(max(extent[1], extent.max() * 0.9))
    if height < 3.0:
        return 1.0
    if height < 300.0:
        return 0.01
    return 0.001


# ------------------------------------------------------------------------------------------ detection
_JUNK = {"bip", "mixamorig", "def", "org", "mch", "jnt", "bn", "ik"}
# role -> name keys (side words removed), in order of preference
_SIDED: dict[str, tuple[str, ...]] = {
    "hip": ("upleg", "upperleg", "thigh", "uleg", "hip"),
    "knee": ("leg", "lowerleg", "calf", "shin", "knee", "loleg", "lleg"),
    "ankle": ("foot", "ankle"),
    "foot": ("toebase", "toe", "toes", "ball", "toe0", "toe1"),
    "collar": ("shoulder", "clavicle", "collar", "collarbone"),
    "shoulder": ("arm", "upperarm", "uparm", "uarm"),
    "elbow": ("forearm", "lowerarm", "elbow", "loarm", "larm"),
    "wrist": ("hand", "wrist"),
}
_CENTER: dict[str, tuple[str, ...]] = {
    "pelvis": ("hips", "pelvis", "hip"),
    "neck": ("neck", "neck1"),
    "head": ("head",),
}
_CHAINS = (("hip", "knee", "ankle", "foot"), ("collar", "shoulder", "elbow", "wrist"))


def _words(name: str) -> list[str]:
    base = re.split(r"[:|]", name)[-1]
    return [w.lower() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", base)]


def _key_and_side(name: str) -> tuple[str, str]:
    words = [w for w in _words(name) if w not in _JUNK]
    side = ""
    rest = []
    for w in words:
        if w in ("left", "l") and not side:
            side = "left"
        elif w in ("right", "r") and not side:
            side = "right"
        else:
            rest.append(w)
    while rest and rest[0].isdigit():
        rest.pop(0)
    return "".join(rest), side


@dataclass
class Detection:
    """A detected mapping, or what was missing (for the error message)."""

    mapping: Mapping | None
    missing: list[str]


def _depths(parents: Sequence[int]) -> list[int]:
    d: list[int] = []
    for p in parents:
        d.append(0 if p < 0 else d[p] + 1)
    return d


def _is_ancestor(parents: Sequence[int], a: int, b: int) -> bool:
    while b >= 0:
        b = parents[b]
        if b == a:
            return True
    return False


def detect_by_names(names: Sequence[str], parents: Sequence[int]) -> Detection:
    """A mapping from the joint names of a CMU/Mixamo-style rig (see the module docstring)."""
    depth = _depths(parents)
    keys = [_key_and_side(n) for n in names]

    def pick(options: tuple[str, ...], side: str, under: int | None) -> int | None:
        for opt in options:
            cands = [
                i for i, (k, s) in enumerate(keys)
                if k == opt and s == side and (under is None or _is_ancestor(parents, under, i))
            ]  # fmt: skip
            if cands:
                return min(cands, key=lambda i: (depth[i], i))
        return None

    missing: list[str] = []
    found: dict[str, int] = {}
    pelvis = pick(_CENTER["pelvis"], "", None)
    if pelvis is None:
        return Detection(None, ["pelvis (Hips)"])
    found["pelvis"] = pelvis
    for side in ("left", "right"):
        for chain in _CHAINS:
            under = pelvis
            for role in chain:
                k = pick(_SIDED[role], side, under)
                if k is None and role == "collar":
                    continue  # no clavicle: the arm hangs from the spine (see below)
                if k is None:
                    missing.append(f"{side} {role}")
                    break
                found[f"{side}_{role}"] = under = k
    neck = pick(_CENTER["neck"], "", pelvis)
    head = pick(_CENTER["head"], "", neck) if neck is not None else None
    if neck is None or head is None:
        missing.append("neck" if neck is None else "head")
    if missing:
        return Detection(None, missing)
    chain = []
    k = parents[neck]
    while k != pelvis and k >= 0:
        chain.append(names[k])
        k = parents[k]
    chain.reverse()
    pel_name, neck_name = names[pelvis], names[neck]
    if len(chain) >= 3:
        spine: list[MappingValue] = [chain[0], chain[len(chain) // 2], chain[-1]]
    elif len(chain) == 2:
        spine = [chain[0], chain[1], [chain[1], neck_name]]
    elif len(chain) == 1:
        s = chain[0]
        spine = [s, [s, s, neck_name], [s, neck_name, neck_name]]
    else:
        spine = [[pel_name, pel_name, neck_name], [pel_name, neck_name], [pel_name, neck_name, neck_name]]
    mp: Mapping = {"pelvis": pel_name, "neck": neck_name, "head": names[head]}
    mp.update(spine1=spine[0], spine2=spine[1], spine3=spine[2])
    for side in ("left", "right"):
        mp[f"{side}_hip"] = names[found[f"{side}_hip"]]
        mp[f"{side}_knee"] = names[found[f"{side}_knee"]]
        mp[f"{side}_ankle"] = names[found[f"{side}_ankle"]]
        mp[f"{side}_foot"] = names[found[f"{side}_foot"]]
        arm = names[found[f"{side}_shoulder"]]
        collar = found.get(f"{side}_collar")
        mp[f"{side}_collar"] = (
            names[collar] if collar is not None else [names[parents[found[f"{side}_shoulder"]]], arm]
        )
        mp[f"{side}_shoulder"] = arm
        mp[f"{side}_elbow"] = names[found[f"{side}_elbow"]]
        mp[f"{side}_wrist"] = names[found[f"{side}_wrist"]]
    return Detection({n: mp[n] for n in SMPL22.joint_names}, [])


def detect_mapping(
    names: Sequence[str], parents: Sequence[int], where: str = "the file"
) -> tuple[str, Mapping]:
    """(kind, mapping): a built-in one whose joints all exist, else one detected from the joint names.

    MotionFileError (one line, naming what is missing) when neither works.
    """
    have = set(names)
    for key, mp in BUILTIN_MAPPINGS.items():
        if {n for v in mp.values() for n in mapping_names(v)} <= have:
            return key, mp
    det = detect_by_names(names, parents)
    if det.mapping is None:
        shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        raise MotionFileError(
            f"{where}: cannot map the skeleton to SMPL-22: no {', '.join(det.missing)} joint found "
            f'(joints: {shown}); give a JSON mapping with --mapping \'{{"pelvis": "<joint>", ...}}\' '
            "naming all 22 SMPL joints"
        )
    return "detected", det.mapping


__all__ = [
    "BANDAI_MAPPING",
    "BUILTIN_MAPPINGS",
    "MOSCALE_MAPPING",
    "SMPL22_BVH_NAMES",
    "Detection",
    "Mapping",
    "MappingValue",
    "apply_mapping",
    "check_bones",
    "check_mapping",
    "detect_by_names",
    "detect_mapping",
    "detect_scale",
    "mapping_indices",
    "mapping_names",
]
