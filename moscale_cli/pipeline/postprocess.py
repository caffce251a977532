"""The post-process applied to every motion the pipeline returns (rigid bones, clean foot contacts).

One place for every task (``MoScalePipeline.generate/edit/extend/inbetween/compose``, ``postprocess=True``
by default), so that every format written from the result (NPY joints, BVH, MP4, ...) shows the same
cleaned joints. The algorithm is :func:`moscale_cli.motion.postprocess.postprocess`.

- ``GeneratedMotion`` (generate) and composed motions (compose: every frame is generated): the whole
  motion is cleaned and the features are recomputed from the cleaned joints when first read
  (``joints_to_features`` without retargeting or new placement, one feature frame per joint frame), so that
  ``recover_from_ric(features)`` gives back the written joints.
- ``EditedMotion`` of ``edit``/``extend``/``inbetween``: only the regenerated frames change; the frames kept
  from the source(s) stay bitwise as they were (``postprocess(keep=...)``); the skeleton imposed is the
  source's own (its per-bone median lengths) for joints and BVH sources. The features stay the
  model-space features the model produced (the kept frames' features are the source's, bitwise, and
  features recomputed from joints could not keep them so); write joints (or BVH) for the cleaned motion.
- ``pins``: joints that must stay on given targets (a constraint step passes them; see the module above).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from moscale_cli.motion.postprocess import Pins, PostprocessConfig, postprocess
from moscale_cli.pipeline.results import EditedMotion, GeneratedMotion, SeamReport, seam_report


def features_of(joints: np.ndarray) -> np.ndarray:
    """263-dim features (T, 263) of SMPL-22 joints (T, 22, 3) in the model's space, already on a rigid
    skeleton: one feature frame per joint frame (the joints padded by one frame continuing the last step), no
    retargeting and no new placement, so that ``recover_from_ric`` gives the joints back."""
    from moscale_cli.motion.features import joints_to_features
    from moscale_cli.pipeline.sources import pad_joints

    return joints_to_features(pad_joints(joints), retarget=False, canonical=False)


def _reseam(old: SeamReport | None, joints: np.ndarray) -> SeamReport | None:
    """The seam measure of the cleaned joints against the same reference step."""
    if old is None:
        return None
    new = seam_report(joints, old.boundaries)
    return SeamReport(list(old.boundaries), new.jumps, old.p95)


def postprocess_motion(
    motion: GeneratedMotion, config: PostprocessConfig | None = None, pins: Pins | None = None
) -> GeneratedMotion:
    """A copy of ``motion`` (a ``GeneratedMotion`` or ``EditedMotion``) with cleaned joints (module doc); a
    motion on another skeleton than SMPL-22 (KIT-21) or shorter than 2 frames is returned as it is."""
    if np.shape(motion.joints)[1:] != (22, 3) or len(motion.joints) < 2:
        return motion
    if isinstance(motion, EditedMotion):
        keep = motion.known
        offsets = None
        if motion.space == "source" and motion.source is not None:
            offsets = motion.source.rest_offsets()
        res = postprocess(motion.joints, motion.fps, config, offsets=offsets, pins=pins, keep=keep)
        joints = res.joints.astype(np.float32)
        joints[keep] = motion.joints[keep]  # bitwise (float32 -> float64 -> float32 is exact anyway)
        feats = motion.features if keep.any() else None  # None: computed from the joints when read
        return dataclasses.replace(motion, joints=joints, features=feats, seams=_reseam(motion.seams, joints))
    res = postprocess(motion.joints, motion.fps, config, pins=pins)
    return dataclasses.replace(motion, joints=res.joints.astype(np.float32), features=None)


__all__ = ["features_of", "postprocess_motion"]
