"""NPY kinds and errors, MP4/GIF renders (frame count, duration), load/save dispatch and atomicity."""

from __future__ import annotations

from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

from moscale_cli.errors import MotionFileError, UsageError
from moscale_cli.io.bvh import bvh_to_smpl22
from moscale_cli.io.files import load_motion, save_motion
from moscale_cli.io.npy import load_npy_motion, save_npy_motion
from moscale_cli.io.video import render_video


def _walkish(t: int = 12, j: int = 22) -> np.ndarray:
    from moscale_cli.motion.skeleton import KIT21, SMPL22

    sk = SMPL22 if j == 22 else KIT21
    rest = sk.rest_pose().astype(np.float64)
    rest[:, 1] -= rest[:, 1].min()
    x = rest[None].repeat(t, 0)
    x[:, :, 2] += np.linspace(0, 0.5 * rest[:, 1].max(), t)[:, None]
    return x.astype(np.float32)


@pytest.mark.parametrize(
    "shape,kind",
    [((10, 22, 3), "joints"), ((10, 21, 3), "joints"), ((9, 263), "features"), ((9, 251), "features")],
)
def test_npy_kinds(tmp_path: Path, shape, kind):
    p = tmp_path / "m.npy"
    arr = np.random.default_rng(0).normal(size=shape)
    save_npy_motion(p, arr)
    k, back = load_npy_motion(p)
    assert k == kind and back.dtype == np.float32
    np.testing.assert_allclose(back, arr.astype(np.float32))


@pytest.mark.parametrize("shape", [(10, 22), (10, 23, 3), (10, 22, 4), (0, 22, 3), (10, 264), (2, 10, 22, 3)])
def test_npy_wrong_shape(tmp_path: Path, shape):
    p = tmp_path / "bad.npy"
    np.save(p, np.zeros(shape, dtype=np.float32))
    with pytest.raises(MotionFileError, match="not a motion"):
        load_npy_motion(p)


def test_npy_nan_pickle_garbage(tmp_path: Path):
    a = np.zeros((6, 263), dtype=np.float32)
    a[4, 7] = np.inf
    np.save(tmp_path / "inf.npy", a)
    with pytest.raises(MotionFileError, match="frame 4"):
        load_npy_motion(tmp_path / "inf.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(MotionFileError, match="pickled"):
        load_npy_motion(tmp_path / "obj.npy")
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    with pytest.raises(MotionFileError, match="not a valid NPY"):
        load_npy_motion(tmp_path / "junk.npy")


@pytest.mark.parametrize("fps", [20.0, 12.5])
def test_mp4_frames_and_duration(tmp_path: Path, fps: float):
    j = _walkish(10)
    p = tmp_path / "m.mp4"
    render_video(p, j, title="a person walks", fps=fps)
    frames, secs = imageio_ffmpeg.count_frames_and_secs(str(p))
    assert frames == 10
    assert abs(secs - 10 / fps) < 0.11
    assert [x.name for x in tmp_path.iterdir()] == ["m.mp4"]


def test_gif_and_kit(tmp_path: Path):
    from PIL import Image

    p = tmp_path / "k.gif"
    render_video(p, _walkish(6, 21) * 1000.0, title="kit in millimetres")
    with Image.open(p) as im:
        assert im.n_frames == 6
        assert abs(im.info["duration"] - 50) <= 1


def test_render_failure_leaves_nothing(tmp_path: Path, monkeypatch):
    from matplotlib import animation

    calls = {"n": 0}
    orig = animation.FFMpegWriter.grab_frame

    def boom(self, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        return orig(self, **kw)

    monkeypatch.setattr(animation.FFMpegWriter, "grab_frame", boom)
    with pytest.raises(MotionFileError, match="disk full"):
        render_video(tmp_path / "x.mp4", _walkish(8))
    assert list(tmp_path.iterdir()) == []


def test_save_dispatch_and_load_back(tmp_path: Path, short_bvh: Path, on_skeleton):
    j = on_skeleton(bvh_to_smpl22(short_bvh))[:20]
    save_motion(tmp_path / "j.npy", j)
    m = load_motion(tmp_path / "j.npy")
    assert m.features is None and m.fps == 20.0
    np.testing.assert_array_equal(m.joints, j)
    save_motion(tmp_path / "f.npy", j, write_features=True)
    m = load_motion(tmp_path / "f.npy")
    assert m.features.shape == (19, 263) and m.joints.shape == (19, 22, 3)
    np.testing.assert_allclose(m.joints, j[:19], atol=2e-3)  # features of on-skeleton joints give them back
    save_motion(tmp_path / "j.bvh", j)
    assert np.linalg.norm(load_motion(tmp_path / "j.bvh").joints - j, axis=-1).max() < 0.01
    save_motion(tmp_path / "j.gif", j[:4], caption="short")
    assert sorted(x.name for x in tmp_path.iterdir()) == ["f.npy", "j.bvh", "j.gif", "j.npy"]


def test_save_errors_before_work(tmp_path: Path, monkeypatch):
    import moscale_cli.io.video as video

    def never(*a, **k):
        raise AssertionError("rendering must not start")

    monkeypatch.setattr(video, "render_video", never)
    j = _walkish(5)
    with pytest.raises(MotionFileError, match="supported extensions"):
        save_motion(tmp_path / "x.fbx", j)
    (tmp_path / "afile").write_text("")
    with pytest.raises(MotionFileError, match="afile is a file, not a folder"):
        save_motion(tmp_path / "afile" / "x.mp4", j)
    with pytest.raises(MotionFileError, match="afile is a file, not a folder"):
        save_motion(tmp_path / "afile" / "deeper" / "x.mp4", j)
    with pytest.raises(UsageError, match="only be written to .npy"):
        save_motion(tmp_path / "x.bvh", j, write_features=True)
    with pytest.raises(MotionFileError, match="supported extensions"):
        load_motion(tmp_path / "x.txt")
    assert [x.name for x in tmp_path.iterdir()] == ["afile"]
