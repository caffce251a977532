"""Editing through MoScalePipeline on a tiny random-weight model: exactness outside the regions, extension,
in-betweening, composition of long motions and the user errors. Exactness does not depend on quality."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from moscale_cli.errors import UsageError
from moscale_cli.motion.features import recover_from_ric
from moscale_cli.sampling.config import SamplingConfig

FAST = SamplingConfig(refine_steps=(1, 1, 1, 1))


@pytest.fixture(scope="module")
def pipe(tmp_path_factory, tiny_models):
    from moscale_cli.pipeline import MoScalePipeline

    torch.set_num_threads(min(2, torch.get_num_threads()))
    d = tiny_models.build_tiny_model_dir(tmp_path_factory.mktemp("edit-models") / "tiny")
    return MoScalePipeline.from_pretrained(d, device="cpu")


@pytest.fixture(scope="module")
def source_npy(pipe, tmp_path_factory) -> Path:
    """A 120-frame features NPY written and read back through the io layer."""
    from moscale_cli.io.files import save_motion

    m = pipe.generate("a person walks in a circle", frames=120, seed=7, sampling=FAST)[0]
    path = tmp_path_factory.mktemp("edit-src") / "src.npy"
    save_motion(path, m.joints, features=m.features, write_features=True)
    np.save(path.with_name("src_joints.npy"), m.joints)
    return path


def runs_of(flags: np.ndarray) -> list[tuple[int, int]]:
    out, start = [], None
    for t, f in enumerate(list(flags) + [False]):
        if f and start is None:
            start = t
        elif not f and start is not None:
            out.append((start, t))
            start = None
    return out


def _rigid_yaw_fit(target: np.ndarray, src: np.ndarray) -> np.ndarray:
    """``src`` (T, 22, 3) turned about +y and shifted, both constant, to best match ``target`` (least squares)."""
    a, b = src.reshape(-1, 3), target.reshape(-1, 3)
    ca, cb = a.mean(0), b.mean(0)
    x, z = a[:, 0] - ca[0], a[:, 2] - ca[2]
    u, w = b[:, 0] - cb[0], b[:, 2] - cb[2]
    ang = np.arctan2((z * u - x * w).sum(), (x * u + z * w).sum())
    c, s = np.cos(ang), np.sin(ang)
    rot = np.stack([c * x + s * z, a[:, 1] - ca[1], -s * x + c * z], -1) + cb
    return rot.reshape(src.shape)


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32).view(np.int32)


def outside(total: int, regions, offset: int = 0) -> np.ndarray:
    keep = np.ones(total, bool)
    for s, e in regions:
        keep[offset + s : offset + e] = False
    return keep


@pytest.mark.parametrize("regions", [[(40, 80)], [(0, 12), (50, 58), (100, 120)], [(3, 5)]])
def test_frames_outside_the_regions_are_the_source_bitwise(pipe, source_npy, regions):
    src = np.load(source_npy)
    m = pipe.edit(source_npy, "a person jumps", regions=regions, sampling=FAST, seed=1)
    assert m.features.shape == src.shape and m.frames == 120 and m.joints.shape == (120, 22, 3)
    keep = outside(120, regions)
    assert np.array_equal(bits(m.features[keep]), bits(src[keep]))
    assert not np.allclose(m.features[~keep], src[~keep])
    assert m.regions == regions and m.seams is not None and len(m.seams.jumps) == len(m.boundaries)
    # the joints against the source's own joints (as saved beside its features): before the first region they
    # are the source's; in a kept run after an edit the pose is the source's, turned about the vertical and
    # moved as a whole (the edited frames moved the root)
    src_joints = np.load(source_npy.with_name("src_joints.npy"))
    first = regions[0][0]
    assert np.allclose(m.joints[:first], src_joints[:first], atol=1e-5)
    for s, e in runs_of(keep):
        if s >= first and e - s >= 2:
            assert np.allclose(_rigid_yaw_fit(m.joints[s:e], src_joints[s:e]), m.joints[s:e], atol=1e-4)


def test_regions_as_a_numpy_array(pipe, source_npy):
    """An (n, 2) array of regions is accepted like a list of pairs (it used to raise on its truth value)."""
    a = pipe.edit(source_npy, "wave", regions=np.array([[30, 50], [80, 90]]), sampling=FAST, seed=4)
    b = pipe.edit(source_npy, "wave", regions=[(30, 50), (80, 90)], sampling=FAST, seed=4)
    assert np.array_equal(a.features, b.features) and a.regions == [(30, 50), (80, 90)]
    with pytest.raises(UsageError, match="either regions or a mask"):
        pipe.edit(source_npy, "wave", regions=np.array([[30, 50]]), mask=np.zeros(120, bool), sampling=FAST)
    empty = pipe.edit(source_npy, "wave", regions=np.zeros((0, 2), int), sampling=FAST, seed=4)
    assert empty.regions == []


def test_mask_equals_regions_and_empty_edit_is_the_source(pipe, source_npy):
    src = np.load(source_npy)
    mask = np.zeros(120, bool)
    mask[30:50] = True
    a = pipe.edit(source_npy, "wave", mask=mask, sampling=FAST, seed=4)
    b = pipe.edit(source_npy, "wave", regions=[(30, 50)], sampling=FAST, seed=4)
    assert np.array_equal(a.features, b.features)
    empty = pipe.edit(source_npy, "wave", regions=[], sampling=FAST, seed=4)
    assert np.array_equal(bits(empty.features), bits(src)) and empty.regions == [] and empty.seams.jump == 0


def test_whole_motion_as_region_is_generation_from_the_same_seed(pipe, source_npy):
    m = pipe.edit(source_npy, "a person dances", regions=[(0, 120)], sampling=FAST, seed=12)
    g = pipe.generate("a person dances", frames=120, seed=12, sampling=FAST)[0]
    assert np.array_equal(m.features, g.features)


@pytest.mark.parametrize("extend,offset", [("end", 0), ("start", 40), ("both", 20)])
def test_extension_keeps_the_source_where_it_is_placed(pipe, source_npy, extend, offset):
    src = np.load(source_npy)
    m = pipe.edit(source_npy, "a person runs", regions=[(60, 70)], frames=160, extend=extend, sampling=FAST)
    assert m.frames == 160 and m.source_offset == offset
    keep = outside(160, [(60, 70)], offset)
    keep[:offset] = False
    keep[offset + 120 :] = False
    assert np.array_equal(bits(m.features[keep]), bits(src[outside(120, [(60, 70)])]))
    new = [(0, offset)] if offset else []
    new += [(offset + 60, offset + 70)]
    new += [(offset + 120, 160)] if offset + 120 < 160 else []
    assert m.regions == new


def test_unconditional_and_text_conditioned_edits_differ(pipe, source_npy):
    a = pipe.edit(source_npy, None, regions=[(40, 80)], unconditional=True, sampling=FAST, seed=3)
    b = pipe.edit(source_npy, "a person kicks", regions=[(40, 80)], sampling=FAST, seed=3)
    keep = outside(120, [(40, 80)])
    assert np.array_equal(a.features[keep], b.features[keep]) and a.caption == ""
    assert not np.allclose(a.features[40:80], b.features[40:80])


def test_joints_and_bvh_sources(pipe, source_npy, tmp_path):
    from moscale_cli.io.files import load_motion, save_motion

    joints = load_motion(source_npy).joints
    m = pipe.edit(joints, "a person sits", regions=[(20, 40)], sampling=FAST)
    assert m.frames == 120 and m.space == "source"  # one feature frame per joint frame
    keep = outside(120, [(20, 40)])
    assert np.array_equal(m.joints[keep], joints[keep])  # in the source's space, exactly
    bvh = tmp_path / "src.bvh"
    save_motion(bvh, joints)
    m2 = pipe.edit(bvh, "a person sits", regions=[(20, 40)], sampling=FAST)
    back = load_motion(bvh).joints
    assert m2.frames == back.shape[0] and np.array_equal(m2.joints[keep], back[keep])


def test_inbetween_two_clips_keeps_both_and_continues_the_root(pipe, source_npy):
    src = np.load(source_npy)
    a, b = src[:50], src[70:]
    m = pipe.inbetween("a person turns", start=a, end=b, frames=36, sampling=FAST, seed=2)
    assert m.frames == 50 + 36 + 50 and m.regions == [(50, 86)] and m.boundaries == [50, 86]
    assert np.array_equal(bits(m.features[:50]), bits(a)) and np.array_equal(bits(m.features[86:]), bits(b))
    # B's root continues from the gap: its root-relative pose is B's, its placement follows the gap
    jb = recover_from_ric(b)
    jm = m.joints[86:]
    assert np.allclose(jm - jm[:, :1], _yaw_like(jm, jb), atol=1e-4)


def _yaw_like(jm: np.ndarray, jb: np.ndarray) -> np.ndarray:
    """B's root-relative joints turned by the constant yaw that maps B's first frame onto the output's."""
    rel_b = jb - jb[:, :1]
    rel_m = jm - jm[:, :1]
    a = np.arctan2(rel_m[0, 1:, 0], rel_m[0, 1:, 2]) - np.arctan2(rel_b[0, 1:, 0], rel_b[0, 1:, 2])
    ang = np.angle(np.exp(1j * a).mean())
    c, s = np.cos(ang), np.sin(ang)
    x, z = rel_b[..., 0], rel_b[..., 2]
    return np.stack([c * x + s * z, rel_b[..., 1], -s * x + c * z], axis=-1)


