"""Source motions of the editing tasks: what the model sees and where the source lives.

The model works on a timeline of 263-dim HumanML3D features at 20 fps in its *model space*: the joints
retargeted to the template skeleton, floored, the first frame's root at the origin facing +Z
(:func:`~moscale_cli.motion.features.joints_to_features`). A user's source is often joints or a BVH clip
in its own *source space* (world placement, facing, bone lengths). :func:`load_source` prepares both:

- ``features``: the timeline the model works on, one feature frame per source frame. A features source is
  taken as it is (bitwise). Joints ``(T, 22, 3)`` give ``T`` feature frames, not ``T - 1``: the joints are
  padded with one frame continuing the last step (``2 j[T-1] - j[T-2]``) before the conversion, so feature
  frame ``t`` is joint frame ``t`` (the padding only supplies the last frame's velocities);
- ``joints``: the source's joints in metres at 20 fps in its own space (a BVH clip resampled to 20 fps and
  floored, as ``moscale convert`` reads it); for a features source the joints recovered from the features;
- ``frame``: the similarity the conversion applied (:class:`ModelFrame`), so generated motion can be brought
  back (see ``pipeline/placement.py``);
- ``bvh``: for a BVH source, the import (:class:`~moscale_cli.io.bvh.BvhImport`, with the clip as read) for
  writing back on the source's own rig (``pipeline/source_rig.py``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from moscale_cli.errors import UsageError

if TYPE_CHECKING:
    from moscale_cli.io.bvh import BvhImport
    from moscale_cli.io.files import LoadedMotion

FEATURE_DIM = 263


@dataclass(frozen=True)
class ModelFrame:
    """How ``joints_to_features`` placed a clip: ``model = R_y(-yaw) (retarget(joints) - origin)``, where the
    retarget scales the root path by ``scale`` (template leg / source leg) and puts the bones on the template,
    and ``origin = (x0, floor, z0)`` (frame-0 root on the ground plane, the clip's lowest joint)."""

    scale: float
    floor: float
    origin_xz: tuple[float, float]
    yaw: float  # radians: heading of the source's frame-0 body (0 = facing +Z)

    def root_to_source(self, root_model: np.ndarray) -> np.ndarray:
        """Model-space root positions (..., 3) -> source space (exact inverse for the root)."""
        p = np.asarray(root_model, dtype=np.float64) @ yaw_matrix(self.yaw).T
        p = p + np.array([self.origin_xz[0], self.floor, self.origin_xz[1]])
        return p / self.scale

    def height_to_source(self, y_model: np.ndarray) -> np.ndarray:
        """Model-space root heights -> source space (features store the height absolutely)."""
        return (np.asarray(y_model, dtype=np.float64) + self.floor) / self.scale


@dataclass
class EditSource:
    """A source motion ready for editing (see the module doc)."""

    kind: str  # "features" | "joints" | "bvh"
    features: np.ndarray  # (T, 263) float32, model space
    joints: np.ndarray  # (T, 22, 3) float32 metres, 20 fps: the source's own space (features: recovered)
    frame: ModelFrame | None = None  # None for a features source
    bvh: Any = None  # moscale_cli.io.bvh.BvhImport for a BVH source
    path: Path | None = None
    fps: float = 20.0
    _offsets: np.ndarray | None = field(default=None, repr=False)
    _model_heading: np.ndarray | None = field(default=None, repr=False)

    @property
    def frames(self) -> int:
        return int(self.features.shape[0])

    @property
    def in_source_space(self) -> bool:
        """True for joints and BVH sources: results are returned in the source's space."""
        return self.kind != "features"

    @property
    def name(self) -> str:
        return self.path.name if self.path is not None else f"the {self.kind} source"

    def headings(self) -> np.ndarray:
        """(T,) heading of every frame in the source's space, measured on the model-space joints (recovered
        from ``features``) plus the conversion's yaw: the same measure as on generated joints (a heading
        measured on the source's own joints differs by up to a few degrees, as its hips and shoulders have
        other proportions than the template's)."""
        if self._model_heading is None:
            from moscale_cli.motion.features import recover_from_ric

            yaw = self.frame.yaw if self.frame is not None else 0.0
            self._model_heading = heading(recover_from_ric(self.features, joints_num=22)) + yaw
        return self._model_heading

    def rest_offsets(self) -> np.ndarray:
        """(22, 3) SMPL-22 rest offsets with the source's per-bone median lengths (see
        :func:`~moscale_cli.motion.rig.smpl22_rest_offsets`)."""
        if self._offsets is None:
            from moscale_cli.motion.rig import smpl22_rest_offsets

            self._offsets = smpl22_rest_offsets(self.joints)
        return self._offsets


def yaw_matrix(angle: float | np.ndarray) -> np.ndarray:
    """Rotation(s) about +Y by ``angle`` radians (adds ``angle`` to a heading ``atan2(x, z)``); (..., 3, 3)."""
    a = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def heading(joints: np.ndarray) -> np.ndarray:
    """Heading angle(s) ``atan2(x, z)`` of the body's forward direction (hips and shoulders), (...,)."""
    from moscale_cli.motion.features import body_forward

    f = body_forward(np.asarray(joints, dtype=np.float64))
    return np.arctan2(f[..., 0], f[..., 2])


def pad_joints(joints: np.ndarray) -> np.ndarray:
    """(T + 1, J, 3): the joints and one more frame continuing the last step (so that T joint frames give T
    feature frames)."""
    j = np.asarray(joints, dtype=np.float64)
    return np.concatenate([j, 2.0 * j[-1:] - j[-2:-1]])


def model_frame(padded: np.ndarray) -> ModelFrame:
    """The placement ``joints_to_features`` applies to ``padded`` joints (same formulas, same numbers)."""
    from moscale_cli.motion.features import body_forward, retarget_joints
    from moscale_cli.motion.skeleton import SMPL22

    j = np.asarray(padded, dtype=np.float64)
    a, b = SMPL22.leg_scale_joints
    par = SMPL22.parents
    src_leg = sum(float(np.linalg.norm(j[0, k] - j[0, par[k]])) for k in (a, b))
    scale = float(SMPL22.bone_lengths[a] + SMPL22.bone_lengths[b]) / src_leg
    p = retarget_joints(j)
    floor = float(p[..., 1].min())
    p[..., 1] -= floor
    ox, oz = float(p[0, 0, 0]), float(p[0, 0, 2])
    p[..., 0] -= ox
    p[..., 2] -= oz
    f = body_forward(p[0])
    return ModelFrame(scale, floor, (ox, oz), float(np.arctan2(f[0], f[2])))


def joints_source(joints: Any, kind: str = "joints", path: Path | None = None, bvh: Any = None) -> EditSource:
    """An :class:`EditSource` from SMPL-22 joints (T, 22, 3) in metres at 20 fps, in their own space."""
    from moscale_cli.motion.features import joints_to_features
    from moscale_cli.motion.mapping import check_bones

    where = path.name if path is not None else "the source"
    j = np.asarray(joints)
    if j.ndim != 3 or j.shape[1:] != (22, 3):
        raise UsageError(f"editing needs SMPL-22 joints (T, 22, 3), got shape {j.shape}")
    if j.shape[0] < 2:
        raise UsageError("a source motion needs at least 2 frames of joints")
    if not np.isfinite(j).all():
        raise UsageError("the source motion holds NaN or infinite values")
    j = j.astype(np.float32)
    check_bones(j.astype(np.float64), where)
    padded = pad_joints(j)
    feats = joints_to_features(padded)
    if not np.isfinite(feats).all():
        raise UsageError(f"{where}: the joints give no usable features (legs of zero length?)")
    return EditSource(kind, feats, j, model_frame(padded), bvh, path)


def features_source(feats: Any, skeleton_dim: int = FEATURE_DIM, path: Path | None = None) -> EditSource:
    """An :class:`EditSource` from de-normalised features (T, D), taken bitwise (float32)."""
    from moscale_cli.motion.features import recover_from_ric

    f = np.asarray(feats)
    if f.ndim != 2 or f.shape[1] != skeleton_dim:
        raise UsageError(f"the source has {f.shape[-1]}-dim features; this model uses {skeleton_dim}")
    if not np.isfinite(f).all():
        raise UsageError("the source motion holds NaN or infinite values")
    if f.dtype != np.float32:
        f = f.astype(np.float32)
    joints = np.asarray(recover_from_ric(f, joints_num=22), dtype=np.float32)
    return EditSource("features", f, joints, None, None, path)


SourceLike = Union[str, os.PathLike, np.ndarray, "LoadedMotion", "BvhImport", "EditSource"]
"""What a task accepts as a source motion (see :func:`load_source`)."""


def load_source(
    source: SourceLike,
    skeleton_dim: int = FEATURE_DIM,
    mapping: str | os.PathLike | dict | None = None,
    scale: float | None = None,
) -> EditSource:
    """An :class:`EditSource` from a path (.bvh, .npy joints or features), a ``LoadedMotion``, a
    ``BvhImport``, an array of joints (T, 22, 3) or features (T, D), or an ``EditSource`` (returned as is).
    ``mapping``/``scale``: for BVH files (see :func:`moscale_cli.io.bvh.import_bvh_smpl22`)."""
    from moscale_cli.io.bvh import BvhImport
    from moscale_cli.io.files import LoadedMotion, load_motion

    if isinstance(source, EditSource):
        if source.features.shape[1] != skeleton_dim:
            raise UsageError(f"the source has {source.features.shape[1]}-dim features; this model uses {skeleton_dim}")
        return source
    path = None
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.suffix.lower() == ".bvh":
            from moscale_cli.io.bvh import import_bvh_smpl22

            source = import_bvh_smpl22(path, mapping=mapping, scale=scale)
        else:
            source = load_motion(path)
    if isinstance(source, BvhImport):
        return joints_source(source.joints, "bvh", path, bvh=source)
    if isinstance(source, LoadedMotion):
        if source.features is not None:
            return features_source(source.features, skeleton_dim, path)
        return joints_source(source.joints, "joints", path)
    arr = np.asarray(source)
    if arr.ndim == 2 and arr.shape[1] == skeleton_dim:
        return features_source(arr, skeleton_dim)
    if arr.ndim == 3 and arr.shape[1:] == (22, 3):
        return joints_source(arr)
    raise UsageError(
        f"a source motion must be joints (T, 22, 3) or features (T, {skeleton_dim}), got shape {arr.shape}"
    )


__all__ = [
    "EditSource",
    "ModelFrame",
    "SourceLike",
    "features_source",
    "heading",
    "joints_source",
    "load_source",
    "model_frame",
    "pad_joints",
    "yaw_matrix",
]
