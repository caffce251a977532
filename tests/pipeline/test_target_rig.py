"""Motion written on a user's rig (pipeline.target_rig): hierarchy, rate, units, unmapped joints at rest,
the joint error after mapping back, the rig's up axis, BVH round trips, one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from moscale_cli.errors import MoScaleError
from moscale_cli.io.bvh import bvh_to_smpl22, read_bvh, write_rig
from moscale_cli.motion.kinematics import resample
from moscale_cli.motion.rig import Rig
from moscale_cli.motion.skeleton import SMPL22
from moscale_cli.pipeline.target_rig import load_target_rig, motion_on_rig, write_on_rig


def _expected_back(rm) -> np.ndarray:
    """The fitted motion as `moscale convert` would read it: metres, resampled to 20 fps, floored."""
    j = resample(rm.target * rm.rig.scale, rm.rig.fps, 20.0, SMPL22.parents)
    return j - [0.0, float(j[..., 1].min()), 0.0]


@pytest.mark.parametrize("family", ["mixamo", "collar", "ue_mannequin", "daz", "rokoko"])
def test_motion_on_rig_round_trips_through_the_bvh(families, family, tmp_path):
    rig_path = families.write_family(family, tmp_path)
    tr = load_target_rig(rig_path)
    j = families.walk(61)  # 3 s at 20 fps
    rm = motion_on_rig(j, 20.0, tr)
    assert tr.fps == pytest.approx(30.0) and rm.frames == 91  # the rig's rate, to the motion's end
    np.testing.assert_allclose(rm.times, np.arange(91) / 30.0)
    out = tmp_path / "out.bvh"
    write_on_rig(out, rm)
    clip = read_bvh(out)
    src = read_bvh(rig_path)
    assert clip.names == src.names and clip.channels == src.channels  # the rig's hierarchy and channels
    np.testing.assert_allclose(clip.offsets, src.offsets, atol=1e-6)
    assert clip.num_frames == 91 and clip.frame_time == pytest.approx(src.frame_time)
    # mapped back, the file is the fitted motion (moscale convert reads it within 1 cm; rigs with every SMPL
    # joint mapped one-to-one within 0.1 mm)
    back = bvh_to_smpl22(out)
    err = np.linalg.norm(back - _expected_back(rm), axis=-1)
    one_to_one = family not in ("collar", "daz")  # two spine joints: spine3 is a mean of joints there
    assert err.mean() < 0.01 and (err.max() < 1e-4 if one_to_one else err.max() < 0.05)
    assert rm.mpjpe == pytest.approx(float(np.linalg.norm(rm.back - rm.target, axis=-1).mean()) * tr.scale)
    assert rm.mpjpe < (1e-6 if one_to_one else 0.01)
    # joints that do not map to the body (fingers, twist and IK bones, head top) hold the rest pose
    mapped = {n for v in tr.mapping.values() for n in ([v] if isinstance(v, str) else v)}
    r = tr.clip.rig
    for k, name in enumerate(r.names):
        if name not in mapped and k > 0 and not _is_ancestor_of_mapped(r, k, mapped):
            assert np.abs(clip.values[:, r.rot_cols[k]]).max() < 1e-6, name


def _is_ancestor_of_mapped(rig: Rig, k: int, mapped: set[str]) -> bool:
    """Joints between mapped ones (CMU's hip joints, UE's spine_02) are solved too."""
    for c, name in enumerate(rig.names):
        p = rig.parents[c]
        while p >= 0:
            if p == k and name in mapped:
                return True
            p = rig.parents[p]
    return False


def test_rig_up_axis_units_and_facing_are_the_rig_s(families, tmp_path):
    """A Z-up rig facing +Y (UE's mesh space), in centimetres: the motion stands along Z and walks along +Y."""
    tr = load_target_rig(families.write_family("ue_zup", tmp_path))
    assert tr.scale == 0.01
    np.testing.assert_allclose(tr.body.basis, [[-1, 0, 0], [0, 0, 1], [0, 1, 0]])
    rm = motion_on_rig(families.walk(41), 20.0, tr)
    pelvis = rm.back[:, 0]
    assert 80.0 < pelvis[:, 2].mean() < 110.0  # the pelvis about a metre up Z, in centimetres
    assert pelvis[-1, 1] - pelvis[0, 1] > 60.0  # 2 s at 2 cm per frame forward (scaled by the leg ratio)
    assert abs(pelvis[-1, 0] - pelvis[0, 0]) < 1.0
    assert rm.mpjpe < 1e-6


def test_glb_on_the_rig_is_written(families, tmp_path):
    from pygltflib import GLTF2

    tr = load_target_rig(families.write_family("mixamo", tmp_path))
    rm = motion_on_rig(families.walk(21), 20.0, tr)
    write_on_rig(tmp_path / "m.glb", rm, "a walk")
    doc = GLTF2().load(str(tmp_path / "m.glb"))
    names = [n.name for n in doc.nodes]
    assert names[: tr.clip.rig.num_joints] == tr.clip.rig.names and len(doc.skins[0].joints) == 65
    with pytest.raises(MoScaleError, match="cannot write m.npy on a rig"):
        write_on_rig(tmp_path / "m.npy", rm)


def test_bad_rigs_are_one_line_errors(families, tmp_path):
    with pytest.raises(MoScaleError, match="give a .bvh file"):
        load_target_rig(tmp_path / "rig.fbx")
    # no joint that maps to a pelvis
    bad = Rig(["Root", "Thing"], [-1, 0], np.array([[0, 1.0, 0], [0, 1.0, 0]]), [["Xposition", "Yposition", "Zposition"], []])
    write_rig(tmp_path / "bad.bvh", bad, np.zeros((1, 3)), 1 / 30)
    with pytest.raises(MoScaleError, match=r"bad.bvh: cannot map the skeleton to SMPL-22: no pelvis") as e:
        load_target_rig(tmp_path / "bad.bvh")
    assert "\n" not in str(e.value)
    # a rig without position channels cannot put the pelvis anywhere
    rig, _ = families.family_rig("rokoko")
    still = Rig(rig.names, rig.parents, rig.offsets, [[c for c in ch if "rotation" in c] for ch in rig.channels], rig.end_sites)
    write_rig(tmp_path / "still.bvh", still, np.zeros((1, still.num_channels)), 1 / 30)
    with pytest.raises(MoScaleError, match="still.bvh: no joint from Hips up to the root has position channels"):
        load_target_rig(tmp_path / "still.bvh")


def test_fixture_motion_on_the_collar_rig(families, hml_fixture_dir, tmp_path):
    """A real HumanML3D clip on the toe-less Collar rig: feet where the scaled clip has them, the error of
    the rig's two-joint spine small."""
    j = np.load(sorted((hml_fixture_dir / "new_joints").glob("*.npy"))[0])
    tr = load_target_rig(families.write_family("collar", tmp_path))
    rm = motion_on_rig(j, 20.0, tr)
    err = np.linalg.norm(rm.back - rm.target, axis=-1) * tr.scale
    for k in (0, 1, 2, 4, 5, 7, 8, 10, 11):  # legs and feet (virtual toes): exact
        assert err[:, k].max() < 1e-6, SMPL22.joint_names[k]
    assert err[:, 20:].max() < 1e-3  # hands: where the scaled clip has them (when the arm reaches)
    assert rm.mpjpe < 0.006
