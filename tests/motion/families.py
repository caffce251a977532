"""BVH rigs of the common naming families, written for the tests (loaded by path, like rigs.py).

Every rig is a T-pose built from one canonical body (metres, X = the character's left, Y up, Z forward)
whose proportions the family changes (so retargeting onto it is not the identity), turned into the rig's
world (``axes``: the world directions of left, up, forward) and units. Each family lists its joints
(name, where it sits, parent) and the SMPL-22 mapping the detection must find.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from moscale_cli.motion.rig import Rig
from moscale_cli.motion.skeleton import SMPL22

# the canonical T-pose body (metres): named points the rigs' joints sit on
BODY: dict[str, tuple[float, float, float]] = {
    "pelvis": (0.0, 0.95, 0.0), "l_hip": (0.09, 0.88, 0.0), "l_knee": (0.095, 0.49, 0.015),
    "l_ankle": (0.10, 0.085, -0.02), "l_toe": (0.11, 0.02, 0.115), "l_toe_end": (0.115, 0.02, 0.17),
    "spine1": (0.0, 1.05, -0.01), "spine2": (0.0, 1.18, -0.015), "spine3": (0.0, 1.32, -0.005),
    "neck": (0.0, 1.50, 0.0), "neck2": (0.0, 1.56, 0.01), "head": (0.0, 1.62, 0.02), "head_top": (0.0, 1.80, 0.02),
    "l_collar": (0.03, 1.44, 0.0), "l_shoulder": (0.17, 1.45, -0.01), "l_elbow": (0.45, 1.45, -0.025),
    "l_wrist": (0.70, 1.45, 0.0), "l_hand_end": (0.80, 1.45, 0.0),
}  # fmt: skip


def _point(name: str) -> np.ndarray:
    """A canonical point; ``r_*`` mirrors ``l_*``; ``a~b@w`` lies at ``w`` of the way from a to b."""
    if "~" in name:
        ab, w = name.split("@")
        a, b = ab.split("~")
        return (1 - float(w)) * _point(a) + float(w) * _point(b)
    if name.startswith("r_"):
        p = np.array(BODY["l_" + name[2:]])
        return p * [-1.0, 1.0, 1.0]
    return np.array(BODY[name], dtype=np.float64)


@dataclass
class Family:
    """A naming family: joints (name, canonical point or (parent-relative offset), parent name), the
    mapping the detection must find, the End Sites (joint -> canonical point), proportions and axes."""

    joints: list[tuple[str, str | tuple[float, float, float], str | None]]
    mapping: dict[str, str | list[str]]
    end_sites: dict[str, str] = field(default_factory=dict)
    legs: float = 1.0  # scale of the leg bones
    arms: float = 1.0  # scale of the arm bones
    axes: tuple[tuple[float, float, float], ...] = ((1, 0, 0), (0, 1, 0), (0, 0, 1))  # left, up, forward
    units: float = 100.0  # units per metre
    six: tuple[str, ...] = ()  # joints (besides the root) with position channels


def _fingers(side: str, prefix: str, hand: str) -> list[tuple[str, tuple[float, float, float], str | None]]:
    """Mixamo-style fingers (thumb, index, middle, ring, pinky; 4 joints each) under ``hand``."""
    s = 1.0 if side == "Left" else -1.0
    out: list[tuple[str, tuple[float, float, float], str | None]] = []
    for f, (name, z) in enumerate((("Thumb", 0.03), ("Index", 0.02), ("Middle", 0.0), ("Ring", -0.02), ("Pinky", -0.035))):
        parent = hand
        for k in range(1, 5):
            off = (s * (0.03 if k == 1 else 0.025), -0.005 if f == 0 else 0.0, z if k == 1 else 0.0)
            joint = f"{prefix}{side}Hand{name}{k}"
            out.append((joint, off, parent))
            parent = joint
    return out


def mixamo() -> Family:
    p = "mixamorig:"
    j: list[tuple[str, str | tuple, str | None]] = [
        (p + "Hips", "pelvis", None), (p + "Spine", "spine1", p + "Hips"), (p + "Spine1", "spine2", p + "Spine"),
        (p + "Spine2", "spine3", p + "Spine1"), (p + "Neck", "neck", p + "Spine2"), (p + "Head", "head", p + "Neck"),
        (p + "HeadTop_End", "head_top", p + "Head"),
    ]  # fmt: skip
    for side, s in (("Left", "l"), ("Right", "r")):
        j += [
            (f"{p}{side}Shoulder", f"{s}_collar", p + "Spine2"), (f"{p}{side}Arm", f"{s}_shoulder", f"{p}{side}Shoulder"),
            (f"{p}{side}ForeArm", f"{s}_elbow", f"{p}{side}Arm"), (f"{p}{side}Hand", f"{s}_wrist", f"{p}{side}ForeArm"),
        ]  # fmt: skip
        j += _fingers(side, p, f"{p}{side}Hand")
    for side, s in (("Left", "l"), ("Right", "r")):
        j += [
            (f"{p}{side}UpLeg", f"{s}_hip", p + "Hips"), (f"{p}{side}Leg", f"{s}_knee", f"{p}{side}UpLeg"),
            (f"{p}{side}Foot", f"{s}_ankle", f"{p}{side}Leg"), (f"{p}{side}ToeBase", f"{s}_toe", f"{p}{side}Foot"),
            (f"{p}{side}Toe_End", f"{s}_toe_end", f"{p}{side}ToeBase"),
        ]  # fmt: skip
    mp = {
        "pelvis": "Hips", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2", "neck": "Neck", "head": "Head",
        "left_hip": "LeftUpLeg", "left_knee": "LeftLeg", "left_ankle": "LeftFoot", "left_foot": "LeftToeBase",
        "left_collar": "LeftShoulder", "left_shoulder": "LeftArm", "left_elbow": "LeftForeArm", "left_wrist": "LeftHand",
    }  # fmt: skip
    return Family(j, _mirror({k: p + v for k, v in mp.items()}), legs=1.06, arms=0.94)


def _mirror(mp: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
    """Complete a mapping given for the left side with the right side (Left->Right, l->r, _l->_r)."""
    import re

    out = dict(mp)
    for k, v in mp.items():
        if k.startswith("left_"):
            vs = [v] if isinstance(v, str) else v
            r = [re.sub(r"Left", "Right", re.sub(r"_l$", "_r", re.sub(r"(^|:)l([A-Z])", r"\1r\2", x))) for x in vs]
            out["right_" + k[5:]] = r[0] if isinstance(v, str) else r
    return out


def collar(toes: str = "end_site") -> Family:
    """Hips, Chest, Chest2, LeftCollar, LeftShoulder, LeftElbow, LeftWrist, Neck, Head, LeftHip, LeftKnee,
    LeftAnkle: no toe joints; ``toes``: "end_site" (the ankle's End Site points to the toe), "none" (End
    Site under the heel) or "joint" (a LeftToe joint: Xsens MVN's BVH)."""
    j: list[tuple[str, str | tuple, str | None]] = [
        ("Hips", "pelvis", None), ("Chest", "spine1", "Hips"), ("Chest2", "spine3", "Chest"),
        ("Neck", "neck", "Chest2"), ("Head", "head", "Neck"),
    ]  # fmt: skip
    ends = {"Head": "head_top"}
    for side, s in (("Left", "l"), ("Right", "r")):
        j += [
            (f"{side}Collar", f"{s}_collar", "Chest2"), (f"{side}Shoulder", f"{s}_shoulder", f"{side}Collar"),
            (f"{side}Elbow", f"{s}_elbow", f"{side}Shoulder"), (f"{side}Wrist", f"{s}_wrist", f"{side}Elbow"),
            (f"{side}Hip", f"{s}_hip", "Hips"), (f"{side}Knee", f"{s}_knee", f"{side}Hip"),
            (f"{side}Ankle", f"{s}_ankle", f"{side}Knee"),
        ]  # fmt: skip
        ends[f"{side}Wrist"] = f"{s}_hand_end"
        if toes == "joint":
            j.append((f"{side}Toe", f"{s}_toe", f"{side}Ankle"))
            ends[f"{side}Toe"] = f"{s}_toe_end"
        else:
            ends[f"{side}Ankle"] = f"{s}_toe" if toes == "end_site" else f"{s}_ankle~{s}_knee@-0.2"
    toe = "LeftToe" if toes == "joint" else "LeftAnkle (toe)"
    mp: dict[str, str | list[str]] = {
        "pelvis": "Hips", "neck": "Neck", "head": "Head", "left_hip": "LeftHip", "left_knee": "LeftKnee", "left_ankle": "LeftAnkle",
        "left_foot": toe, "left_collar": "LeftCollar", "left_shoulder": "LeftShoulder", "left_elbow": "LeftElbow",
        "left_wrist": "LeftWrist",
    }  # fmt: skip
    # two spine joints between the pelvis and the neck: spine3 lies between the upper one and the neck
    mp["spine1"], mp["spine2"], mp["spine3"] = "Chest", "Chest2", ["Chest2", "Neck"]
    return Family(j, _mirror(mp), ends, legs=0.95, arms=1.05, units=1.0)


def ue_mannequin(z_up: bool = False) -> Family:
    """UE Mannequin names, centimetres, twist and IK bones; Y up facing +Z, or (``z_up``) Z up facing +Y as
    in UE's skeletal mesh space."""
    j: list[tuple[str, str | tuple, str | None]] = [
        ("root", (0.0, 0.0, 0.0), None), ("pelvis", "pelvis", "root"),
        ("spine_01", "spine1", "pelvis"), ("spine_02", "spine1~spine3@0.33", "spine_01"),
        ("spine_03", "spine1~spine3@0.66", "spine_02"), ("spine_04", "spine3", "spine_03"),
        ("spine_05", "spine3~neck@0.5", "spine_04"), ("neck_01", "neck", "spine_05"), ("neck_02", "neck2", "neck_01"),
        ("head", "head", "neck_02"),
        ("ik_foot_root", (0.0, 0.0, 0.0), "root"), ("ik_foot_l", (0.10, 0.085, -0.02), "ik_foot_root"),
        ("ik_foot_r", (-0.10, 0.085, -0.02), "ik_foot_root"),
    ]  # fmt: skip
    for s in ("l", "r"):
        j += [
            (f"clavicle_{s}", f"{s}_collar", "spine_05"), (f"upperarm_{s}", f"{s}_shoulder", f"clavicle_{s}"),
            (f"upperarm_twist_01_{s}", f"{s}_shoulder~{s}_elbow@0.5", f"upperarm_{s}"),
            (f"lowerarm_{s}", f"{s}_elbow", f"upperarm_{s}"),
            (f"lowerarm_twist_01_{s}", f"{s}_elbow~{s}_wrist@0.5", f"lowerarm_{s}"),
            (f"hand_{s}", f"{s}_wrist", f"lowerarm_{s}"), (f"middle_01_{s}", f"{s}_hand_end", f"hand_{s}"),
            (f"thigh_{s}", f"{s}_hip", "pelvis"), (f"thigh_twist_01_{s}", f"{s}_hip~{s}_knee@0.5", f"thigh_{s}"),
            (f"calf_{s}", f"{s}_knee", f"thigh_{s}"), (f"calf_twist_01_{s}", f"{s}_knee~{s}_ankle@0.5", f"calf_{s}"),
            (f"foot_{s}", f"{s}_ankle", f"calf_{s}"), (f"ball_{s}", f"{s}_toe", f"foot_{s}"),
        ]  # fmt: skip
    mp = {
        "pelvis": "pelvis", "spine1": "spine_01", "spine2": "spine_03", "spine3": "spine_05", "neck": "neck_01",
        "head": "head", "left_hip": "thigh_l", "left_knee": "calf_l", "left_ankle": "foot_l", "left_foot": "ball_l",
        "left_collar": "clavicle_l", "left_shoulder": "upperarm_l", "left_elbow": "lowerarm_l", "left_wrist": "hand_l",
    }  # fmt: skip
    axes = ((-1, 0, 0), (0, 0, 1), (0, 1, 0)) if z_up else ((1, 0, 0), (0, 1, 0), (0, 0, 1))
    return Family(j, _mirror(mp), legs=1.02, arms=1.08, axes=axes, six=("pelvis",))


def daz() -> Family:
    """Daz/Poser names (hip, abdomen, chest, lCollar, lShldr, lForeArm, lHand, lThigh, lShin, lFoot, lToe)."""
    j: list[tuple[str, str | tuple, str | None]] = [
        ("hip", "pelvis", None), ("abdomen", "spine1", "hip"), ("chest", "spine3", "abdomen"),
        ("neck", "neck", "chest"), ("head", "head", "neck"),
    ]  # fmt: skip
    for s in ("l", "r"):
        j += [
            (f"{s}Collar", f"{s}_collar", "chest"), (f"{s}Shldr", f"{s}_shoulder", f"{s}Collar"),
            (f"{s}ForeArm", f"{s}_elbow", f"{s}Shldr"), (f"{s}Hand", f"{s}_wrist", f"{s}ForeArm"),
            (f"{s}Buttock", f"{s}_hip~pelvis@0.5", "hip"), (f"{s}Thigh", f"{s}_hip", f"{s}Buttock"),
            (f"{s}Shin", f"{s}_knee", f"{s}Thigh"), (f"{s}Foot", f"{s}_ankle", f"{s}Shin"), (f"{s}Toe", f"{s}_toe", f"{s}Foot"),
        ]  # fmt: skip
    mp = {
        "pelvis": "hip", "spine1": "abdomen", "spine2": "chest", "spine3": ["chest", "neck"], "neck": "neck",
        "head": "head", "left_hip": "lThigh", "left_knee": "lShin", "left_ankle": "lFoot", "left_foot": "lToe",
        "left_collar": "lCollar", "left_shoulder": "lShldr", "left_elbow": "lForeArm", "left_wrist": "lHand",
    }  # fmt: skip
    return Family(j, _mirror(mp), legs=0.97, arms=1.0)


def daz_genesis() -> Family:
    """Daz Genesis 3 names: hip above pelvis (the thighs hang from pelvis, the spine from hip), Bend/Twist
    bones, neckLower/neckUpper."""
    j: list[tuple[str, str | tuple, str | None]] = [
        ("hip", "pelvis", None), ("pelvis", (0.0, -0.03, 0.0), "hip"),
        ("abdomenLower", "spine1", "hip"), ("abdomenUpper", "spine2", "abdomenLower"),
        ("chestLower", "spine2~spine3@0.5", "abdomenUpper"), ("chestUpper", "spine3", "chestLower"),
        ("neckLower", "neck", "chestUpper"), ("neckUpper", "neck2", "neckLower"), ("head", "head", "neckUpper"),
    ]  # fmt: skip
    for s in ("l", "r"):
        j += [
            (f"{s}Collar", f"{s}_collar", "chestUpper"), (f"{s}ShldrBend", f"{s}_shoulder", f"{s}Collar"),
            (f"{s}ShldrTwist", f"{s}_shoulder~{s}_elbow@0.5", f"{s}ShldrBend"),
            (f"{s}ForearmBend", f"{s}_elbow", f"{s}ShldrTwist"),
            (f"{s}ForearmTwist", f"{s}_elbow~{s}_wrist@0.5", f"{s}ForearmBend"),
            (f"{s}Hand", f"{s}_wrist", f"{s}ForearmTwist"),
            (f"{s}ThighBend", f"{s}_hip", "pelvis"), (f"{s}ThighTwist", f"{s}_hip~{s}_knee@0.5", f"{s}ThighBend"),
            (f"{s}Shin", f"{s}_knee", f"{s}ThighTwist"), (f"{s}Foot", f"{s}_ankle", f"{s}Shin"),
            (f"{s}Metatarsals", f"{s}_ankle~{s}_toe@0.5", f"{s}Foot"), (f"{s}Toe", f"{s}_toe", f"{s}Metatarsals"),
        ]  # fmt: skip
    mp = {
        "pelvis": "hip", "spine1": "abdomenLower", "spine2": "chestLower", "spine3": "chestUpper",
        "neck": "neckLower", "head": "head", "left_hip": "lThighBend", "left_knee": "lShin", "left_ankle": "lFoot",
        "left_foot": "lToe", "left_collar": "lCollar", "left_shoulder": "lShldrBend", "left_elbow": "lForearmBend",
        "left_wrist": "lHand",
    }  # fmt: skip
    return Family(j, _mirror(mp), units=100.0)


def rokoko() -> Family:
    """Rokoko Studio's names (Hips, Spine1..4, LeftThigh, LeftShin, LeftFoot, LeftToe, LeftToeEnd, ...)."""
    j: list[tuple[str, str | tuple, str | None]] = [
        ("Hips", "pelvis", None), ("Spine1", "spine1", "Hips"), ("Spine2", "spine2", "Spine1"),
        ("Spine3", "spine3", "Spine2"), ("Spine4", "spine3~neck@0.5", "Spine3"), ("Neck", "neck", "Spine4"),
        ("Head", "head", "Neck"), ("HeadTop", "head_top", "Head"),
    ]  # fmt: skip
    for side, s in (("Left", "l"), ("Right", "r")):
        j += [
            (f"{side}Shoulder", f"{s}_collar", "Spine4"), (f"{side}Arm", f"{s}_shoulder", f"{side}Shoulder"),
            (f"{side}ForeArm", f"{s}_elbow", f"{side}Arm"), (f"{side}Hand", f"{s}_wrist", f"{side}ForeArm"),
            (f"{side}Finger2Metacarpal", f"{s}_wrist~{s}_hand_end@0.5", f"{side}Hand"),
            (f"{side}Thigh", f"{s}_hip", "Hips"), (f"{side}Shin", f"{s}_knee", f"{side}Thigh"),
            (f"{side}Foot", f"{s}_ankle", f"{side}Shin"), (f"{side}Toe", f"{s}_toe", f"{side}Foot"),
            (f"{side}ToeEnd", f"{s}_toe_end", f"{side}Toe"),
        ]  # fmt: skip
    mp = {
        "pelvis": "Hips", "spine1": "Spine1", "spine2": "Spine3", "spine3": "Spine4", "neck": "Neck", "head": "Head",
        "left_hip": "LeftThigh", "left_knee": "LeftShin", "left_ankle": "LeftFoot", "left_foot": "LeftToe",
        "left_collar": "LeftShoulder", "left_shoulder": "LeftArm", "left_elbow": "LeftForeArm", "left_wrist": "LeftHand",
    }  # fmt: skip
    return Family(j, _mirror(mp), legs=1.04, arms=0.97)


def xsens() -> Family:
    """Xsens MVN segment names (Pelvis, L5, L3, T12, T8, Neck, Head, LeftShoulder, LeftUpperArm, ...)."""
    j: list[tuple[str, str | tuple, str | None]] = [
        ("Pelvis", "pelvis", None), ("L5", "spine1", "Pelvis"), ("L3", "spine2", "L5"), ("T12", "spine2~spine3@0.5", "L3"),
        ("T8", "spine3", "T12"), ("Neck", "neck", "T8"), ("Head", "head", "Neck"),
    ]  # fmt: skip
    for side, s in (("Left", "l"), ("Right", "r")):
        j += [
            (f"{side}Shoulder", f"{s}_collar", "T8"), (f"{side}UpperArm", f"{s}_shoulder", f"{side}Shoulder"),
            (f"{side}ForeArm", f"{s}_elbow", f"{side}UpperArm"), (f"{side}Hand", f"{s}_wrist", f"{side}ForeArm"),
            (f"{side}UpperLeg", f"{s}_hip", "Pelvis"), (f"{side}LowerLeg", f"{s}_knee", f"{side}UpperLeg"),
            (f"{side}Foot", f"{s}_ankle", f"{side}LowerLeg"), (f"{side}Toe", f"{s}_toe", f"{side}Foot"),
        ]  # fmt: skip
    mp = {
        "pelvis": "Pelvis", "spine1": "L5", "spine2": "T12", "spine3": "T8", "neck": "Neck", "head": "Head",
        "left_hip": "LeftUpperLeg", "left_knee": "LeftLowerLeg", "left_ankle": "LeftFoot", "left_foot": "LeftToe",
        "left_collar": "LeftShoulder", "left_shoulder": "LeftUpperArm", "left_elbow": "LeftForeArm",
        "left_wrist": "LeftHand",
    }  # fmt: skip
    return Family(j, _mirror(mp), legs=1.0, arms=1.03)


def vroid() -> Family:
    """VRoid / VRM names: J_Bip_C_Hips (centre), J_Bip_L_UpperArm (left), ..."""
    j: list[tuple[str, str | tuple, str | None]] = [
        ("J_Bip_C_Hips", "pelvis", None), ("J_Bip_C_Spine", "spine1", "J_Bip_C_Hips"),
        ("J_Bip_C_Chest", "spine2", "J_Bip_C_Spine"), ("J_Bip_C_UpperChest", "spine3", "J_Bip_C_Chest"),
        ("J_Bip_C_Neck", "neck", "J_Bip_C_UpperChest"), ("J_Bip_C_Head", "head", "J_Bip_C_Neck"),
    ]  # fmt: skip
    for s in ("L", "R"):
        t = s.lower()
        j += [
            (f"J_Bip_{s}_Shoulder", f"{t}_collar", "J_Bip_C_UpperChest"),
            (f"J_Bip_{s}_UpperArm", f"{t}_shoulder", f"J_Bip_{s}_Shoulder"),
            (f"J_Bip_{s}_LowerArm", f"{t}_elbow", f"J_Bip_{s}_UpperArm"), (f"J_Bip_{s}_Hand", f"{t}_wrist", f"J_Bip_{s}_LowerArm"),
            (f"J_Bip_{s}_UpperLeg", f"{t}_hip", "J_Bip_C_Hips"), (f"J_Bip_{s}_LowerLeg", f"{t}_knee", f"J_Bip_{s}_UpperLeg"),
            (f"J_Bip_{s}_Foot", f"{t}_ankle", f"J_Bip_{s}_LowerLeg"), (f"J_Bip_{s}_ToeBase", f"{t}_toe", f"J_Bip_{s}_Foot"),
        ]  # fmt: skip
    mp: dict[str, str | list[str]] = {
        "pelvis": "J_Bip_C_Hips", "spine1": "J_Bip_C_Spine", "spine2": "J_Bip_C_Chest", "spine3": "J_Bip_C_UpperChest",
        "neck": "J_Bip_C_Neck", "head": "J_Bip_C_Head",
    }  # fmt: skip
    for side, s in (("left", "L"), ("right", "R")):
        for role, name in (("hip", "UpperLeg"), ("knee", "LowerLeg"), ("ankle", "Foot"), ("foot", "ToeBase"),
                           ("collar", "Shoulder"), ("shoulder", "UpperArm"), ("elbow", "LowerArm"), ("wrist", "Hand")):  # fmt: skip
            mp[f"{side}_{role}"] = f"J_Bip_{s}_{name}"
    return Family(j, mp, legs=0.9, arms=0.92, units=1.0)


FAMILIES = {
    "mixamo": mixamo, "collar": collar, "collar_heel": lambda: collar("none"), "xsens_bvh": lambda: collar("joint"),
    "ue_mannequin": ue_mannequin, "ue_zup": lambda: ue_mannequin(z_up=True), "daz": daz, "daz_genesis": daz_genesis, "rokoko": rokoko, "xsens": xsens,
    "vroid": vroid,
}  # fmt: skip


def _scaled_body(fam: Family) -> dict[str, np.ndarray]:
    """Canonical positions of every joint of the family before its proportions."""
    pos: dict[str, np.ndarray] = {}
    for name, where, parent in fam.joints:
        if isinstance(where, tuple):
            pos[name] = (pos[parent] if parent else np.zeros(3)) + np.asarray(where, dtype=np.float64)
        else:
            pos[name] = _point(where)
    return pos


def family_rig(name: str, order: str = "ZXY") -> tuple[Rig, Family]:
    """The family's rig (joints in depth-first order; the root with position + rotation channels, the
    others rotations in ``order``) and its description."""
    fam = FAMILIES[name]()
    canon = _proportioned(fam)
    axes = np.array(fam.axes, dtype=np.float64).T  # columns: world left, up, forward
    names = [n for n, _, _ in fam.joints]
    parents_by_name = {n: p for n, _, p in fam.joints}
    children: dict[str | None, list[str]] = {}
    for n, _, p in fam.joints:
        children.setdefault(p, []).append(n)
    order_names: list[str] = []

    def visit(n: str) -> None:
        order_names.append(n)
        for c in children.get(n, []):
            visit(c)

    visit(children[None][0])
    assert sorted(order_names) == sorted(names)
    world = {n: axes @ canon[n] * fam.units for n in order_names}
    rot = [f"{a}rotation" for a in order]
    pos_ch = ["Xposition", "Yposition", "Zposition"]
    parents, offsets, channels = [], [], []
    for n in order_names:
        p = parents_by_name[n]
        parents.append(-1 if p is None else order_names.index(p))
        offsets.append(world[n] - (world[p] if p is not None else 0.0))
        channels.append(pos_ch + rot if p is None or n in fam.six else list(rot))
    ends = {}
    for n, where in fam.end_sites.items():
        ends[order_names.index(n)] = axes @ _proportion(_point(where), fam) * fam.units - world[n]
    return Rig(order_names, parents, np.stack(offsets), channels, ends), fam


def _lift_y(fam: Family) -> float:
    return (fam.legs - 1.0) * (_point("l_hip")[1] - _point("l_toe")[1])


def _proportion(p: np.ndarray, fam: Family) -> np.ndarray:
    """A canonical point with the legs scaled by ``fam.legs`` (about the hips, the body lifted so that the
    toes keep their height) and the arms by ``fam.arms`` (beyond the shoulders)."""
    hip_y, sho_x = _point("l_hip")[1], _point("l_shoulder")[0]
    q = np.array(p, dtype=np.float64)
    if p[1] < hip_y - 1e-9 and abs(p[0]) < 0.3:  # leg points: scale the drop below the hips
        q[1] = hip_y - (hip_y - p[1]) * fam.legs
        q[2] = p[2] * fam.legs
    elif abs(p[0]) > sho_x + 1e-9:  # arm points beyond the shoulders
        q[0] = np.sign(p[0]) * (sho_x + (abs(p[0]) - sho_x) * fam.arms)
    return q + [0.0, _lift_y(fam), 0.0]


def _proportioned(fam: Family) -> dict[str, np.ndarray]:
    return {name: _proportion(p, fam) for name, p in _scaled_body(fam).items()}


def write_family(name: str, folder: Path, frames: int = 3, frame_time: float = 1 / 30, order: str = "ZXY") -> Path:
    """The family's rig as a BVH file (``frames`` frames of the rest pose) in ``folder``."""
    from moscale_cli.io.bvh import write_rig
    from moscale_cli.motion.rig import rest_values

    rig, _ = family_rig(name, order)
    path = Path(folder) / f"{name}.bvh"
    write_rig(path, rig, rest_values(rig, frames), frame_time)
    return path


def walk(frames: int = 60) -> np.ndarray:
    """A synthetic SMPL-22 walk-like motion on HumanML3D's bones: the root moves forward, the legs swing."""
    rest = SMPL22.rest_pose().astype(np.float64)
    t = np.arange(frames)
    j = np.repeat(rest[None], frames, 0)
    j[..., 1] -= rest[..., 1].min()
    j[:, :, 2] += 0.02 * t[:, None]
    phase = np.sin(2 * np.pi * t / 30.0)
    for side, sgn in (((1, 4, 7, 10), 1.0), ((2, 5, 8, 11), -1.0)):
        hip, knee, ankle, toe = side
        a = 0.35 * sgn * phase
        for k in (knee, ankle, toe):
            d = j[:, k] - j[:, hip]
            j[:, k, 1] = j[:, hip, 1] + np.cos(a) * d[:, 1] - np.sin(a) * d[:, 2]
            j[:, k, 2] = j[:, hip, 2] + np.sin(a) * d[:, 1] + np.cos(a) * d[:, 2]
    return j


def squat_sway(frames: int = 60) -> np.ndarray:
    """SMPL-22 joints (metres, Y up) that squat and sway sideways with both feet planted (ankles and toes
    still; the knees from two-bone IK)."""
    from moscale_cli.motion.kinematics import two_bone_ik

    rest = SMPL22.rest_pose().astype(np.float64)
    rest[..., 1] -= rest[..., 1].min()
    t = np.arange(frames)
    shift = np.stack([0.05 * np.sin(2 * np.pi * t / 40), -0.04 - 0.12 * (1 - np.cos(2 * np.pi * t / 30)) / 2, 0 * t], -1)
    j = np.repeat(rest[None], frames, 0)
    legs = {1, 2, 4, 5, 7, 8, 10, 11}
    for k in range(22):
        if k not in legs - {1, 2}:
            j[:, k] += shift
    lengths = np.linalg.norm(rest - rest[list(SMPL22.parents)], axis=-1)
    for hip, knee, ankle in ((1, 4, 7), (2, 5, 8)):
        j[:, knee], j[:, ankle] = two_bone_ik(j[:, hip], j[:, knee] + [0, 0, 0.02], j[:, ankle], lengths[knee], lengths[ankle], np.array([0.0, 0.0, 1.0]))
    return j
