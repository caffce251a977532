"""glTF 2.0 export (``.glb`` binary, ``.gltf`` JSON with the buffer embedded), through ``pygltflib``.

A file holds one skinned character and one animation, so that any viewer or engine (Blender, Unity,
Unreal, Godot, three.js) shows it:

- the joint hierarchy as nodes (the rig's joint names), their rest translations = the rig's offsets;
- a skin over all joints (inverse bind matrices of the rest pose) and a body mesh of capsules, one per
  bone (parent to child, and to the End Site of a leaf), each bound rigidly to the bone's parent joint;
  three materials: left side red, right side blue, centre grey (as the MP4 and HTML renders);
- one animation: a rotation channel for every joint and a translation channel for the root and every
  joint whose translation changes; sampler times in seconds (``frame / fps``), LINEAR interpolation;
- metres and Y up (glTF's conventions): translations are multiplied by the rig's units-to-metres factor,
  and a rig whose world is not Y up (``axes``) has its root turned so that the file is.

:func:`write_gltf_rig` writes a rig with channel values (a BVH rig, ``--rig``); :func:`write_gltf` writes
SMPL-22 joints on the 22-joint export rig of the BVH writer (``motion.rig.smpl22_rig``).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import numpy as np

from moscale_cli.errors import MotionFileError
from moscale_cli.motion.kinematics import children_of
from moscale_cli.motion.mapping import joint_side
from moscale_cli.motion.quaternion import matrix_to_quat, normalize
from moscale_cli.motion.rig import Rig
from moscale_cli.utils.atomic import write_bytes_atomic

GLTF_EXTENSIONS = (".glb", ".gltf")
COLOURS = {  # linear RGBA of the side colours #d62728, #1f77b4, #404040
    "left": (0.672, 0.019, 0.021, 1.0),
    "right": (0.013, 0.184, 0.457, 1.0),
    "": (0.051, 0.051, 0.051, 1.0),
}
_FLOAT, _UBYTE, _USHORT, _UINT = 5126, 5121, 5123, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963


# ------------------------------------------------------------------------------------------ mesh
def capsule(a: np.ndarray, b: np.ndarray, r: float, seg: int = 10, rings: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(positions (V, 3), normals (V, 3), triangles (F, 3)) of a capsule of radius ``r`` around the segment
    a-b: a cylinder with two hemispherical caps, counter-clockwise triangles seen from outside."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    axis = normalize(b - a)
    helper = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = normalize(np.cross(helper, axis))
    e2 = np.cross(axis, e1)
    theta = 2.0 * np.pi * np.arange(seg) / seg
    around = np.cos(theta)[:, None] * e1 + np.sin(theta)[:, None] * e2  # (seg, 3)
    step = 0.5 * np.pi / rings
    ring_defs = [(a, -0.5 * np.pi + k * step) for k in range(1, rings + 1)]
    ring_defs += [(b, k * step) for k in range(rings)]
    pos, nrm = [], []
    for centre, phi in ring_defs:
        n = np.cos(phi) * around + np.sin(phi) * axis
        nrm.append(n)
        pos.append(centre + r * n)
    pos += [(a - r * axis)[None], (b + r * axis)[None]]
    nrm += [(-axis)[None], axis[None]]
    n_rings = len(ring_defs)
    bottom, top = n_rings * seg, n_rings * seg + 1
    tris = []
    j = np.arange(seg)
    jn = (j + 1) % seg
    for i in range(n_rings - 1):
        v00, v01, v10, v11 = i * seg + j, i * seg + jn, (i + 1) * seg + j, (i + 1) * seg + jn
        tris += [np.stack([v00, v01, v11], -1), np.stack([v00, v11, v10], -1)]
    tris.append(np.stack([np.full(seg, bottom), jn, j], -1))
    last = (n_rings - 1) * seg
    tris.append(np.stack([np.full(seg, top), last + j, last + jn], -1))
    return np.concatenate(pos), np.concatenate(nrm), np.concatenate(tris)


def _bind_globals(rig: Rig, scale: float, root_rot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bind-pose global positions (J, 3, metres) and rotations (J, 3, 3): the rest pose, the root turned
    by ``root_rot``."""
    pos = np.zeros((rig.num_joints, 3))
    rot = np.zeros((rig.num_joints, 3, 3))
    for k, p in enumerate(rig.parents):
        if p < 0:
            rot[k] = root_rot
            pos[k] = root_rot @ rig.offsets[k] * scale
        else:
            rot[k] = rot[p]
            pos[k] = pos[p] + rot[p] @ rig.offsets[k] * scale
    return pos, rot


