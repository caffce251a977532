"""A self-contained HTML page that plays motions in 3D (three.js, inlined: the page opens offline).

The page (``assets/web/page.html`` + ``viewer.js``, with the three.js build of ``assets/web/three.min.js``
inlined) shows every motion in its own viewport, side by side, with a shared camera angle (drag to orbit,
wheel to zoom), play/pause, a timeline to scrub, the playback speed, the ground grid and the root trail,
the title (the prompt) and a legend: left side red, right side blue, centre grey (the colours of the MP4
render). Joints are stored to 0.1 mm.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Sequence
from functools import cache
from importlib import resources

import numpy as np

from moscale_cli.errors import MotionFileError
from moscale_cli.motion.skeleton import KIT21, SMPL22, Skeleton
from moscale_cli.utils.atomic import write_bytes_atomic

LEFT, RIGHT, CENTRE, TRAIL = "#d62728", "#1f77b4", "#404040", "#ff9f1c"  # as io/video.py draws them


@cache
def _asset(name: str) -> str:
    return resources.files("moscale_cli").joinpath("assets", "web", name).read_text(encoding="utf-8")


def skeleton_for_joints(j: int) -> Skeleton:
    for sk in (SMPL22, KIT21):
        if sk.num_joints == j:
            return sk
    raise MotionFileError(f"cannot show {j} joints (expected 22 for SMPL-22 or 21 for KIT-21)")


def bone_sides(sk: Skeleton) -> tuple[list[tuple[int, int, str]], list[str]]:
    """Bones (parent, joint, side) and the side of every joint, from the skeleton's kinematic chains: a
    chain ending in a left joint is left, in a right joint right, else centre (as the MP4 render)."""
    joint_side = ["centre"] * sk.num_joints
    bones: list[tuple[int, int, str]] = []
    for chain in sk.kinematic_chains:
        end = sk.joint_names[chain[-1]]
        side = "left" if "left" in end else "right" if "right" in end else "centre"
        for p, k in zip(chain[:-1], chain[1:], strict=True):
            bones.append((int(p), int(k), side))
            joint_side[k] = side
    return bones, joint_side


def _script_json(obj: object) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(obj, separators=(",", ":")).replace("</", "<\\/").replace("<!--", "<\\!--")


def page_html(
    motions: Sequence[np.ndarray], title: str = "", fps: float = 20.0, labels: Sequence[str] | None = None
) -> str:
    """The page's text for motions (each (T, J, 3), metres, Y up, the same skeleton)."""
    from moscale_cli import __version__

    if not motions:
        raise MotionFileError("a motion page needs at least one motion")
    if not (np.isfinite(fps) and fps > 0):
        raise MotionFileError(f"fps must be positive, got {fps}")
    arrs = [np.asarray(m, dtype=np.float64) for m in motions]
    for a in arrs:
        if a.ndim != 3 or a.shape[2] != 3 or a.shape[0] < 1:
            raise MotionFileError(f"a motion page needs joints of shape (T, J, 3), got {tuple(a.shape)}")
        if not np.isfinite(a).all():
            raise MotionFileError("joint positions hold NaN or infinite values")
    if len({a.shape[1] for a in arrs}) != 1:
        raise MotionFileError("the motions of one page must have the same skeleton")
    sk = skeleton_for_joints(arrs[0].shape[1])
    bones, joint_side = bone_sides(sk)
    names = list(labels) if labels is not None else [f"sample {i}" for i in range(len(arrs))]
    data = {
        "title": title,
        "fps": float(fps),
        "parents": list(sk.parents),
        "bones": [list(b) for b in bones],
        "joint_sides": joint_side,
        "colours": {"left": LEFT, "right": RIGHT, "centre": CENTRE, "trail": TRAIL},
        "samples": [
            {"label": n, "frames": int(a.shape[0]), "joints": np.round(a, 4).reshape(-1).tolist()}
            for n, a in zip(names, arrs, strict=True)
        ],
    }
    values = {
        "version": html.escape(__version__),
        "title": html.escape(title or "moscale motion"),
        "left": LEFT, "right": RIGHT, "centre": CENTRE, "trail": TRAIL,
        "data": _script_json(data),
        "three": _asset("three.min.js"),
        "viewer": _asset("viewer.js"),
    }  # fmt: skip
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], _asset("page.html"))


def write_html(
    path: str | os.PathLike,
    motions: Sequence[np.ndarray],
    title: str = "",
    fps: float = 20.0,
    labels: Sequence[str] | None = None,
) -> None:
    """Write the motion page (see the module doc) atomically."""
    text = page_html(motions, title, fps, labels)
    try:
        write_bytes_atomic(path, text.encode("utf-8"))
    except OSError as e:
        raise MotionFileError(f"cannot write {path}: {e.strerror or e}") from None


__all__ = ["bone_sides", "page_html", "write_html"]
