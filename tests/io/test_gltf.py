"""glTF 2.0 export: the document's structure (always), the Khronos glTF-Validator (zero errors) and Blender's
glTF importer (joints within 1 mm of ours, the frame count) where those tools are installed (CI installs them)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from moscale_cli.errors import MoScaleError
from moscale_cli.io.gltf import capsule, write_gltf, write_gltf_rig
from moscale_cli.motion.mapping import SMPL22_BVH_NAMES
from moscale_cli.motion.rig import SMPL22_FILE_ORDER, smpl22_rig


def _motion(frames: int = 30) -> np.ndarray:
    """SMPL-22 joints on fixed bones: a body turning and stepping (every joint moves)."""
    from moscale_cli.motion.skeleton import SMPL22

    rest = SMPL22.rest_pose().astype(np.float64)
    rest[..., 1] -= rest[..., 1].min()
    t = np.arange(frames) / 20.0
    a = 0.8 * np.sin(2 * np.pi * t / 1.5)
    rot = np.stack([np.cos(a), np.zeros_like(a), np.sin(a)], -1)  # yaw about the root
    j = np.empty((frames, 22, 3))
    rel = rest - rest[0]
    j[:, :, 0] = rest[0, 0] + rel[:, 0] * rot[:, 0, None] + rel[:, 2] * rot[:, 2, None] + 0.3 * t[:, None]
    j[:, :, 1] = rest[None, :, 1] + 0.02 * np.sin(4 * np.pi * t)[:, None]
    j[:, :, 2] = rest[0, 2] - rel[:, 0] * rot[:, 2, None] + rel[:, 2] * rot[:, 0, None]
    return j


def test_capsule_is_closed_and_faces_out():
    p, n, t = capsule(np.zeros(3), np.array([0.0, 0.4, 0.0]), 0.05)
    np.testing.assert_allclose(np.linalg.norm(n, axis=-1), 1.0, atol=1e-12)
    assert t.min() == 0 and t.max() == len(p) - 1
    edges: dict[tuple[int, int], int] = {}
    for tri in t:
        for a, b in ((tri[0], tri[1]), (tri[1], tri[2]), (tri[2], tri[0])):
            edges[(a, b)] = edges.get((a, b), 0) + 1
    assert all(edges.get((b, a)) == 1 for (a, b) in edges)  # closed, consistently wound
    centre = (p[t[:, 0]] + p[t[:, 1]] + p[t[:, 2]]) / 3
    normal = np.cross(p[t[:, 1]] - p[t[:, 0]], p[t[:, 2]] - p[t[:, 0]])
    axis_point = np.clip(centre[:, 1], 0.0, 0.4)[:, None] * [0, 1, 0]
    assert (np.sum(normal * (centre - axis_point), -1) > 0).all()  # counter-clockwise from outside


def test_glb_structure(tmp_path):
    from pygltflib import GLTF2

    j = _motion()
    write_gltf(tmp_path / "m.glb", j, fps=20.0, name="a person turns")
    doc = GLTF2().load(str(tmp_path / "m.glb"))
    assert [n.name for n in doc.nodes[:22]] == [SMPL22_BVH_NAMES[s] for s in SMPL22_FILE_ORDER]
    assert doc.skins[0].joints == list(range(22)) and doc.nodes[22].skin == 0 and doc.nodes[22].mesh == 0
    assert {m.name for m in doc.materials} == {"left", "right", "centre"}
    anim = doc.animations[0]
    assert anim.name == "a person turns" and {s.interpolation for s in anim.samplers} == {"LINEAR"}
    paths = [(c.target.node, c.target.path) for c in anim.channels]
    assert (0, "translation") in paths and all((k, "rotation") in paths for k in range(22))
    blob = doc.binary_blob()

    def read(acc_index: int) -> np.ndarray:
        acc = doc.accessors[acc_index]
        view = doc.bufferViews[acc.bufferView]
        n = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}[acc.type]
        return np.frombuffer(blob, np.float32, acc.count * n, view.byteOffset + (acc.byteOffset or 0)).reshape(acc.count, n)

    times = read(anim.samplers[0].input)[:, 0]
    np.testing.assert_allclose(times, np.arange(30) / 20.0, atol=1e-6)
    q = read(anim.samplers[0].output)
    np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1.0, atol=1e-6)
    assert (np.sum(q[1:] * q[:-1], -1) >= 0).all()  # no sign flips between keys
    root_t = read(next(anim.samplers[c.sampler].output for c in anim.channels if c.target.path == "translation"))
    np.testing.assert_allclose(root_t, j[:, 0], atol=1e-6)  # metres, Y up: the root's own positions
    # .gltf: the same document with the buffer embedded (one file)
    write_gltf(tmp_path / "m.gltf", j, fps=20.0)
    text = json.loads((tmp_path / "m.gltf").read_text())
    assert text["buffers"][0]["uri"].startswith("data:application/octet-stream;base64,")
    with pytest.raises(MoScaleError, match=r"\(T, 22, 3\)"):
        write_gltf(tmp_path / "bad.glb", j[:, :21])
    with pytest.raises(MoScaleError, match="use .glb or .gltf"):
        write_gltf(tmp_path / "m.obj", j)


@pytest.mark.parametrize("ext", [".glb", ".gltf"])
def test_gltf_validator_reports_no_errors(validate_gltf, ext, tmp_path, families):
    write_gltf(tmp_path / f"m{ext}", _motion(), fps=20.0, name="motion")
    rep = validate_gltf(tmp_path / f"m{ext}")
    assert rep["issues"]["numErrors"] == 0, rep["issues"]["messages"]
    assert rep["issues"]["numWarnings"] == 0, rep["issues"]["messages"]
    assert rep["info"]["hasSkins"] and rep["info"]["animationCount"] == 1
    # a rig with fingers, twist and IK bones, Z up, in centimetres
    from moscale_cli.pipeline.target_rig import load_target_rig, motion_on_rig, write_on_rig

    tr = load_target_rig(families.write_family("ue_zup", tmp_path))
    write_on_rig(tmp_path / f"ue{ext}", motion_on_rig(_motion(), 20.0, tr))
    rep = validate_gltf(tmp_path / f"ue{ext}")
    assert rep["issues"]["numErrors"] == 0 and rep["issues"]["numWarnings"] == 0, rep["issues"]["messages"]


@pytest.mark.slow
def test_blender_reads_our_joints_back(read_in_blender, tmp_path, families):
    j = _motion(25)
    write_gltf(tmp_path / "m.glb", j, fps=20.0)
    got = read_in_blender(tmp_path / "m.glb", 20.0)
    rig, values, _ = smpl22_rig(j)
    ours = rig.forward(values)[0]
    assert len(got["bones"]) == 22 and got["bones"] == rig.names
    assert got["action_range"] == [0, 24]  # 25 frames, frame f at f / 20 s
    heads = np.array(got["heads"])
    assert np.abs(heads - ours).max() < 1e-3
    assert got["meshes"] == 1
    # a rig: Blender's joints are ours in metres, Y up (the Z-up rig turned)
    from moscale_cli.pipeline.target_rig import load_target_rig, motion_on_rig, write_on_rig

    tr = load_target_rig(families.write_family("ue_zup", tmp_path))
    rm = motion_on_rig(j, 20.0, tr)
    write_on_rig(tmp_path / "ue.gltf", rm)
    got = read_in_blender(tmp_path / "ue.gltf", 30.0)
    pos = tr.clip.rig.forward(rm.values)[0] * tr.scale @ tr.body.basis  # rig world -> Y up
    idx = [tr.clip.rig.names.index(b) for b in got["bones"]]
    assert sorted(got["bones"]) == sorted(tr.clip.rig.names)
    assert got["action_range"] == [0, rm.frames - 1]
    assert np.abs(np.array(got["heads"]) - pos[:, idx]).max() < 1e-3


def test_gltf_rig_checks(tmp_path):
    rig, values, _ = smpl22_rig(_motion(5))
    with pytest.raises(MoScaleError, match="do not fit"):
        write_gltf_rig(tmp_path / "x.glb", rig, values[:, :-1], 20.0)
    with pytest.raises(MoScaleError, match="positive frame rate"):
        write_gltf_rig(tmp_path / "x.glb", rig, values, 0.0)
    assert not list(tmp_path.iterdir())