def body_mesh(rig: Rig, bind_pos: np.ndarray, bind_rot: np.ndarray, scale: float) -> dict[str, list[np.ndarray]]:
    """Capsules per bone in the bind pose, grouped by side: ``{side: [positions, normals, triangles,
    joint of every vertex]}`` (sides "left", "right", "" = centre)."""
    height = float(np.ptp(bind_pos, axis=0).max()) or 1.0
    bones: list[tuple[int, np.ndarray, np.ndarray, str]] = []  # (bound joint, a, b, side)
    for k, p in enumerate(rig.parents):
        if p >= 0:
            bones.append((p, bind_pos[p], bind_pos[k], joint_side(rig.names[k])))
    children = children_of(rig.parents)
    for k, end in rig.end_sites.items():
        if not children[k]:
            bones.append((k, bind_pos[k], bind_pos[k] + bind_rot[k] @ np.asarray(end) * scale, joint_side(rig.names[k])))
    groups: dict[str, list[list[np.ndarray]]] = {}
    for joint, a, b, side in bones:
        length = float(np.linalg.norm(b - a))
        if length < 1e-4 * height:
            continue
        r = max(min(0.022 * height, 0.3 * length), 0.002 * height)
        p, n, t = capsule(a, b, r)
        g = groups.setdefault(side, [[], [], [], []])
        t = t + sum(len(x) for x in g[0])
        g[0].append(p)
        g[1].append(n)
        g[2].append(t)
        g[3].append(np.full(len(p), joint))
    return {side: [np.concatenate(x) for x in g] for side, g in groups.items()}


# ------------------------------------------------------------------------------------------ writer
class _Blob:
    """The binary buffer and its buffer views / accessors."""

    def __init__(self) -> None:
        import pygltflib as g

        self.g = g
        self.data = bytearray()
        self.views: list = []
        self.accessors: list = []

    def add(self, arr: np.ndarray, kind: str, ctype: int, target: int | None = None, minmax: bool = False) -> int:
        dtype = {_FLOAT: np.float32, _UBYTE: np.uint8, _USHORT: np.uint16, _UINT: np.uint32}[ctype]
        a = np.ascontiguousarray(arr, dtype=dtype)
        while len(self.data) % 4:
            self.data.append(0)
        raw = a.tobytes()
        self.views.append(self.g.BufferView(buffer=0, byteOffset=len(self.data), byteLength=len(raw), target=target))
        self.data.extend(raw)
        flat = a.reshape(a.shape[0], -1)
        acc = self.g.Accessor(bufferView=len(self.views) - 1, componentType=ctype, count=int(a.shape[0]), type=kind)
        if minmax:
            if ctype == _FLOAT:
                acc.min, acc.max = [float(x) for x in flat.min(0)], [float(x) for x in flat.max(0)]
            else:
                acc.min, acc.max = [int(x) for x in flat.min(0)], [int(x) for x in flat.max(0)]
        self.accessors.append(acc)
        return len(self.accessors) - 1


def _quats(rot: np.ndarray) -> np.ndarray:
    """(T, 4) glTF quaternions (x, y, z, w) of rotations (T, 3, 3), each in the hemisphere of the previous
    one (so LINEAR interpolation takes the short way)."""
    q = matrix_to_quat(rot)  # (w, x, y, z)
    for t in range(1, len(q)):
        if float(q[t] @ q[t - 1]) < 0.0:
            q[t] = -q[t]
    return normalize(q[:, [1, 2, 3, 0]])


