"""The MP4 render says which side is which: a legend with the left (red) and right (blue) colours."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

from moscale_cli.io.video import render_video


def _frame(mp4: Path, png: Path) -> np.ndarray:
    import matplotlib.image as mpimg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(mp4), "-frames:v", "1",
                    str(png)], check=True)  # fmt: skip
    return (mpimg.imread(png)[..., :3] * 255).astype(int)


def test_mp4_has_a_left_right_legend(tmp_path):
    from moscale_cli.motion.skeleton import SMPL22

    j = np.repeat(SMPL22.rest_pose()[None].astype(np.float64), 3, 0)
    j[..., 1] -= j[..., 1].min()
    render_video(tmp_path / "m.mp4", j, title="standing", fps=20.0)
    img = _frame(tmp_path / "m.mp4", tmp_path / "f.png")
    h, w = img.shape[:2]
    corner = img[int(0.85 * h) :, int(0.75 * w) :]  # the legend's corner (the figure stands in the middle)
    r, g, b = corner[..., 0], corner[..., 1], corner[..., 2]
    red = ((r > 150) & (g < 100) & (b < 100)).sum()
    blue = ((b > 120) & (r < 90) & (g < 160)).sum()
    assert red > 20 and blue > 20, (red, blue)


def test_a_stop_during_the_write_is_reported_as_the_stop(tmp_path, monkeypatch):
    """SIGTERM inside grab_frame leaves half a frame in ffmpeg's pipe, so ffmpeg fails in the writer's clean-up;
    the stop (exit 143), not the clean-up's error (exit 1), must come out, and no file is left."""
    import subprocess

    from matplotlib import animation

    from moscale_cli.errors import Terminated
    from moscale_cli.io.video import render_video

    calls = {"n": 0}

    def grab_frame(self, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Terminated(15)

    def finish(self):
        raise subprocess.CalledProcessError(1, ["ffmpeg"])

    monkeypatch.setattr(animation.FFMpegWriter, "grab_frame", grab_frame)
    monkeypatch.setattr(animation.FFMpegWriter, "finish", finish)
    monkeypatch.setattr(animation.FFMpegWriter, "setup", lambda self, *a, **k: None)
    joints = np.zeros((10, 22, 3), dtype=np.float32)
    joints[..., 1] = np.linspace(0, 1.7, 22)[None]
    with pytest.raises(Terminated):
        render_video(tmp_path / "x.mp4", joints, fps=20)
    assert list(tmp_path.iterdir()) == []