def test_inbetween_one_source_keeps_its_ends(pipe, source_npy):
    src = np.load(source_npy)
    m = pipe.inbetween("a person crawls", source=source_npy, keep_start=30, keep_end=20, frames=140, sampling=FAST)
    assert m.frames == 140 and m.regions == [(30, 120)]
    assert np.array_equal(bits(m.features[:30]), bits(src[:30]))
    assert np.array_equal(bits(m.features[120:]), bits(src[100:]))
    same_len = pipe.inbetween("a person crawls", source=source_npy, keep_start=30, keep_end=20, sampling=FAST)
    assert same_len.frames == 120 and same_len.regions == [(30, 100)]


def test_compose_is_deterministic_and_continuous(pipe):
    segs = [("walk forward", 100), ("turn around", 230), ("sit down", 40)]
    a = pipe.compose(segs, overlap=20, sampling=FAST, seed=5)
    assert a.frames == 370 and a.features.shape == (370, 263) and a.joints.shape == (370, 22, 3)
    assert a.regions == [(0, 100), (100, 330), (330, 370)]
    assert a.boundaries == [100, 215, 330]  # "turn around" is split into two windows of 115 frames
    assert a.seams.ok(), a.seams.to_dict()
    b = pipe.compose(segs, overlap=20, sampling=FAST, seed=5)
    assert np.array_equal(a.features, b.features)
    assert a.caption == "walk forward -> turn around -> sit down"


