"""Load and save motions by file extension (.bvh, .npy, .mp4, .gif, .glb, .gltf, .html); every write is atomic."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from moscale_cli.errors import MotionFileError, UsageError

LOAD_EXTENSIONS = (".bvh", ".npy")
SAVE_EXTENSIONS = (".bvh", ".npy", ".mp4", ".gif", ".glb", ".gltf", ".html")


@dataclass
class LoadedMotion:
    joints: np.ndarray  # (T, J, 3) metres (SMPL-22) or the dataset's units (KIT-21)
    features: np.ndarray | None  # (T, 263) / (T, 251) when the file held features
    fps: float

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])


def _ext(path: Path, allowed: tuple[str, ...], verb: str) -> str:
    ext = path.suffix.lower()
    if ext not in allowed:
        shown = ext or "no extension"
        raise MotionFileError(
            f"cannot {verb} {path.name} ({shown}): supported extensions are {', '.join(allowed)}"
        )
    return ext


def check_output_path(path: str | os.PathLike, force: bool = False) -> str:
    """Validate an output path before any work; returns its extension. A known extension; not a folder; its
    folder existing and writable, or creatable (missing parent folders are created when it is written); an
    existing read-only file (no write permission bit, root included) only with ``force``. A symbolic link is
    checked (and later written) through to the file it points to."""
    from moscale_cli.errors import MoScaleError
    from moscale_cli.utils.atomic import check_creatable, write_target

    path = Path(path)
    ext = _ext(path, SAVE_EXTENSIONS, "write")
    target = write_target(path)
    if target.is_dir():
        raise MotionFileError(f"cannot write {path}: it is a folder")
    try:
        check_creatable(target)
    except MoScaleError as e:
        raise MotionFileError(str(e).replace(f"cannot write {target}", f"cannot write {path}")) from None
    if target.exists() and not force and (not os.access(target, os.W_OK) or not target.stat().st_mode & 0o222):
        raise MotionFileError(f"cannot write {path}: the file is read-only (pass --force to replace it)")
    return ext


def load_motion(
    path: str | os.PathLike,
    mapping: str | os.PathLike | dict | None = None,
    scale: float | None = None,
) -> LoadedMotion:
    """Read a .bvh (any skeleton with a mapping, see :func:`moscale_cli.io.bvh.bvh_to_smpl22`) or .npy
    (joints or features; joints are recovered from features) motion file."""
    path = Path(path)
    ext = _ext(path, LOAD_EXTENSIONS, "read")
    if not path.is_file():
        raise MotionFileError(f"{path}: file not found")
    if ext == ".bvh":
        from moscale_cli.io.bvh import bvh_to_smpl22

        return LoadedMotion(bvh_to_smpl22(path, mapping=mapping, scale=scale), None, 20.0)
    from moscale_cli.io.npy import load_npy_motion
    from moscale_cli.motion.skeleton import KIT21, SMPL22

    kind, arr = load_npy_motion(path)
    if kind == "joints":
        fps = SMPL22.fps if arr.shape[1] == SMPL22.num_joints else KIT21.fps
        return LoadedMotion(arr, None, fps)
    from moscale_cli.motion.features import features_to_joints
    from moscale_cli.motion.skeleton import skeleton_for_dim

    sk = skeleton_for_dim(arr.shape[1])
    return LoadedMotion(np.asarray(features_to_joints(arr), dtype=np.float32), arr, sk.fps)


def save_motion(
    path: str | os.PathLike,
    joints: np.ndarray,
    features: np.ndarray | None = None,
    caption: str = "",
    write_features: bool = False,
    fps: float = 20.0,
    foot_cleanup: bool = False,
    force: bool = False,
) -> Path:
    """Write a motion; the extension picks the format:

    - ``.npy``: joints (T, J, 3), or the features with ``write_features`` (computed from the joints by
      ``joints_to_features`` when not given: T joint frames give T-1 feature frames);
    - ``.bvh``: SMPL-22 BVH (IK);
    - ``.mp4`` / ``.gif``: stick-figure render with ``caption`` as title, at ``fps``;
    - ``.glb`` / ``.gltf``: glTF 2.0, the 22-joint skeleton with a skinned body and the animation
      (:mod:`moscale_cli.io.gltf`);
    - ``.html``: a self-contained page that plays the motion in 3D (:mod:`moscale_cli.io.html`).

    ``foot_cleanup`` runs the post-process first (SMPL-22; any format): rigid bones and feet pinned while
    they touch the floor (:func:`moscale_cli.motion.postprocess.postprocess`).
    Unknown extensions and unwritable paths raise :class:`MotionFileError` before any work; a read-only file
    is replaced only with ``force`` (it keeps its mode), a symbolic link is written through.
    """
    path = Path(path)
    ext = check_output_path(path, force)
    if write_features and ext != ".npy":
        raise UsageError(f"features can only be written to .npy files, not {path.name}")
    from moscale_cli.io.npy import check_motion_array

    j = np.asarray(joints)
    if check_motion_array(j, f"motion for {path.name}") != "joints":
        raise MotionFileError(f"motion for {path.name}: expected joints (T, J, 3), got {tuple(j.shape)}")
    if foot_cleanup:
        if j.shape[1] != 22:
            raise MotionFileError("foot cleanup needs SMPL-22 joints (T, 22, 3)")
        from moscale_cli.motion.postprocess import postprocess

        j = postprocess(j, fps=fps).joints.astype(np.float32)
        features = None  # recomputed from the cleaned joints
    if ext == ".npy":
        from moscale_cli.io.npy import save_npy_motion

        if not write_features:
            save_npy_motion(path, j)
            return path
        if features is None:
            from moscale_cli.motion.features import joints_to_features
            from moscale_cli.motion.skeleton import KIT21, SMPL22

            if j.shape[0] < 2:
                raise MotionFileError("features need at least 2 frames of joints")
            features = joints_to_features(j, skeleton=SMPL22 if j.shape[1] == 22 else KIT21)
        if check_motion_array(np.asarray(features), f"features for {path.name}") != "features":
            raise MotionFileError(f"features for {path.name} have shape {tuple(np.shape(features))}")
        save_npy_motion(path, np.asarray(features))
    elif ext == ".bvh":
        from moscale_cli.io.bvh import write_bvh

        write_bvh(path, j, fps=fps)
    elif ext in (".glb", ".gltf"):
        from moscale_cli.io.gltf import write_gltf

        write_gltf(path, j, fps=fps, name=caption)
    elif ext == ".html":
        from moscale_cli.io.html import write_html

        write_html(path, [j], title=caption, fps=fps)
    else:
        from moscale_cli.io.video import render_video

        render_video(path, j, title=caption, fps=fps)
    return path
