"""Stick-figure renders (MP4 via ffmpeg, GIF via Pillow) with matplotlib's Agg canvas.

The view is a fixed orthographic 3/4 camera (front-right of a character facing +Z, slightly above),
projected to 2D: a ground grid, the root trail on the floor, kinematic chains coloured by side
(left = red, right = blue, centre = dark grey) with a legend saying so, the caption as title and a frame
counter. Artists are created once and only their data changes per frame, which keeps rendering fast.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np

from moscale_cli.errors import MotionFileError, stop_request
from moscale_cli.motion.skeleton import KIT21, SMPL22, Skeleton
from moscale_cli.utils.atomic import atomic_path

VIDEO_EXTENSIONS = (".mp4", ".gif")
LEFT, RIGHT, CENTRE = "#d62728", "#1f77b4", "#404040"


def _skeleton_for_joints(j: int) -> Skeleton:
    for sk in (SMPL22, KIT21):
        if sk.num_joints == j:
            return sk
    raise MotionFileError(f"cannot render {j} joints (expected 22 for SMPL-22 or 21 for KIT-21)")


def _camera(azimuth_deg: float = 35.0, elevation_deg: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    """Screen axes (right, up) of an orthographic camera looking at the origin."""
    az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
    d = np.array([np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)])  # towards the camera
    right = np.cross([0.0, 1.0, 0.0], d)
    right /= np.linalg.norm(right)
    up = np.cross(d, right)
    return right, up


def _nice_step(x: float) -> float:
    exp = 10.0 ** np.floor(np.log10(x))
    for m in (1.0, 2.0, 5.0, 10.0):
        if x <= m * exp:
            return m * exp
    return 10.0 * exp


def render_video(
    path: str | os.PathLike,
    joints_TJ3: np.ndarray,
    title: str = "",
    fps: float = 20.0,
    size_px: int = 480,
) -> None:
    """Render joints (T, J, 3), Y up, to ``path`` (.mp4 through ffmpeg, .gif through Pillow), atomically."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in VIDEO_EXTENSIONS:
        raise MotionFileError(f"cannot render to {path.name}: use .mp4 or .gif")
    j = np.asarray(joints_TJ3, dtype=np.float64)
    if j.ndim != 3 or j.shape[2] != 3 or j.shape[0] < 1:
        raise MotionFileError(f"render needs joints of shape (T, J, 3), got {tuple(j.shape)}")
    if not np.isfinite(j).all():
        raise MotionFileError("joint positions hold NaN or infinite values")
    if not (np.isfinite(fps) and fps > 0):
        raise MotionFileError(f"fps must be positive, got {fps}")
    sk = _skeleton_for_joints(j.shape[1])

    import matplotlib
    from matplotlib import animation
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    right, up = _camera()

    def project(p: np.ndarray) -> np.ndarray:
        return np.stack([p @ right, p @ up], axis=-1)

    floor_y = float(j[..., 1].min())
    root = j[:, 0].copy()
    root[:, 1] = floor_y
    height = float(np.ptp(j[0], axis=0).max()) or 1.0
    margin = 0.35 * height
    lo = j[..., [0, 2]].reshape(-1, 2).min(0) - margin
    hi = j[..., [0, 2]].reshape(-1, 2).max(0) + margin
    step = _nice_step(height / 3.0)
    lo, hi = np.floor(lo / step) * step, np.ceil(hi / step) * step
    segs = []
    for x in np.arange(lo[0], hi[0] + step / 2, step):
        segs.append([[x, floor_y, lo[1]], [x, floor_y, hi[1]]])
    for z in np.arange(lo[1], hi[1] + step / 2, step):
        segs.append([[lo[0], floor_y, z], [hi[0], floor_y, z]])
    grid2d = project(np.array(segs))
    body2d = project(j.reshape(-1, 3))
    (u0, v0), (u1, v1) = body2d.min(0), body2d.max(0)
    half = max(u1 - u0, v1 - v0) / 2 * 1.15
    follow = half > 1.1 * height  # long trajectories: a camera that follows the root
    if follow:
        half = 0.9 * height
        centre2d = project(j[:, 0] * [1, 0, 1] + [0, floor_y + 0.45 * height, 0])
        k = max(1, int(round(fps)))  # ~1 s moving average keeps the camera calm
        pad = np.concatenate([np.repeat(centre2d[:1], k, 0), centre2d, np.repeat(centre2d[-1:], k, 0)])
        kernel = np.ones(2 * k + 1) / (2 * k + 1)
        centre2d = np.stack([np.convolve(pad[:, i], kernel, mode="valid") for i in range(2)], -1)
    else:
        centre2d = np.broadcast_to([(u0 + u1) / 2, (v0 + v1) / 2], (j.shape[0], 2))
    cu, cv = centre2d[0]

    dpi = 80
    size_px -= size_px % 2  # even sizes for yuv420p
    fig = Figure(figsize=(size_px / dpi, size_px / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, 0.0, 1.0, 0.9 if title else 1.0))
    ax.set_xlim(cu - half, cu + half)
    ax.set_ylim(cv - half, cv + half)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        fig.suptitle("\n".join(textwrap.wrap(title, 48)[:2]), fontsize=11, y=0.97)
    ax.add_collection(LineCollection(grid2d, colors="#cccccc", linewidths=0.8, zorder=0))
    (trail,) = ax.plot([], [], color="#ff9f1c", lw=1.5, zorder=1)
    lines = []
    for chain in sk.kinematic_chains:
        end = sk.joint_names[chain[-1]]
        color = LEFT if "left" in end else RIGHT if "right" in end else CENTRE
        (ln,) = ax.plot([], [], color=color, lw=3.0, marker="o", ms=3.0, solid_capstyle="round", zorder=2)
        lines.append((ln, list(chain)))
    from matplotlib.lines import Line2D

    ax.legend(  # which side is which: the colours of the chains
        [Line2D([], [], color=c, lw=3.0) for c in (LEFT, RIGHT)], ["left", "right"], loc="lower right",
        fontsize=9, frameon=False, handlelength=1.6, borderaxespad=0.2,
    )
    counter = ax.text(0.02, 0.02, "", transform=ax.transAxes, fontsize=9, color="#666666")
    j2d = project(j)
    trail2d = project(root)
    t_total = j.shape[0]

    ext_args: dict = {}
    if ext == ".mp4":
        import imageio_ffmpeg

        matplotlib.rcParams["animation.ffmpeg_path"] = imageio_ffmpeg.get_ffmpeg_exe()
        writer: animation.AbstractMovieWriter = animation.FFMpegWriter(
            fps=fps, codec="libx264", extra_args=["-pix_fmt", "yuv420p", "-preset", "veryfast", "-crf", "23"]
        )
    else:
        writer = animation.PillowWriter(fps=fps)
    try:
        with atomic_path(path) as tmp:
            with writer.saving(fig, str(tmp), dpi=dpi, **ext_args):
                for t in range(t_total):
                    for ln, chain in lines:
                        ln.set_data(j2d[t, chain, 0], j2d[t, chain, 1])
                    trail.set_data(trail2d[: t + 1, 0], trail2d[: t + 1, 1])
                    counter.set_text(f"{t + 1}/{t_total}  {t / fps:.2f}s")
                    if follow:
                        ax.set_xlim(centre2d[t, 0] - half, centre2d[t, 0] + half)
                        ax.set_ylim(centre2d[t, 1] - half, centre2d[t, 1] + half)
                    writer.grab_frame()
    except Exception as e:  # ffmpeg failures surface as OSError / CalledProcessError / RuntimeError
        if (stop := stop_request(e)) is not None:  # a stop during the write made ffmpeg fail: report the stop
            raise stop from None
        if isinstance(e, MotionFileError):
            raise
        if isinstance(e, OSError):
            raise MotionFileError(f"cannot write {path}: {e.strerror or e}") from None
        raise MotionFileError(f"rendering {path.name} failed: {type(e).__name__}: {e}") from None