@pytest.mark.slow
def test_compose_sixty_seconds_from_six_prompts(pipe):
    prompts = ["walk forward", "turn around", "sit down", "stand up", "run left", "stop and wave"]
    segs = [(p, 200) for p in prompts]  # 6 x 10 s = 60 s; each longer than a window minus the overlap
    m = pipe.compose(segs, overlap=20, sampling=FAST, seed=0)
    assert m.frames == 1200 and m.seconds == pytest.approx(60.0)
    assert np.isfinite(m.joints).all()
    assert m.regions == [(200 * i, 200 * (i + 1)) for i in range(6)]
    assert all(s in m.boundaries for s in range(200, 1200, 200))
    assert len(m.boundaries) == 11 and m.seams.ok(2.0), m.seams.to_dict()


def test_user_errors(pipe, source_npy):
    def fails(match, fn, *a, **k):
        with pytest.raises(UsageError, match=match) as e:
            fn(*a, sampling=FAST, **k)
        assert "\n" not in str(e.value)

    fails("outside", pipe.edit, source_npy, "x", regions=[(100, 140)])
    fails("reversed", pipe.edit, source_npy, "x", regions=[(60, 40)])
    fails("empty", pipe.edit, source_npy, "x", regions=[(40, 40)])
    fails("overlap", pipe.edit, source_npy, "x", regions=[(10, 50), (40, 60)])
    fails("length 120", pipe.edit, source_npy, "x", mask=np.zeros(100, bool))
    fails("either regions or a mask", pipe.edit, source_npy, "x", regions=[(0, 4)], mask=np.zeros(120, bool))
    fails("shorter than the source", pipe.edit, source_npy, "x", regions=[(0, 4)], frames=100)
    fails("compose", pipe.edit, source_npy, "x", frames=250)
    fails("more than the model window.*compose", pipe.edit, np.zeros((250, 263), np.float32), "x", regions=[(0, 4)])
    fails("empty", pipe.edit, source_npy, "  ", regions=[(0, 4)])
    fails("not longer than the kept parts", pipe.inbetween, "x", source=source_npy, keep_start=60, keep_end=40, frames=90)
    fails("exceed the source", pipe.inbetween, "x", source=source_npy, keep_start=80, keep_end=60)
    fails("exceed the model window.*compose", pipe.inbetween, "x", start=source_npy, end=source_npy, frames=20)
    fails("--frames", pipe.inbetween, "x", start=source_npy)
    fails("joints .T, 22, 3. or features", pipe.edit, np.zeros((10, 5)), "x", regions=[(0, 4)])