def _mat4(pos: np.ndarray, rot: np.ndarray) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = rot
    m[:3, 3] = pos
    return m


def gltf_bytes(
    path_ext: str,
    rig: Rig,
    values: np.ndarray,
    fps: float,
    scale: float = 1.0,
    axes: np.ndarray | None = None,
    name: str = "",
) -> bytes:
    """The file's bytes (``path_ext`` ".glb" or ".gltf") for a rig and its channel values (T, C) in the
    rig's units; ``scale``: units -> metres; ``axes``: (3, 3) columns = the rig-world directions of the
    body's left, up and forward (None = the world is already Y up)."""
    import pygltflib as g

    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != rig.num_channels or values.shape[0] < 1:
        raise MotionFileError(f"channel values of shape {values.shape} do not fit {rig.num_channels} channels")
    if not np.isfinite(values).all():
        raise MotionFileError("channel values hold NaN or infinite values")
    if not (np.isfinite(fps) and fps > 0 and np.isfinite(scale) and scale > 0):
        raise MotionFileError(f"glTF export needs a positive frame rate and scale, got {fps} and {scale}")
    turn = np.eye(3) if axes is None else np.asarray(axes, dtype=np.float64).T  # rig world -> Y up
    t_frames, nj = values.shape[0], rig.num_joints
    local_rot, local_trans = rig.local_transforms(values)
    local_rot[:, 0] = turn @ local_rot[:, 0]
    local_trans[:, 0] = local_trans[:, 0] @ turn.T
    local_trans *= scale
    bind_pos, bind_rot = _bind_globals(rig, scale, turn)

    blob = _Blob()
    nodes = []
    children = children_of(rig.parents)
    for k in range(nj):
        node = g.Node(name=rig.names[k], children=list(children[k]) or None)
        node.translation = [float(x) for x in (turn @ rig.offsets[k] * scale if k == 0 else rig.offsets[k] * scale)]
        node.rotation = [float(x) for x in _quats(turn[None])[0]] if k == 0 else None
        nodes.append(node)
    ibm = np.stack([np.linalg.inv(_mat4(bind_pos[k], bind_rot[k])).T.reshape(16) for k in range(nj)])
    skin = g.Skin(name="skeleton", joints=list(range(nj)), skeleton=0, inverseBindMatrices=blob.add(ibm, "MAT4", _FLOAT))

    materials, primitives = [], []
    jtype = _UBYTE if nj <= 256 else _USHORT
    for side, (pos, nrm, tri, joint) in sorted(body_mesh(rig, bind_pos, bind_rot, scale).items()):
        materials.append(g.Material(
            name={"left": "left", "right": "right", "": "centre"}[side],
            pbrMetallicRoughness=g.PbrMetallicRoughness(baseColorFactor=list(COLOURS[side]), metallicFactor=0.0, roughnessFactor=0.7),
        ))  # fmt: skip
        joints4 = np.zeros((len(pos), 4))
        joints4[:, 0] = joint
        weights4 = np.zeros((len(pos), 4))
        weights4[:, 0] = 1.0
        attrs = g.Attributes(
            POSITION=blob.add(pos, "VEC3", _FLOAT, _ARRAY_BUFFER, minmax=True),
            NORMAL=blob.add(normalize(nrm), "VEC3", _FLOAT, _ARRAY_BUFFER),
            JOINTS_0=blob.add(joints4, "VEC4", jtype, _ARRAY_BUFFER),
            WEIGHTS_0=blob.add(weights4, "VEC4", _FLOAT, _ARRAY_BUFFER),
        )
        itype = _USHORT if len(pos) < 65536 else _UINT
        primitives.append(g.Primitive(
            attributes=attrs, indices=blob.add(tri.reshape(-1), "SCALAR", itype, _ELEMENT_ARRAY_BUFFER),
            material=len(materials) - 1,
        ))  # fmt: skip
    mesh_node = None
    meshes = []
    if primitives:
        meshes.append(g.Mesh(name="body", primitives=primitives))
        mesh_node = len(nodes)
        nodes.append(g.Node(name="body", mesh=0, skin=0))

    times = np.arange(t_frames, dtype=np.float64) / fps
    t_acc = blob.add(times[:, None], "SCALAR", _FLOAT, minmax=True)
    samplers, channels = [], []
    for k in range(nj):
        samplers.append(g.AnimationSampler(input=t_acc, output=blob.add(_quats(local_rot[:, k]), "VEC4", _FLOAT), interpolation="LINEAR"))
        channels.append(g.AnimationChannel(sampler=len(samplers) - 1, target=g.AnimationChannelTarget(node=k, path="rotation")))
        tr = local_trans[:, k]
        if k == 0 or np.ptp(tr, axis=0).max() > 1e-9:
            samplers.append(g.AnimationSampler(input=t_acc, output=blob.add(tr, "VEC3", _FLOAT), interpolation="LINEAR"))
            channels.append(g.AnimationChannel(sampler=len(samplers) - 1, target=g.AnimationChannelTarget(node=k, path="translation")))
    from moscale_cli import __version__

    doc = g.GLTF2(
        asset=g.Asset(version="2.0", generator=f"moscale {__version__}"),
        scene=0,
        scenes=[g.Scene(name=name or "motion", nodes=[0] + ([mesh_node] if mesh_node is not None else []))],
        nodes=nodes,
        skins=[skin],
        meshes=meshes,
        materials=materials,
        animations=[g.Animation(name=name or "motion", samplers=samplers, channels=channels)],
        accessors=blob.accessors,
        bufferViews=blob.views,
        buffers=[g.Buffer(byteLength=len(blob.data))],
    )
    data = bytes(blob.data)
    if path_ext == ".glb":
        doc.set_binary_blob(data)
        return b"".join(doc.save_to_bytes())
    doc.buffers[0].uri = "data:application/octet-stream;base64," + base64.b64encode(data).decode("ascii")
    return doc.gltf_to_json().encode("utf-8")


