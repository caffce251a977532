"""Mappings from a rig's joints to the 22 SMPL joints: built-in, detected from joint names, or given.

A mapping is ``{smpl22_joint_name: rig_joint_name | [names]}``; a list maps to the mean of those
joints (repeat a name to weight it: ``["Spine", "Neck", "Neck"]`` lies two thirds of the way up).

Built in: our own files (``Hips``, ``LeftUpLeg``, ...) and Bandai-Namco's (``UpperLeg_L``, ...).
Detected from the joint names, by role (sides as ``Left``/``L``/``l`` prefixes or ``_L``/``.L``/``_l``
suffixes; namespace prefixes such as ``mixamorig:`` ignored):

- CMU / Mixamo / Unity / HumanIK: ``Hips``, ``LeftUpLeg``, ``LeftLeg``, ``LeftFoot``, ``LeftToeBase``,
  ``Spine``..., ``LeftShoulder`` (the clavicle), ``LeftArm``, ``LeftForeArm``, ``LeftHand``, ``Neck``,
  ``Head``;
- Collar/Shoulder/Elbow/Wrist + Hip/Knee/Ankle (Xsens MVN's BVH and other mocap vendors): ``Hips``,
  ``Chest``..., ``LeftCollar``, ``LeftShoulder`` (the upper arm, as there is a collar), ``LeftElbow``,
  ``LeftWrist``, ``LeftHip``, ``LeftKnee``, ``LeftAnkle``, ``LeftToe``;
- Xsens segments: ``Pelvis``, ``L5``..., ``LeftShoulder``, ``LeftUpperArm``, ``LeftForeArm``,
  ``LeftUpperLeg``, ``LeftLowerLeg``, ``LeftFoot``, ``LeftToe``;
- Daz/Poser: ``hip``, ``abdomen``..., ``lCollar``, ``lShldr`` (``lShldrBend``), ``lForeArm``
  (``lForearmBend``), ``lHand``, ``lThigh`` (``lThighBend``), ``lShin``, ``lFoot``, ``lToe``; the pelvis
  is the joint that carries both the legs and the spine (Genesis: ``hip`` above ``pelvis``);
- UE Mannequin: ``pelvis``, ``spine_01``..``spine_05``, ``neck_01``, ``head``, ``clavicle_l``,
  ``upperarm_l``, ``lowerarm_l``, ``hand_l``, ``thigh_l``, ``calf_l``, ``foot_l``, ``ball_l`` (twist and IK
  bones left out);
- Rokoko: ``Hips``, ``Spine1``..., ``LeftShoulder``, ``LeftArm``, ``LeftForeArm``, ``LeftHand``,
  ``LeftThigh``, ``LeftShin``, ``LeftFoot``, ``LeftToe``;
- 3ds Max Biped (``Bip01 L Thigh``, ``Calf``, ``Clavicle``, ``UpperArm``, ``Toe0``), Blender/Rigify-like
  (``thigh.L``, ``shin.L``) and VRoid (``J_Bip_L_UpperArm``, ``J_Bip_C_Hips``).

The spine joints between the pelvis and the neck are spread over spine1..spine3. Extra joints (fingers,
props, twist bones) are left out. A leg without a toe joint gets a *virtual toe* named
``"<ankle> (toe)"`` (:data:`VIRTUAL_TOE`): a point fixed in the ankle's frame on the foot's forward axis
(see ``motion.rig.virtual_toes``); a ``--mapping`` may name it too.
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
_JUNK = {"bip", "mixamorig", "def", "org", "mch", "jnt", "bn", "ik", "j"}
_CENTRE_WORDS = {"c", "m", "mid", "center", "centre"}  # VRoid's J_Bip_C_Hips, Maya's M_Spine: no side
# role -> name keys (side words removed), in order of preference; a key also matches a name whose key is
# it followed by digits (UE's neck_01) when no name matches it exactly
_SIDED: dict[str, tuple[str, ...]] = {
    "hip": ("upleg", "upperleg", "thigh", "thighbend", "uleg", "hip"),
    "knee": ("leg", "lowerleg", "calf", "shin", "knee", "loleg", "lleg"),
    "ankle": ("foot", "ankle"),
    "foot": ("toebase", "toe", "toes", "ball", "toe0", "toe1"),
    "collar": ("collar", "clavicle", "collarbone", "scapula", "shoulder"),
    "shoulder": ("arm", "upperarm", "uparm", "uarm", "shldr", "shldrbend", "shoulder"),
    "elbow": ("forearm", "lowerarm", "elbow", "loarm", "larm", "forearmbend"),
    "wrist": ("hand", "wrist"),
}
_CENTER: dict[str, tuple[str, ...]] = {
    "pelvis": ("hips", "pelvis", "hip"),
    "neck": ("neck", "neck1", "necklower"),
    "head": ("head",),
}
_CHAINS = (("hip", "knee", "ankle", "foot"), ("collar", "shoulder", "elbow", "wrist"))
VIRTUAL_TOE = " (toe)"  # "LeftAnkle (toe)": a point on the foot's forward axis, for rigs without toe joints


def virtual_toe_name(ankle: str) -> str:
    """The mapping name of the virtual toe of a rig's ankle joint (see :data:`VIRTUAL_TOE`)."""
    return ankle + VIRTUAL_TOE


def virtual_toe_base(name: str) -> str | None:
    """The ankle joint of a virtual toe name, None for other names."""
    return name[: -len(VIRTUAL_TOE)] if name.endswith(VIRTUAL_TOE) and len(name) > len(VIRTUAL_TOE) else None


