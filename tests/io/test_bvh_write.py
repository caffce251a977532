"""BVH export: hierarchy with the motion's own bone lengths, grammar, round trips within 5 mm on every
fixture clip, an independent reader (bvhio), the post-process before export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from moscale_cli.errors import MotionFileError
from moscale_cli.io.bvh import SMPL22_BVH_NAMES, bvh_to_smpl22, read_bvh, write_bvh
from moscale_cli.motion.kinematics import bone_lengths
from moscale_cli.motion.postprocess import postprocess
from moscale_cli.motion.rig import SMPL22_FILE_ORDER
from moscale_cli.motion.skeleton import SMPL22


def _roundtrip_error(joints: np.ndarray, path: Path) -> float:
    write_bvh(path, joints)
    back = bvh_to_smpl22(path)
    assert back.shape == joints.shape
    return float(np.linalg.norm(back - joints, axis=-1).max())


def test_hierarchy_and_header(tmp_path: Path, bvh_grammar):
    j = SMPL22.rest_pose()[None].repeat(3, 0) + [0.0, 0.9, 0.0]
    p = tmp_path / "rest.bvh"
    write_bvh(p, j)
    clip = read_bvh(p)
    assert clip.names == [SMPL22_BVH_NAMES[k] for k in SMPL22_FILE_ORDER]
    assert abs(clip.frame_time - 0.05) < 1e-12 and clip.num_frames == 3
    text = p.read_text()
    summary = bvh_grammar(text)
    assert summary["joints"] == clip.names and summary["channels"] == 6 + 21 * 3 and summary["frames"] == 3
    assert text.count("CHANNELS 6") == 1 and text.count("CHANNELS 3") == 21 and text.count("End Site") == 5
    idx = [SMPL22_BVH_NAMES.index(n) for n in clip.names]
    for k, par in enumerate(clip.parents):  # parents of the BVH hierarchy are SMPL-22's
        assert (SMPL22.parents[idx[k]] == -1) if par < 0 else (SMPL22.parents[idx[k]] == idx[par])
    for k, name in enumerate(clip.names):  # rest pose in: SMPL-22's offsets out
        s = SMPL22_BVH_NAMES.index(name)
        if s:
            np.testing.assert_allclose(clip.offsets[k], SMPL22.offsets[s], atol=1e-6)
    assert sorted(clip.end_sites) == sorted(
        clip.names.index(SMPL22_BVH_NAMES[s]) for s in (10, 11, 15, 20, 21)
    )


def test_offsets_are_the_motions_own_bone_lengths(bvh_files: list[Path], tmp_path: Path):
    j = bvh_to_smpl22(bvh_files[0]).astype(np.float64)
    p = tmp_path / "own.bvh"
    write_bvh(p, j)
    clip = read_bvh(p)
    med = np.median(bone_lengths(SMPL22.parents, j), axis=0)
    for k, s in enumerate(SMPL22_FILE_ORDER):
        if s:
            assert abs(np.linalg.norm(clip.offsets[k]) - med[s]) < 2e-6, SMPL22_BVH_NAMES[s]
    assert not np.allclose(med[1:], SMPL22.bone_lengths[1:], atol=0.01)  # not the template's


def test_humanml3d_joints_roundtrip(hml_fixture_dir: Path, tmp_path: Path):
    j = np.load(hml_fixture_dir / "new_joints" / "012314.npy")
    assert _roundtrip_error(j, tmp_path / "hml.bvh") < 1e-4  # file precision (6 decimals)


def test_fixture_bvh_npy_bvh_npy_within_5mm(bvh_files: list[Path], tmp_path: Path, bvh_grammar):
    """A real clip survives bvh -> npy -> bvh -> npy: only the variation of bone lengths over time is
    lost (none here: the Bandai rig is rigid and resampling keeps bone lengths)."""
    errs = {}
    for path in bvh_files:
        j = bvh_to_smpl22(path)
        errs[path.name] = _roundtrip_error(j, tmp_path / path.name)
        bvh_grammar((tmp_path / path.name).read_text())
    print("max round-trip error (mm):", {k: round(v * 1000, 3) for k, v in errs.items()})
    assert max(errs.values()) < 0.005, errs


def test_rotations_bvhio_readable(short_bvh: Path, tmp_path: Path):
    import bvhio

    j = bvh_to_smpl22(short_bvh).astype(np.float64)
    p = tmp_path / "ours.bvh"
    write_bvh(p, j)
    root = bvhio.readAsHierarchy(str(p))  # an independent reader (bvhio's hierarchy + FK)
    by_name = {jt.Name: jt for jt, _, _ in root.layout()}
    for frame in (0, len(j) - 1):
        root.loadPose(frame)
        got = np.array([list(by_name[n].PositionWorld) for n in SMPL22_BVH_NAMES])
        np.testing.assert_allclose(got, j[frame], atol=1e-4)


def test_write_rejects_bad_joints(tmp_path: Path):
    p = tmp_path / "x.bvh"
    with pytest.raises(MotionFileError, match=r"\(T, 22, 3\)"):
        write_bvh(p, np.zeros((5, 21, 3)))
    bad = np.zeros((5, 22, 3))
    bad[3, 4, 1] = np.nan
    with pytest.raises(MotionFileError, match="frame 3"):
        write_bvh(p, bad)
    with pytest.raises(MotionFileError, match="fps"):
        write_bvh(p, SMPL22.rest_pose()[None], fps=0.0)
    assert list(tmp_path.iterdir()) == []


def test_grammar_checker_catches_mistakes(tmp_path: Path, bvh_grammar):
    write_bvh(tmp_path / "ok.bvh", SMPL22.rest_pose()[None].repeat(2, 0))
    text = (tmp_path / "ok.bvh").read_text()
    bvh_grammar(text)
    for bad, msg in (
        (text.replace("Frames: 2", "Frames: 3"), "end of file"),
        (
            text.replace("CHANNELS 3 Zrotation Xrotation Yrotation", "CHANNELS 3 Zrotation Xrotation", 1),
            "exactly 3",
        ),
        (text.replace("ROOT Hips\n{", "ROOT Hips {", 1), "'{'"),
        (text.rstrip("\n") + " 0.0\n", "frame line"),
        (text.replace("Frame Time: 0.05", "Frame Time: 0"), "positive"),
    ):
        with pytest.raises(AssertionError, match=msg):
            bvh_grammar(bad)


def test_foot_cleanup_writes_the_postprocessed_motion(bvh_files: list[Path], tmp_path: Path):
    """``write_bvh(foot_cleanup=True)`` writes the post-processed joints: read back, they are those joints
    (to the file's precision) with constant bone lengths."""
    walk = next(p for p in bvh_files if "_walk_" in p.name)
    j = bvh_to_smpl22(walk).astype(np.float64)
    k = postprocess(j).joints
    p = tmp_path / "clean.bvh"
    write_bvh(p, j, foot_cleanup=True)
    back = bvh_to_smpl22(p).astype(np.float64)
    assert np.linalg.norm(back - k, axis=-1).max() < 1e-4
    lengths = bone_lengths(SMPL22.parents, back)[:, 1:]
    assert (lengths.max(0) - lengths.min(0)).max() < 2e-5