def write_gltf_rig(
    path: str | os.PathLike,
    rig: Rig,
    values: np.ndarray,
    fps: float,
    scale: float = 1.0,
    axes: np.ndarray | None = None,
    name: str = "",
) -> None:
    """Write a rig and its channel values (T, C) as glTF (see the module doc and :func:`gltf_bytes`), atomically."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in GLTF_EXTENSIONS:
        raise MotionFileError(f"cannot write glTF to {path.name}: use .glb or .gltf")
    data = gltf_bytes(ext, rig, values, fps, scale, axes, name)
    try:
        write_bytes_atomic(path, data)
    except OSError as e:
        raise MotionFileError(f"cannot write {path}: {e.strerror or e}") from None


def write_gltf(path: str | os.PathLike, joints_TJ3: np.ndarray, fps: float = 20.0, name: str = "") -> None:
    """Write SMPL-22 joints (T, 22, 3, metres, Y up) as glTF on the 22-joint export rig (the BVH writer's:
    names ``Hips``, ``LeftUpLeg``, ..., the motion's own bone lengths, rotations from IK)."""
    from moscale_cli.motion.rig import smpl22_rig

    j = np.asarray(joints_TJ3, dtype=np.float64)
    if j.ndim != 3 or j.shape[1:] != (22, 3) or j.shape[0] < 1:
        raise MotionFileError(f"glTF export needs SMPL-22 joints of shape (T, 22, 3), got {tuple(j.shape)}")
    if not np.isfinite(j).all():
        raise MotionFileError("joint positions hold NaN or infinite values")
    rig, values, _ = smpl22_rig(j)
    write_gltf_rig(path, rig, values, fps, 1.0, None, name)


__all__ = ["GLTF_EXTENSIONS", "body_mesh", "capsule", "gltf_bytes", "write_gltf", "write_gltf_rig"]
