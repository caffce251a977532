"""BVH files: read any BVH (FK to global positions), map it to SMPL-22, and write SMPL-22 motion as BVH.

Reading uses a strict parser of our own (numpy, fast, one-line errors for truncated files, channel
count mismatches, non-numbers). Writing builds a ``bvhio`` hierarchy and lets ``bvhio.writeBvh`` write
it (inside ``atomic_path``).

Channel semantics (as in bvhio and most tools): a joint's local transform is ``T(p) @ R`` where ``p`` is
its OFFSET with any position channels overriding the matching components, and ``R`` is the product of
its rotation channels in the listed order (intrinsic: ``Zrotation Xrotation Yrotation`` -> Rz @ Rx @ Ry).

Units on import: the skeleton's height is measured on the first frame (extent of the 22 mapped joints
along Y, or the largest extent if the body lies down). Height < 3 -> metres, < 300 -> centimetres
(x 0.01), otherwise millimetres (x 0.001). Pass ``scale`` to override (file units -> metres).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from moscale_cli.errors import MotionFileError
from moscale_cli.io.rotations import axis_angle, euler_to_matrix, kabsch, normalize, rotation_angle, swing
from moscale_cli.motion.skeleton import SMPL22
from moscale_cli.utils.atomic import atomic_path

# SMPL-22 joint order -> BVH joint names written by moscale (the names common tools use).
SMPL22_BVH_NAMES: tuple[str, ...] = (
    "Hips", "LeftUpLeg", "RightUpLeg", "Spine", "LeftLeg", "RightLeg", "Spine1", "LeftFoot",
    "RightFoot", "Spine2", "LeftToe", "RightToe", "Neck", "LeftShoulder", "RightShoulder", "Head",
    "LeftArm", "RightArm", "LeftForeArm", "RightForeArm", "LeftHand", "RightHand",
)  # fmt: skip

# mapping values: a BVH joint name, or a list of two names (the midpoint of the two joints)
MappingValue = str | list[str]

BANDAI_MAPPING: dict[str, MappingValue] = {
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
MOSCALE_MAPPING: dict[str, MappingValue] = dict(zip(SMPL22.joint_names, SMPL22_BVH_NAMES, strict=True))
BUILTIN_MAPPINGS: dict[str, dict[str, MappingValue]] = {
    "moscale": MOSCALE_MAPPING,
    "bandai-namco": BANDAI_MAPPING,
}

_POS_CHANNELS = {"Xposition": 0, "Yposition": 1, "Zposition": 2}
_ROT_CHANNELS = {"Xrotation": "X", "Yrotation": "Y", "Zrotation": "Z"}


@dataclass
class BvhClip:
    """A BVH file after forward kinematics (units of the file)."""

    names: list[str]
    parents: list[int]
    offsets: np.ndarray  # (J, 3) OFFSET of each joint
    frame_time: float
    positions: np.ndarray  # (T, J, 3) global joint positions
    rotations: np.ndarray  # (T, J, 3, 3) global joint rotations

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    @property
    def num_frames(self) -> int:
        return int(self.positions.shape[0])

    def index(self, name: str) -> int:
        return self.names.index(name)


# ----------------------------------------------------------------------------------------------------
# reading


def _parse_hierarchy(path: Path, text: str) -> tuple[list, int]:
    """Returns (joints, index of the line after 'MOTION'); joints = [(name, parent, offset, channels)]."""
    lines = text.splitlines()
    toks: list[tuple[str, int]] = []
    motion_line = None
    for ln, line in enumerate(lines, start=1):
        parts = line.split()
        if parts and parts[0] == "MOTION":
            motion_line = ln
            break
        toks.extend((p, ln) for p in parts)
    if not toks or toks[0][0] != "HIERARCHY":
        raise MotionFileError(f"{path}: not a BVH file (it does not start with HIERARCHY)")
    if motion_line is None:
        raise MotionFileError(f"{path}: truncated BVH: no MOTION section")
    joints: list[tuple[str, int, np.ndarray, list[str]]] = []
    i = 1

    def need(n: int) -> None:
        if i + n > len(toks):
            raise MotionFileError(f"{path}: truncated BVH hierarchy (line {toks[-1][1]})")

    def number(tok: tuple[str, int]) -> float:
        try:
            v = float(tok[0])
        except ValueError:
            raise MotionFileError(f"{path}: expected a number, found {tok[0]!r} (line {tok[1]})") from None
        if not np.isfinite(v):
            raise MotionFileError(f"{path}: OFFSET is not a finite number (line {tok[1]})")
        return v

    stack: list[int] = []  # open braces: joint index, or -1 for an End Site
    expect_root = True
    while i < len(toks):
        tok, ln = toks[i]
        if tok in ("ROOT", "JOINT"):
            if (tok == "ROOT") != expect_root:
                raise MotionFileError(f"{path}: unexpected {tok} (line {ln})")
            expect_root = False
            need(2)
            name = toks[i + 1][0]
            if toks[i + 2][0] != "{":
                raise MotionFileError(f"{path}: expected '{{' after {tok} {name} (line {toks[i + 2][1]})")
            i += 3
            need(4)
            if toks[i][0] != "OFFSET":
                raise MotionFileError(f"{path}: expected OFFSET for joint {name} (line {toks[i][1]})")
            offset = np.array([number(t) for t in toks[i + 1 : i + 4]])
            i += 4
            need(2)
            if toks[i][0] != "CHANNELS":
                raise MotionFileError(f"{path}: expected CHANNELS for joint {name} (line {toks[i][1]})")
            cl = toks[i][1]
            try:
                n = int(toks[i + 1][0])
            except ValueError:
                raise MotionFileError(
                    f"{path}: channel count of joint {name} is not a number (line {cl})"
                ) from None
            names = [t for t, l2 in toks[i + 2 : i + 2 + n] if l2 == cl]
            extra = [t for t, l2 in toks[i + 2 :] if l2 == cl][n:] if len(names) == n else []
            if len(names) != n or extra or n < 0:
                found = len([t for t, l2 in toks[i + 2 :] if l2 == cl])
                raise MotionFileError(
                    f"{path}: joint {name} declares {n} channels but lists {found} (line {cl})"
                )
            for c in names:
                if c not in _POS_CHANNELS and c not in _ROT_CHANNELS:
                    raise MotionFileError(f"{path}: unknown channel {c!r} on joint {name} (line {cl})")
            i += 2 + n
            parent = stack[-1] if stack else -1
            if parent == -2:
                raise MotionFileError(f"{path}: joint {name} inside an End Site (line {ln})")
            if name in [j[0] for j in joints]:
                raise MotionFileError(f"{path}: joint name {name} appears twice (line {ln})")
            joints.append((name, parent, offset, names))
            stack.append(len(joints) - 1)
        elif tok == "End":
            need(7)
            if toks[i + 1][0] != "Site" or toks[i + 2][0] != "{" or toks[i + 3][0] != "OFFSET":
                raise MotionFileError(f"{path}: malformed End Site (line {ln})")
            [number(t) for t in toks[i + 4 : i + 7]]
            i += 7
            if i >= len(toks) or toks[i][0] != "}":
                raise MotionFileError(f"{path}: End Site is not closed (line {ln})")
            i += 1
        elif tok == "}":
            if not stack:
                raise MotionFileError(f"{path}: unbalanced '}}' (line {ln})")
            stack.pop()
            i += 1
        else:
            raise MotionFileError(f"{path}: unexpected {tok!r} in the hierarchy (line {ln})")
    if stack:
        raise MotionFileError(f"{path}: truncated BVH hierarchy ({len(stack)} joints not closed)")
    if not joints:
        raise MotionFileError(f"{path}: BVH hierarchy has no joints")
    return joints, motion_line


def _parse_motion(path: Path, lines: list[str], start: int, n_channels: int) -> tuple[np.ndarray, float]:
    """Parse 'Frames:', 'Frame Time:' and the frame lines (``start`` = 1-based line of MOTION)."""
    body = [(ln, line) for ln, line in enumerate(lines[start:], start=start + 1) if line.strip()]
    if len(body) < 2:
        raise MotionFileError(f"{path}: truncated BVH: MOTION section lacks 'Frames:' / 'Frame Time:'")
    (l1, s1), (l2, s2) = body[0], body[1]
    p1, p2 = s1.split(), s2.split()
    try:
        if p1[0] != "Frames:" or len(p1) != 2:
            raise ValueError
        n_frames = int(p1[1])
    except (ValueError, IndexError):
        raise MotionFileError(f"{path}: expected 'Frames: N' (line {l1})") from None
    try:
        if p2[:2] != ["Frame", "Time:"] or len(p2) != 3:
            raise ValueError
        frame_time = float(p2[2])
    except (ValueError, IndexError):
        raise MotionFileError(f"{path}: expected 'Frame Time: SECONDS' (line {l2})") from None
    if not np.isfinite(frame_time) or frame_time <= 0:
        raise MotionFileError(f"{path}: frame time must be positive (line {l2})")
    if n_frames < 1:
        raise MotionFileError(f"{path}: BVH has no frames")
    rows = body[2:]
    if len(rows) < n_frames:
        raise MotionFileError(f"{path}: truncated BVH: header says {n_frames} frames, file holds {len(rows)}")
    if len(rows) > n_frames:
        raise MotionFileError(
            f"{path}: header says {n_frames} frames but the file holds {len(rows)} frame lines (line {rows[n_frames][0]})"
        )
    text = " ".join(line for _, line in rows)
    try:
        values = np.array(text.split(), dtype=np.float64)
    except ValueError:
        for ln, line in rows:
            try:
                np.array(line.split(), dtype=np.float64)
            except ValueError:
                raise MotionFileError(
                    f"{path}: frame data holds a value that is not a number (line {ln})"
                ) from None
        raise
    if values.size != n_frames * n_channels:
        for ln, line in rows:
            k = len(line.split())
            if k != n_channels:
                raise MotionFileError(
                    f"{path}: frame line has {k} values but the hierarchy declares {n_channels} channels (line {ln})"
                )
    data = values.reshape(n_frames, n_channels)
    bad = ~np.isfinite(data)
    if bad.any():
        f = int(np.argwhere(bad)[0][0])
        raise MotionFileError(f"{path}: frame {f} holds NaN or infinite values (line {rows[f][0]})")
    return data, frame_time


def read_bvh(path: str | os.PathLike) -> BvhClip:
    """Read a BVH file and run forward kinematics -> :class:`BvhClip` (in the file's units)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise MotionFileError(f"{path}: file not found") from None
    except OSError as e:
        raise MotionFileError(f"{path}: cannot read ({e.strerror})") from None
    joints, motion_line = _parse_hierarchy(path, text)
    n_channels = sum(len(j[3]) for j in joints)
    data, frame_time = _parse_motion(path, text.splitlines(), motion_line, n_channels)
    t = data.shape[0]
    names = [j[0] for j in joints]
    parents = [j[1] for j in joints]
    offsets = np.stack([j[2] for j in joints])
    pos = np.zeros((t, len(joints), 3))
    rot = np.zeros((t, len(joints), 3, 3))
    col = 0
    for k, (_, parent, offset, channels) in enumerate(joints):
        local_p = np.broadcast_to(offset, (t, 3)).copy()
        rot_cols, order = [], ""
        for c in channels:
            if c in _POS_CHANNELS:
                local_p[:, _POS_CHANNELS[c]] = data[:, col]
            else:
                rot_cols.append(col)
                order += _ROT_CHANNELS[c]
            col += 1
        local_r = (
            euler_to_matrix(data[:, rot_cols], order) if order else np.broadcast_to(np.eye(3), (t, 3, 3))
        )
        if parent < 0:
            pos[:, k] = local_p
            rot[:, k] = local_r
        else:
            pos[:, k] = pos[:, parent] + np.einsum("tij,tj->ti", rot[:, parent], local_p)
            rot[:, k] = rot[:, parent] @ local_r
    return BvhClip(names, parents, offsets, frame_time, pos, rot)


def load_mapping(spec: str | os.PathLike | dict | None) -> dict[str, MappingValue] | None:
    """A mapping from a dict, a JSON file path, or an inline JSON string (``{"pelvis": "Hips", ...}``)."""
    if spec is None or isinstance(spec, dict):
        return spec
    s = str(spec)
    if s.lstrip().startswith("{"):
        src, raw = "mapping", s
    else:
        src = s
        try:
            raw = Path(s).read_text(encoding="utf-8")
        except OSError:
            raise MotionFileError(f"mapping file {s} cannot be read") from None
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as e:
        raise MotionFileError(f"{src}: invalid JSON ({e.msg}, line {e.lineno})") from None
    if not isinstance(obj, dict):
        raise MotionFileError(f'{src}: the mapping must be a JSON object {{"pelvis": "Hips", ...}}')
    return obj


def detect_mapping(names: list[str]) -> tuple[str, dict[str, MappingValue]] | None:
    """The built-in mapping whose joints all exist in ``names`` (our own files, Bandai-Namco), else None."""
    have = set(names)
    for key, mp in BUILTIN_MAPPINGS.items():
        needed = {n for v in mp.values() for n in ([v] if isinstance(v, str) else v)}
        if needed <= have:
            return key, mp
    return None


def _apply_mapping(path: Path, clip: BvhClip, mapping: dict[str, MappingValue]) -> np.ndarray:
    missing = [n for n in SMPL22.joint_names if n not in mapping]
    if missing:
        raise MotionFileError(f"mapping for {path.name} lacks SMPL-22 joints: {', '.join(missing)}")
    unknown = [k for k in mapping if k not in SMPL22.joint_names]
    if unknown:
        raise MotionFileError(f"mapping names unknown SMPL-22 joints: {', '.join(unknown)}")
    out = np.zeros((clip.num_frames, 22, 3))
    absent: list[str] = []
    for j, smpl_name in enumerate(SMPL22.joint_names):
        v = mapping[smpl_name]
        srcs = [v] if isinstance(v, str) else list(v)
        if not srcs or not all(isinstance(s, str) for s in srcs):
            raise MotionFileError(f"mapping value for {smpl_name} must be a joint name or a list of names")
        idx = []
        for s in srcs:
            if s in clip.names:
                idx.append(clip.index(s))
            else:
                absent.append(s)
        if idx:
            out[:, j] = clip.positions[:, idx].mean(axis=1)
    if absent:
        raise MotionFileError(
            f"{path.name} has no joints named {', '.join(sorted(set(absent)))} (named in the mapping)"
        )
    return out


def detect_scale(joints_TJ3: np.ndarray) -> float:
    """File units -> metres, from the body's size on the first frame (see the module docstring)."""
    extent = joints_TJ3[0].max(axis=0) - joints_TJ3[0].min(axis=0)
    height = float(max(extent[1], extent.max() * 0.9))
    if height < 3.0:
        return 1.0
    if height < 300.0:
        return 0.01
    return 0.001


def resample(joints_TJ3: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """Linear interpolation of positions to ``dst_fps`` (first frame kept, last sample <= clip end)."""
    t = joints_TJ3.shape[0]
    if abs(src_fps - dst_fps) < 1e-6 or t == 1:
        return joints_TJ3
    duration = (t - 1) / src_fps
    n = int(np.floor(duration * dst_fps + 1e-6)) + 1
    x = np.arange(n) / dst_fps * src_fps
    i0 = np.clip(np.floor(x).astype(int), 0, t - 1)
    i1 = np.clip(i0 + 1, 0, t - 1)
    w = (x - i0)[:, None, None]
    return (1.0 - w) * joints_TJ3[i0] + w * joints_TJ3[i1]


def bvh_to_smpl22(
    path: str | os.PathLike,
    mapping: str | os.PathLike | dict | None = None,
    target_fps: float = 20.0,
    scale: float | None = None,
    floor: bool | None = None,
) -> np.ndarray:
    """Read a BVH and return SMPL-22 joints (T, 22, 3) in metres at ``target_fps``, float32.

    ``mapping``: None = built-in (our files, Bandai-Namco) or a dict / JSON path / JSON string
    ``{"pelvis": "Hips", ...}`` (a value may be a list of names: their midpoint).
    ``scale``: file units -> metres (None = detect, see the module docstring).
    ``floor``: put the lowest joint of the clip at y=0 (None = yes, except for files moscale wrote,
    which are read back unchanged).
    """
    path = Path(path)
    clip = read_bvh(path)
    mp = load_mapping(mapping)
    kind = "user"
    if mp is None:
        found = detect_mapping(clip.names)
        if found is None:
            raise MotionFileError(
                f"{path.name}: unknown skeleton (joints {', '.join(clip.names[:6])}, ...); "
                'pass a JSON mapping {"pelvis": "<bvh joint>", ...} for all 22 SMPL joints'
            )
        kind, mp = found
    joints = _apply_mapping(path, clip, mp)
    if scale is None:
        scale = detect_scale(joints)
    elif not (np.isfinite(scale) and scale > 0):
        raise MotionFileError(f"scale must be a positive number, got {scale}")
    joints = resample(joints * scale, clip.fps, target_fps)
    if floor is None:
        floor = kind != "moscale"
    if floor:
        joints = joints.copy()
        joints[..., 1] -= joints[..., 1].min()
    return joints.astype(np.float32)


# ----------------------------------------------------------------------------------------------------
# writing (inverse kinematics on SMPL-22 joints)


def _children(parents: tuple[int, ...]) -> list[list[int]]:
    ch: list[list[int]] = [[] for _ in parents]
    for j, p in enumerate(parents):
        if p >= 0:
            ch[p].append(j)
    return ch


def rest_offsets_for(joints_TJ3: np.ndarray) -> np.ndarray:
    """Rest-pose offsets (22, 3): SMPL22.offsets, except that the bones leaving the two branching
    joints (pelvis -> hips/spine1, spine3 -> neck/collars) keep the clip's own directions (averaged
    in a left/up/forward frame of the branch), with the skeleton's bone lengths. Branch triangles are
    rigid in SMPL-based data but not right-angled as the raw offsets are; a BVH hierarchy can only
    reproduce them if its rest pose has their shape.
    """
    off = SMPL22.offsets.astype(np.float64).copy()
    j = joints_TJ3.astype(np.float64)
    for branch, (left, right, up) in ((0, (1, 2, 3)), (9, (13, 14, 12))):
        x = normalize(j[:, left] - j[:, right])
        upv = j[:, up] - j[:, branch]
        y = upv - np.sum(upv * x, -1, keepdims=True) * x
        ok = (np.linalg.norm(j[:, left] - j[:, right], axis=-1) > 1e-6) & (np.linalg.norm(y, axis=-1) > 1e-6)
        if not ok.any():
            continue
        y = normalize(y)
        z = np.cross(x, y)
        frame = np.stack([x, y, z], axis=-1)[ok]  # columns = axes
        for c in (left, right, up):
            local = np.einsum("tji,tj->ti", frame, (j[:, c] - j[:, branch])[ok]).mean(0)
            if np.linalg.norm(local) > 1e-9:
                off[c] = normalize(local) * SMPL22.bone_lengths[c]
    return off


def inverse_kinematics(
    joints_TJ3: np.ndarray, offsets: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Global rotations (T, 22, 3, 3) and local rotations (T, 22, 3, 3) such that FK with ``offsets``
    (default :func:`rest_offsets_for`) and the root at ``joints[:, 0]`` gives back the joints.

    Branching joints (pelvis, spine3) take the Kabsch fit of their children's offsets (fixes twist);
    single-child joints take the minimal rotation relative to their parent's frame; where the bone
    turns near 180 degrees from its rest direction (minimal rotation undefined) the twist follows
    the previous frame instead, blended continuously; end effectors keep identity.
    """
    j = joints_TJ3.astype(np.float64)
    t = j.shape[0]
    off = rest_offsets_for(j) if offsets is None else np.asarray(offsets, dtype=np.float64)
    parents = SMPL22.parents
    children = _children(parents)
    glob = np.zeros((t, 22, 3, 3))
    lo, hi = np.radians(150.0), np.radians(175.0)
    for k in range(22):
        p = parents[k]
        cs = children[k]
        gp = glob[:, p] if p >= 0 else np.broadcast_to(np.eye(3), (t, 3, 3))
        if not cs:
            glob[:, k] = gp
        elif len(cs) > 1:
            glob[:, k] = kabsch(off[cs], j[:, cs] - j[:, k : k + 1])
        else:
            c = cs[0]
            target = j[:, c] - j[:, k]
            rest_dir = gp @ off[c]
            g = swing(rest_dir, target) @ gp
            ang = np.arccos(np.clip(np.sum(normalize(rest_dir) * normalize(target), -1), -1, 1))
            w = np.clip((hi - ang) / (hi - lo), 0.0, 1.0)  # 1 = trust minimal rotation
            for f in np.flatnonzero(w < 1.0):
                if f == 0:
                    continue
                prev = g[f - 1]
                g_tmp = swing(prev @ off[c], target[f]) @ prev
                d = g[f] @ g_tmp.T  # rotation about the target axis
                axis = normalize(target[f])
                phi = np.arctan2(
                    np.dot(axis, [d[2, 1] - d[1, 2], d[0, 2] - d[2, 0], d[1, 0] - d[0, 1]]),
                    np.trace(d) - 1.0,
                )
                g[f] = axis_angle(axis, np.array(w[f] * phi)) @ g_tmp
            glob[:, k] = g
    local = glob.copy()
    for k in range(1, 22):
        local[:, k] = np.swapaxes(glob[:, parents[k]], -1, -2) @ glob[:, k]
    return glob, local


def forward_kinematics(local_T_J33: np.ndarray, root_T3: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """SMPL-22 joints (T, 22, 3) from local rotations, root positions and rest offsets."""
    t = local_T_J33.shape[0]
    pos = np.zeros((t, 22, 3))
    glob = np.zeros((t, 22, 3, 3))
    for k, p in enumerate(SMPL22.parents):
        if p < 0:
            glob[:, k] = local_T_J33[:, k]
            pos[:, k] = root_T3
        else:
            glob[:, k] = glob[:, p] @ local_T_J33[:, k]
            pos[:, k] = pos[:, p] + glob[:, p] @ offsets[k]
    return pos


def _check_joints(joints: np.ndarray) -> np.ndarray:
    j = np.asarray(joints)
    if j.ndim != 3 or j.shape[1:] != (22, 3):
        raise MotionFileError(f"BVH export needs SMPL-22 joints of shape (T, 22, 3), got {tuple(j.shape)}")
    if j.shape[0] < 1:
        raise MotionFileError("BVH export needs at least one frame")
    if not np.isfinite(j).all():
        f = int(np.argwhere(~np.isfinite(j))[0][0])
        raise MotionFileError(f"joint positions hold NaN or infinite values (frame {f})")
    return j.astype(np.float64)


def _end_site(k: int, offsets: np.ndarray) -> np.ndarray:
    """A short End Site along the rest direction of the end effector's bone (visual only)."""
    d = normalize(offsets[k]) if np.linalg.norm(offsets[k]) > 0 else np.array([0.0, 1.0, 0.0])
    length = {10: 0.05, 11: 0.05, 15: 0.12}.get(k, 0.08)
    return d * length


def write_bvh(
    path: str | os.PathLike,
    joints_TJ3: np.ndarray,
    fps: float = 20.0,
    foot_cleanup: bool = False,
) -> None:
    """Write SMPL-22 joints (T, 22, 3, metres, Y up) as a 22-joint BVH (atomic).

    Root: 6 channels (position + ZXY rotation); other joints: 3 rotation channels (ZXY).
    ``foot_cleanup`` locks feet in ground contact before IK (see :mod:`moscale_cli.io.footlock`).
    """
    import bvhio
    import glm
    from scipy.spatial.transform import Rotation

    j = _check_joints(joints_TJ3)
    if not (np.isfinite(fps) and fps > 0):
        raise MotionFileError(f"fps must be positive, got {fps}")
    if foot_cleanup:
        from moscale_cli.io.footlock import lock_feet

        j = lock_feet(j, fps=fps)
    off = rest_offsets_for(j)
    _, local = inverse_kinematics(j, off)
    t = j.shape[0]
    quats = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_quat().reshape(t, 22, 4)  # x, y, z, w
    root = j[:, 0]
    children = _children(SMPL22.parents)

    def build(k: int) -> bvhio.BvhJoint:
        node = bvhio.BvhJoint(SMPL22_BVH_NAMES[k], glm.vec3(*(off[k] if k else (0.0, 0.0, 0.0))))
        if k == 0:
            node.Channels = ["Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation"]
        else:
            node.Channels = ["Zrotation", "Xrotation", "Yrotation"]
        q = quats[:, k]
        node.Keyframes = [
            bvhio.Pose(
                glm.vec3(*root[f]) if k == 0 else glm.vec3(0.0), glm.quat(q[f, 3], q[f, 0], q[f, 1], q[f, 2])
            )
            for f in range(t)
        ]
        if not children[k]:
            node.EndSite = glm.vec3(*_end_site(k, off))
        node.Children = [build(c) for c in children[k]]
        return node

    container = bvhio.BvhContainer(build(0), t, 1.0 / fps)
    try:
        with atomic_path(path) as tmp:
            bvhio.writeBvh(str(tmp), container, percision=6)
    except OSError as e:
        raise MotionFileError(f"cannot write {path}: {e.strerror or e}") from None


def max_roundtrip_error(joints_TJ3: np.ndarray, path: str | os.PathLike) -> float:
    """Max distance (metres) between ``joints`` and the joints re-read from the BVH at ``path``."""
    back = bvh_to_smpl22(path)
    return float(np.linalg.norm(back - np.asarray(joints_TJ3), axis=-1).max())


__all__ = [
    "BANDAI_MAPPING",
    "MOSCALE_MAPPING",
    "SMPL22_BVH_NAMES",
    "BvhClip",
    "bvh_to_smpl22",
    "detect_scale",
    "forward_kinematics",
    "inverse_kinematics",
    "load_mapping",
    "read_bvh",
    "resample",
    "rotation_angle",
    "write_bvh",
]
