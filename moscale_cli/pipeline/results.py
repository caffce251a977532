"""What the pipeline's tasks return: generated motions, edited motions and the seam measure."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Region = tuple[int, int]
SEAM_LIMIT = 2.0  # a seam passes when its jump is at most this many times the reference 95th percentile


class _FeaturesOfJoints:
    """``GeneratedMotion.features`` set to None: computed from ``joints`` on first read (the post-process
    leaves them so, ``pipeline/postprocess.py``: features of the cleaned joints, computed only when read)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    def __get__(self, obj: Any, objtype: type | None = None) -> np.ndarray:
        if obj is None:
            raise AttributeError("features")  # a required field (no class-level default)
        value = obj.__dict__.get(self.slot)
        if value is None:
            from moscale_cli.pipeline.postprocess import features_of

            value = features_of(obj.joints)
            obj.__dict__[self.slot] = value
        return value

    def __set__(self, obj: Any, value: np.ndarray | None) -> None:
        obj.__dict__[self.slot] = value


@dataclass
class GeneratedMotion:
    """One generated motion: joints (T,22,3) in metres, de-normalised features (T,D), its caption and length.

    ``features`` given as None are computed from the joints when first read (post-processed motions)."""

    caption: str
    joints: np.ndarray
    features: np.ndarray = _FeaturesOfJoints()  # type: ignore[assignment]
    frames: int
    fps: float = 20.0
    sample_index: int = 0
    prompt_index: int = 0
    targets: np.ndarray | None = field(default=None, repr=False)  # (T, 22, 3) spatial constraints, NaN = free

    @property
    def seconds(self) -> float:
        return self.frames / self.fps

    def target_errors(self) -> np.ndarray:
        """Distances (m) of the constrained joints to their targets, one per constrained joint-frame, over the
        given coordinates (empty without constraints)."""
        if self.targets is None:
            return np.zeros(0)
        t = np.asarray(self.targets, dtype=np.float64)[: self.frames]
        j = np.asarray(self.joints, dtype=np.float64)[: t.shape[0]]
        d = np.where(np.isnan(t), 0.0, j - np.nan_to_num(t))
        return np.sqrt((d**2).sum(-1))[np.isfinite(t).any(-1)]


@dataclass
class SeamReport:
    """Boundary jumps (largest per-frame joint displacement near each boundary, metres) and the reference
    motion's 95th-percentile per-frame displacement."""

    boundaries: list[int]
    jumps: list[float]
    p95: float

    @property
    def jump(self) -> float:
        return max(self.jumps, default=0.0)

    @property
    def ratio(self) -> float:
        return self.jump / self.p95 if self.p95 > 0 else (0.0 if self.jump == 0 else math.inf)

    def ok(self, limit: float = SEAM_LIMIT) -> bool:
        return self.ratio <= limit

    def to_dict(self) -> dict[str, Any]:
        return {
            "boundaries": self.boundaries, "jumps_m": [round(j, 6) for j in self.jumps],
            "max_jump_m": round(self.jump, 6), "p95_step_m": round(self.p95, 6), "ratio": round(self.ratio, 4),
        }


def frame_steps(joints: np.ndarray) -> np.ndarray:
    """(T-1,) largest joint displacement between consecutive frames."""
    j = np.asarray(joints, dtype=np.float64)
    if j.shape[0] < 2:
        return np.zeros(0)
    return np.linalg.norm(j[1:] - j[:-1], axis=-1).max(axis=-1)


def seam_report(
    joints: np.ndarray, boundaries: Sequence[int], reference: Any = None, radius: int = 0
) -> SeamReport:
    """Jump at each boundary t = largest per-frame joint displacement over the steps t-radius..t+radius
    (step t goes from frame t-1 to t), against the 95th percentile of the per-frame displacement of
    ``reference`` (joints, or a list of joint arrays pooled; default: the motion itself).
    Joints (T, J, 3) as from ``recover_from_ric``."""
    steps = frame_steps(joints)
    if reference is None:
        ref = steps
    elif isinstance(reference, (list, tuple)):
        ref = np.concatenate([frame_steps(r) for r in reference]) if reference else steps
    else:
        ref = frame_steps(reference)
    p95 = float(np.percentile(ref, 95)) if ref.size else 0.0
    jumps = []
    for t in boundaries:
        lo, hi = max(1, t - radius), min(len(steps), t + radius)
        jumps.append(float(steps[lo - 1 : hi].max()) if hi >= lo else 0.0)
    return SeamReport([int(b) for b in boundaries], jumps, p95)


@dataclass
class EditedMotion(GeneratedMotion):
    """A generated motion with what was regenerated: ``regions`` (frames of the output), ``boundaries``
    (frames where kept and generated motion meet) and the seam measure.

    ``space``: "model" when the source was features (``joints`` recovered from ``features``, as the model
    places them) or for composed motions; "source" when it was joints or a BVH clip: ``joints`` are then in
    the source's own space (its frames outside the regions exactly, the generated ones brought into its
    placement, facing and bone lengths) while ``features`` stay the model-space features the model worked
    on. ``source`` is the (reference) source (``pipeline.sources.EditSource``) and ``source_frames`` (T,)
    the source frame each output frame stands for (kept, or regenerated in place), -1 for new frames."""

    regions: list[Region] = field(default_factory=list)
    boundaries: list[int] = field(default_factory=list)
    seams: SeamReport | None = None
    source_offset: int = 0
    space: str = "model"
    source: Any = field(default=None, repr=False)
    source_frames: np.ndarray | None = field(default=None, repr=False)
    skeleton: str = "model"

    @property
    def known(self) -> np.ndarray:
        """(T,) True on the frames kept from the source(s)."""
        k = np.ones(self.frames, dtype=bool)
        for s, e in self.regions:
            k[s:e] = False
        return k


__all__ = ["EditedMotion", "GeneratedMotion", "SEAM_LIMIT", "SeamReport", "frame_steps", "seam_report"]
