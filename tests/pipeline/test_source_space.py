"""Editing joints and BVH sources in their own space: one feature frame per source frame, the conversion's
placement inverted, generated regions brought back (seams, facing, bone lengths, ground clearance), kept
frames exact, and the same through MoScalePipeline on a tiny random-weight model. The seam criterion with
motion a model could make is tested by splicing real clips (no model), and with the installed default model
(a few seconds) at the end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from moscale_cli.motion.features import recover_from_ric
from moscale_cli.motion.kinematics import bone_lengths
from moscale_cli.motion.skeleton import SMPL22
from moscale_cli.pipeline.editing import blend_weights, blend_with_source, boundaries
from moscale_cli.pipeline.placement import Piece, place_in_source, soft_min, wrap
from moscale_cli.pipeline.results import frame_steps, seam_report
from moscale_cli.pipeline.sources import heading, load_source, yaw_matrix
from moscale_cli.sampling.config import SamplingConfig
from moscale_cli.sampling.infill import runs

FAST = SamplingConfig(refine_steps=(1, 1, 1, 1))
WALK_TURN = "dataset-2_walk-turn-left_normal_001.bvh"  # 68 frames at 20 fps
WALK = "dataset-2_walk_normal_001.bvh"  # 182 frames at 20 fps


@pytest.fixture(scope="module")
def clips(bvh_fixture_dir: Path) -> dict[str, Path]:
    return {p.name: p for p in sorted(bvh_fixture_dir.glob("*.bvh"))}


@pytest.fixture(scope="module")
def walk_turn(clips):
    return load_source(clips[WALK_TURN])


@pytest.fixture(scope="module")
def pipe(tmp_path_factory, tiny_models):
    from moscale_cli.pipeline import MoScalePipeline

    torch.set_num_threads(min(2, torch.get_num_threads()))
    d = tiny_models.build_tiny_model_dir(tmp_path_factory.mktemp("source-space-models") / "tiny")
    return MoScalePipeline.from_pretrained(d, device="cpu")


# ------------------------------------------------------------------------------------ without a model
def test_one_feature_frame_per_joint_frame_and_the_conversion_inverted(clips):
    for path in clips.values():
        src = load_source(path)
        assert src.kind == "bvh" and src.features.shape == (src.joints.shape[0], 263)
        model = recover_from_ric(src.features)
        # the model-space root mapped back through the recorded similarity is the source's root, frame by frame
        np.testing.assert_allclose(src.frame.root_to_source(model[:, 0]), src.joints[:, 0], atol=2e-5)
        # frame t of the features is joint frame t: every bone keeps its direction, turned by the recorded yaw
        par = np.array(SMPL22.parents[1:])
        d_m = model[:, 1:] - model[:, par]
        d_s = (src.joints[:, 1:] - src.joints[:, par]).astype(np.float64)
        d_m = d_m / np.linalg.norm(d_m, axis=-1, keepdims=True) @ yaw_matrix(src.frame.yaw).T
        d_s = d_s / np.linalg.norm(d_s, axis=-1, keepdims=True)
        np.testing.assert_allclose(d_m, d_s, atol=1e-4)
        assert not np.allclose(d_m[1:], d_s[:-1], atol=1e-2)  # one frame off would not match


def _spliced(src, generated: np.ndarray, known: np.ndarray, blend: int = 6) -> np.ndarray:
    """What ``fill`` returns when the sampler's output is ``generated`` (model-space features)."""
    return blend_with_source(src.features, generated.astype(np.float32), known, blend)


def _pieces(src, known):
    return [Piece(src, s, s, e - s) for s, e in runs(known)]


