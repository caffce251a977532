"""NPY motion files: joints (T, 22, 3) / (T, 21, 3) or features (T, 263) / (T, 251).

The kind is detected from the shape; anything else (or NaN/inf, or a pickled object array) raises
:class:`MotionFileError` with one line.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from moscale_cli.errors import MotionFileError
from moscale_cli.utils.atomic import atomic_path

JOINT_COUNTS = (22, 21)  # SMPL-22 (HumanML3D), KIT-21
FEATURE_DIMS = (263, 251)
EXPECTED = "joints (T, 22, 3) / (T, 21, 3) or features (T, 263) / (T, 251)"


def motion_kind(shape: tuple[int, ...]) -> str | None:
    """ "joints", "features" or None for an array shape."""
    if len(shape) == 3 and shape[1] in JOINT_COUNTS and shape[2] == 3 and shape[0] >= 1:
        return "joints"
    if len(shape) == 2 and shape[1] in FEATURE_DIMS and shape[0] >= 1:
        return "features"
    return None


def check_motion_array(arr: np.ndarray, what: str) -> str:
    """Validate shape and values; returns the kind. ``what`` names the source in error messages."""
    kind = motion_kind(tuple(arr.shape))
    if kind is None:
        raise MotionFileError(
            f"{what}: array of shape {tuple(arr.shape)} is not a motion; expected {EXPECTED}"
        )
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise MotionFileError(f"{what}: array of dtype {arr.dtype} is not a motion (expected floats)")
    finite = np.isfinite(arr)
    if not finite.all():
        frame = int(np.argwhere(~finite)[0][0])
        raise MotionFileError(f"{what}: holds NaN or infinite values (first at frame {frame})")
    return kind


def load_npy_motion(path: str | os.PathLike) -> tuple[str, np.ndarray]:
    """Load an NPY motion -> (kind, float32 array) with kind "joints" or "features"."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except FileNotFoundError:
        raise MotionFileError(f"{path}: file not found") from None
    except OSError as e:
        raise MotionFileError(f"{path}: cannot read ({e.strerror})") from None
    if magic != b"\x93NUMPY":
        raise MotionFileError(f"{path}: is not a valid NPY file")
    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise MotionFileError(f"{path}: file not found") from None
    except ValueError as e:
        msg = (
            "holds pickled objects, which are never loaded"
            if "pickle" in str(e)
            else "is not a valid NPY file"
        )
        raise MotionFileError(f"{path}: {msg}") from None
    except (OSError, EOFError) as e:
        raise MotionFileError(f"{path}: cannot read NPY ({e})") from None
    if not isinstance(arr, np.ndarray):
        raise MotionFileError(f"{path}: expected one array (an .npz archive is not supported)")
    kind = check_motion_array(arr, str(path))
    return kind, arr.astype(np.float32)


def save_npy_motion(path: str | os.PathLike, arr: np.ndarray) -> None:
    """Write a joints or features array (validated) as float32 NPY, atomically."""
    arr = np.asarray(arr)
    check_motion_array(arr, f"data for {path}")
    try:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, arr.astype(np.float32), allow_pickle=False)
    except OSError as e:
        raise MotionFileError(f"cannot write {path}: {e.strerror or e}") from None