def _words(name: str) -> list[str]:
    base = re.split(r"[:|]", name)[-1]
    return [w.lower() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", base)]


def _key_and_side(name: str) -> tuple[str, str]:
    words = [w for w in _words(name) if w not in _JUNK]
    side = ""
    rest = []
    for i, w in enumerate(words):
        if w in ("left", "l") and not side:
            side = "left"
        elif w in ("right", "r") and not side:
            side = "right"
        elif w in _CENTRE_WORDS and len(words) > 1 and (i == 0 or words[i - 1].isdigit() or i == len(words) - 1):
            continue
        else:
            rest.append(w)
    while rest and rest[0].isdigit():
        rest.pop(0)
    return "".join(rest), side


def joint_side(name: str) -> str:
    """"left", "right" or "" (centre) from a joint name, by the naming rules of the detection."""
    return _key_and_side(name)[1]


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


class _Picker:
    """Joints by role keys, side and place in the tree."""

    def __init__(self, names: Sequence[str], parents: Sequence[int]) -> None:
        self.parents = parents
        self.depth = _depths(parents)
        self.keys = [_key_and_side(n) for n in names]
        self.bare = [re.sub(r"\d+$", "", k) for k, _ in self.keys]

    def all(self, options: tuple[str, ...], side: str, under: int | None) -> list[int]:
        """Every match, best first: by option, exact keys before keys with trailing digits, shallowest."""
        out: list[int] = []
        for opt in options:
            for exact in (True, False):
                cands = [
                    i for i, (k, s) in enumerate(self.keys)
                    if s == side and (k == opt if exact else (k != opt and self.bare[i] == opt))
                    and (under is None or _is_ancestor(self.parents, under, i)) and i not in out
                ]  # fmt: skip
                out.extend(sorted(cands, key=lambda i: (self.depth[i], i)))
        return out

    def pick(self, options: tuple[str, ...], side: str, under: int | None) -> int | None:
        found = self.all(options, side, under)
        return found[0] if found else None


def _limbs(pk: _Picker, pelvis: int) -> tuple[dict[str, int | None], list[str]]:
    """Joints of both legs and arms under ``pelvis`` (a leg's toe None: no toe joint) and what is missing.

    An arm takes its collar (clavicle) when one is found and the arm continues below it, else none: in
    ``LeftShoulder, LeftElbow, LeftWrist`` the shoulder is the upper arm."""
    found: dict[str, int | None] = {}
    missing: list[str] = []
    for side in ("left", "right"):
        under = pelvis
        for role in _CHAINS[0]:
            k = pk.pick(_SIDED[role], side, under)
            if k is None and role == "foot":
                found[f"{side}_foot"] = None  # a virtual toe on the ankle
                break
            if k is None:
                missing.append(f"{side} {role}")
                break
            found[f"{side}_{role}"] = under = k
        best: tuple[dict[str, int], list[str]] | None = None
        for collar in [*pk.all(_SIDED["collar"], side, pelvis), None]:
            arm: dict[str, int] = {}
            lacks: list[str] = []
            under = pelvis if collar is None else collar
            if collar is not None:
                arm[f"{side}_collar"] = collar
            for role in _CHAINS[1][1:]:
                k = pk.pick(_SIDED[role], side, under)
                if k is None:
                    lacks.append(f"{side} {role}")
                    break
                arm[f"{side}_{role}"] = under = k
            if best is None or not lacks:
                best = (arm, lacks)
            if not lacks:
                break
        assert best is not None
        found.update(best[0])
        missing.extend(best[1])
    return found, missing


def detect_by_names(names: Sequence[str], parents: Sequence[int]) -> Detection:
    """A mapping from the joint names of a rig (see the module docstring)."""
    pk = _Picker(names, parents)
    pelvises = pk.all(_CENTER["pelvis"], "", None)
    if not pelvises:
        return Detection(None, ["pelvis (Hips)"])
    first: list[str] | None = None
    for pelvis in pelvises:  # the first that carries both legs and the neck (Daz: hip above pelvis)
        found, missing = _limbs(pk, pelvis)
        neck = pk.pick(_CENTER["neck"], "", pelvis)
        head = pk.pick(_CENTER["head"], "", neck) if neck is not None else None
        if neck is None or head is None:
            missing.append("neck" if neck is None else "head")
        if not missing:
            assert neck is not None and head is not None
            return Detection(_assemble(names, parents, pelvis, neck, head, found), [])
        if first is None:
            first = missing
    assert first is not None
    return Detection(None, first)


def _assemble(
    names: Sequence[str], parents: Sequence[int], pelvis: int, neck: int, head: int, found: dict[str, int | None]
) -> Mapping:
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

    def name(role: str) -> str:
        k = found[role]
        assert k is not None
        return names[k]

    for side in ("left", "right"):
        mp[f"{side}_hip"] = name(f"{side}_hip")
        mp[f"{side}_knee"] = name(f"{side}_knee")
        mp[f"{side}_ankle"] = name(f"{side}_ankle")
        toe = found[f"{side}_foot"]
        mp[f"{side}_foot"] = names[toe] if toe is not None else virtual_toe_name(name(f"{side}_ankle"))
        arm = name(f"{side}_shoulder")
        collar = found.get(f"{side}_collar")
        shoulder = found[f"{side}_shoulder"]
        assert shoulder is not None
        mp[f"{side}_collar"] = names[collar] if collar is not None else [names[parents[shoulder]], arm]
        mp[f"{side}_shoulder"] = arm
        mp[f"{side}_elbow"] = name(f"{side}_elbow")
        mp[f"{side}_wrist"] = name(f"{side}_wrist")
    return {n: mp[n] for n in SMPL22.joint_names}


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
    "VIRTUAL_TOE",
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
    "joint_side",
    "mapping_indices",
    "mapping_names",
    "virtual_toe_base",
    "virtual_toe_name",
]