def test_regenerating_the_source_itself_gives_the_source_back(clips):
    """Generated features equal to the source's: the placement inverts the conversion and the bone fit is
    the source's own; only the ground clearance (measured on the template's proportions) may move the root
    up or down a little."""
    for path in clips.values():
        src = load_source(path)
        T = src.frames
        known = np.ones(T, bool)
        known[T // 4 : T // 2] = False
        feats = _spliced(src, src.features, known, blend=0)
        out = place_in_source(recover_from_ric(feats), known, _pieces(src, known), src, blend_weights(known, 6))
        assert np.array_equal(out[known], src.joints[known])
        rel_out, rel_src = out - out[:, :1], src.joints - src.joints[:, :1]
        np.testing.assert_allclose(rel_out, rel_src, atol=2e-3)  # the source's mapped bones vary by < 1 mm
        np.testing.assert_allclose(out[:, 0, [0, 2]], src.joints[:, 0, [0, 2]], atol=1e-4)
        assert np.abs(out[:, 0, 1] - src.joints[:, 0, 1]).max() < 0.02


@pytest.mark.parametrize("regions", [[(20, 40)], [(0, 15)], [(50, 68)], [(6, 22), (40, 56)]])
def test_spliced_motion_meets_the_kept_frames(clips, walk_turn, regions):
    """Another real clip (walking straight, elsewhere, facing elsewhere) as the generated motion: the kept
    frames stay bitwise, the seams pass the 2x p95 criterion, the root path and the facing are continuous,
    the generated frames have the source's bone lengths and the model's ground clearance."""
    src = walk_turn
    T = src.frames
    other = load_source(clips[WALK])
    known = np.ones(T, bool)
    for s, e in regions:
        known[s:e] = False
    generated = other.features[40 : 40 + T]
    feats = _spliced(src, generated, known)
    model = recover_from_ric(feats)
    w = blend_weights(known, 6)
    out = place_in_source(model, known, _pieces(src, known), src, w)
    assert out.dtype == np.float32 and np.array_equal(out[known], src.joints[known])
    b = boundaries(known)
    seams = seam_report(out, b, [src.joints])
    assert seams.ok(2.0), seams.to_dict()
    root_steps = np.linalg.norm(np.diff(out[:, 0, [0, 2]], axis=0), axis=-1)
    src_root = np.percentile(np.linalg.norm(np.diff(src.joints[:, 0, [0, 2]], axis=0), axis=-1), 95)
    turn = np.abs(wrap(np.diff(heading(out))))
    src_turn = np.percentile(np.abs(wrap(np.diff(heading(src.joints)))), 95)
    for t in b:
        assert root_steps[t - 1] <= 2 * src_root, (t, root_steps[t - 1], src_root)
        assert turn[t - 1] <= 2 * src_turn + np.radians(1.0), (t, np.degrees(turn[t - 1]))
    full = w >= 1.0  # generated frames past the seam ramps
    assert full.any()
    lengths = bone_lengths(SMPL22.parents, out[full])
    want = np.linalg.norm(src.rest_offsets(), axis=-1)
    np.testing.assert_allclose(lengths, np.broadcast_to(want, lengths.shape), atol=1e-5)
    clearance = soft_min(out[full, :, 1].astype(np.float64)) - src.joints[..., 1].min()
    np.testing.assert_allclose(clearance, soft_min(model[full, :, 1]) / src.frame.scale, atol=1e-5)


def test_end_clip_after_a_gap_keeps_its_own_joints(clips, walk_turn):
    """In-between of two joints clips: the start clip in place, the end clip moved as a whole (yaw and a
    ground-plane shift) to continue from the gap, its own bones and heights unchanged."""
    a, b = walk_turn, load_source(clips["dataset-2_run_normal_001.bvh"])
    gap = 24
    T = a.frames + gap + b.frames
    known = np.ones(T, bool)
    known[a.frames : a.frames + gap] = False
    tl = np.concatenate([a.features, np.zeros((gap, 263), np.float32), b.features])
    generated = load_source(clips[WALK]).features[:T]
    feats = blend_with_source(tl, generated, known, 6)
    pieces = [Piece(a, 0, 0, a.frames), Piece(b, a.frames + gap, 0, b.frames, anchored=False)]
    out = place_in_source(recover_from_ric(feats), known, pieces, a, blend_weights(known, 6))
    assert np.array_equal(out[: a.frames], a.joints)
    jb = out[a.frames + gap :].astype(np.float64)
    bj = b.joints.astype(np.float64)
    np.testing.assert_allclose(jb[..., 1], bj[..., 1], atol=1e-6)
    d_out = np.linalg.norm(jb[:, :, None] - jb[:, None], axis=-1)
    d_src = np.linalg.norm(bj[:, :, None] - bj[:, None], axis=-1)
    np.testing.assert_allclose(d_out, d_src, atol=1e-5)
    rot = np.angle(np.exp(1j * (heading(jb) - heading(bj))))
    assert np.ptp(np.unwrap(rot)) < 1e-5  # one yaw for the whole clip
    seams = seam_report(out, boundaries(known), [a.joints, b.joints])
    assert seams.ok(2.0), seams.to_dict()


# ------------------------------------------------------------------------------------ tiny model
@pytest.fixture(scope="module")
def joints_npy(walk_turn, tmp_path_factory) -> Path:
    from moscale_cli.io.files import save_motion

    path = tmp_path_factory.mktemp("source-space") / "walk_turn.npy"
    save_motion(path, walk_turn.joints)
    return path


def _check(m, src_joints: np.ndarray, frames: int) -> None:
    assert m.frames == frames and m.joints.shape == (frames, 22, 3) and m.features.shape == (frames, 263)
    assert m.space == "source" and np.isfinite(m.joints).all()
    k = m.known
    assert np.array_equal(m.joints[k], src_joints[m.source_frames[k]])  # bitwise
    assert (m.source_frames[k] >= 0).all()


@pytest.mark.parametrize("kind", ["bvh", "npy", "array"])
def test_edit_extend_inbetween_keep_the_source_frames(pipe, clips, joints_npy, walk_turn, kind):
    src = {"bvh": clips[WALK_TURN], "npy": joints_npy, "array": walk_turn.joints}[kind]
    S = walk_turn.joints
    m = pipe.edit(src, "a person jumps", regions=[(20, 40)], sampling=FAST, seed=1)
    _check(m, S, 68)
    assert m.regions == [(20, 40)] and list(m.source_frames) == list(range(68))
    for at, offset in (("end", 0), ("start", 32), ("both", 16)):
        m = pipe.extend(src, "a person sits down", frames=100, at=at, sampling=FAST, seed=2)
        _check(m, S, 100)
        assert m.source_offset == offset and list(m.source_frames[offset : offset + 68]) == list(range(68))
    m = pipe.inbetween("a person turns around", source=src, keep_start=15, keep_end=10, sampling=FAST, seed=3)
    _check(m, S, 68)
    assert m.regions == [(15, 58)]
    m = pipe.inbetween("a person turns around", source=src, keep_start=15, keep_end=10, frames=90, sampling=FAST)
    _check(m, S, 90)
    assert m.regions == [(15, 80)] and list(m.source_frames[80:]) == list(range(58, 68))
    assert (m.source_frames[15:80] == -1).all()


def test_seams_continue_the_root_and_the_facing_with_a_random_model(pipe, walk_turn):
    """Whatever the generated motion does, the first and last generated frames continue the kept ones: the
    feature blend and the seam placement hold the root path and the facing at the seams."""
    S = walk_turn.joints
    src_root = np.percentile(np.linalg.norm(np.diff(S[:, 0, [0, 2]], axis=0), axis=-1), 95)
    src_turn = np.percentile(np.abs(wrap(np.diff(heading(S)))), 95)
    for seed in range(3):
        m = pipe.edit(walk_turn, "a person jumps", regions=[(20, 40)], sampling=FAST, seed=seed)
        root = np.linalg.norm(np.diff(m.joints[:, 0, [0, 2]], axis=0), axis=-1)
        turn = np.abs(wrap(np.diff(heading(m.joints))))
        for t in (20, 40):
            assert root[t - 1] <= 2 * src_root, (seed, t, root[t - 1], src_root)
            assert turn[t - 1] <= 2 * src_turn + np.radians(2.0), (seed, t, np.degrees(turn[t - 1]))


def test_generated_joints_as_source_keep_length_and_placement(pipe, tmp_path):
    """The reported case: generate -> joints .npy -> edit a middle region: same frame count, the frames
    before the region identical (placement, height), not re-centred or re-faced."""
    from moscale_cli.io.files import save_motion

    g = pipe.generate("a person walks forward", frames=80, seed=3, sampling=FAST)[0]
    path = tmp_path / "src.npy"
    save_motion(path, g.joints)
    m = pipe.edit(path, "a person jumps up high", regions=[(30, 50)], seed=4, sampling=FAST)
    assert m.frames == 80
    assert np.array_equal(m.joints[:30], g.joints[:30]) and np.array_equal(m.joints[50:], g.joints[50:])


def test_features_source_stays_in_model_space(pipe, walk_turn):
    m = pipe.edit(walk_turn.features, "a person jumps", regions=[(20, 40)], sampling=FAST, seed=1, postprocess=False)
    assert m.space == "model" and np.array_equal(m.features[:20], walk_turn.features[:20])
    np.testing.assert_allclose(m.joints, recover_from_ric(m.features), atol=1e-5)


# ------------------------------------------------------------------------------------ the default model
@pytest.mark.slow
def test_default_model_seams_within_twice_the_clip_p95(clips, tmp_path):
    """Edit, in-between and extension of BVH and joints sources with the installed default model: every
    seam jump within 2x the source clip's own 95th-percentile per-frame joint displacement."""
    from moscale_cli.pipeline import MoScalePipeline

    pipe = MoScalePipeline.from_pretrained(None, device="cpu")
    for name in (WALK_TURN, WALK, "dataset-2_run_normal_001.bvh"):
        src = load_source(clips[name])
        T = src.frames
        arr = src.joints
        for source in (clips[name], arr):
            for m in (
                pipe.edit(source, "a person jumps", regions=[(T // 3, 2 * T // 3)], seed=1),
                pipe.inbetween("a person turns around", source=source, keep_start=T // 4, keep_end=T // 4, seed=2),
                pipe.extend(source, "a person sits down", frames=min(pipe.max_frames, T + 40), seed=3),
            ):
                assert m.space == "source" and np.array_equal(m.joints[m.known], arr[m.source_frames[m.known]])
                assert m.seams.ok(2.0), (name, m.regions, m.seams.to_dict())
                assert frame_steps(m.joints).max() < 10 * m.seams.p95


# ------------------------------------------------------------------------------------ another rig, another rate
def test_mixamo_rig_at_120_fps_with_fingers(pipe, tmp_path, rigs):
    """A centimetre Mixamo-style rig at 120 fps with fingers and a prop: the edit is written back at 120 fps
    on the rig; the clip's frames outside the region are its lines verbatim, the frames whose time falls in
    the region follow the edited joints, fingers and the prop hold the nearest kept frame."""
    from moscale_cli.io.bvh import read_bvh, write_rig
    from moscale_cli.motion.rig import rig_smpl22
    from moscale_cli.pipeline.source_rig import sample_joints, source_rig_frames, write_source_bvh

    rig, smpl = rigs.mixamo_rig(prefix="mixamorig:", units=100.0, order="XYZ")
    values = rigs.random_values(rig, 240, seed=0, walk=1.0)  # 2 s at 120 fps
    path = tmp_path / "mixamo.bvh"
    write_rig(path, rig, values, 1.0 / 120.0)
    clip = read_bvh(path)
    m = pipe.edit(path, "a person waves", regions=[(10, 24)], sampling=FAST, seed=5)  # 0.5 s to 1.2 s
    assert m.frames == 40 and m.source.bvh.clip.fps == pytest.approx(120.0)
    rf = source_rig_frames(m)
    t = np.arange(240) / 120.0
    inside = (t >= 0.5 - 1e-6) & (t < 1.2 - 1e-6)
    assert len(rf.keep) == 240 and np.array_equal(rf.keep, ~inside) and np.array_equal(rf.source_frames, np.arange(240))
    out = tmp_path / "edited.bvh"
    write_source_bvh(m, out, rf)
    edited = read_bvh(out)
    assert edited.header == clip.header
    assert [a for a, k in zip(edited.motion_lines, rf.keep, strict=True) if k] == [
        a for a, k in zip(clip.motion_lines, rf.keep, strict=True) if k
    ]
    mp = m.source.bvh.source.mapping
    got = rig_smpl22(edited.rig, edited.positions, mp)[inside] * 0.01
    want = m.source.bvh.to_source_units(sample_joints(m.joints, t[inside] * 20.0, m.source.rest_offsets())) * 0.01
    assert np.linalg.norm(got - want, axis=-1).max() < 0.01  # metres: the rig's own bones vs the motion's
    near = np.where(np.flatnonzero(inside) < (59 + 144) / 2, 59, 144)
    for k in [k for k, s in enumerate(smpl) if s is None]:  # fingers, head top, the sword
        cols = clip.rig.columns[k]
        np.testing.assert_allclose(edited.values[inside][:, cols], clip.values[near][:, cols], atol=1e-6)
    # an extension at 120 fps: new frames after the clip up to the motion's last 20 fps frame, on the rig
    m = pipe.extend(path, "a person sits down", frames=60, sampling=FAST, seed=6)
    rf = source_rig_frames(m)
    assert rf.keep[:240].all() and not rf.keep[240:].any() and len(rf.keep) == 240 + 115  # to 59 / 20 = 2.95 s
    np.testing.assert_allclose(np.diff(rf.times), 1 / 120.0, atol=1e-9)
    assert np.isfinite(rf.values).all()
