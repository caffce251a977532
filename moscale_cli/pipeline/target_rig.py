"""Motion written on a user's rig (``--rig FILE.bvh`` of ``generate``, ``compose``, ``inbetween`` and ``edit``).

The rig file gives the hierarchy (joint names, offsets, channel order), the rest pose (every rotation 0),
the units and the frame rate (its ``Frame Time``); its motion, if any, is not used. Its joints map to the
22 SMPL joints by ``--rig-mapping`` or by their names (``motion.mapping``; a leg without a toe joint gets a
virtual toe on the foot's forward axis). Writing a motion (SMPL-22 joints in metres at its frame rate)
on it:

1. the motion is sampled at the rig's frame rate (rigidly: rotations interpolated along the shortest
   arc, ``pipeline.source_rig.sample_joints``), frames at ``k / rig_fps`` up to the motion's end;
2. it is fitted to the rig's body (``motion.retarget.fit_motion``: the rig's facing, up axis, floor and
   bone lengths; the root path and heights scaled by the leg-length ratio; ankles, toes and wrists put
   back where the scaled motion has them by IK, so planted feet stay planted);
3. the rig's channels are solved for the fitted joints (``motion.rig.solve_channels`` from the rest pose):
   every joint that maps to the body gets its rotation, the pelvis its position through the position
   channels of it or its nearest ancestor that has them; every other joint (fingers, twist bones, props)
   holds its rest pose. A rig whose joints cannot follow SMPL's one by one (a spine or collar mapped to the
   mean of joints) lands near the fitted joints; its limbs are then placed again by IK from where the rig
   put the body and solved once more, so its feet and hands still land where the fitted motion has them;
4. the result is mapped back (FK, the mapping) and compared with the fitted joints: the MPJPE, in metres
   (0 up to rounding for a rig with every SMPL joint mapped one-to-one).

The files: ``.bvh`` on the rig's hierarchy (``io.bvh.write_rig``), ``.glb``/``.gltf`` with the rig's joints
(``io.gltf.write_gltf_rig``: metres, Y up); other formats take the 22-joint motion as it is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from moscale_cli.errors import MotionFileError, UsageError

if TYPE_CHECKING:
    from moscale_cli.io.bvh import BvhClip
    from moscale_cli.motion.mapping import Mapping
    from moscale_cli.motion.retarget import RigBody

RIG_EXTENSIONS = (".bvh", ".glb", ".gltf")  # outputs written on the rig


@dataclass
class TargetRig:
    """A rig file ready to take motions."""

    clip: BvhClip
    mapping: Mapping
    kind: str  # how the mapping was found: "user", "detected", or a built-in's name
    scale: float  # rig units -> metres
    body: RigBody

    @property
    def fps(self) -> float:
        return self.clip.fps

    @property
    def name(self) -> str:
        return self.clip.where


@dataclass
class RigMotion:
    """A motion on a target rig: channel values at the rig's frame rate and how well they follow."""

    rig: TargetRig
    values: np.ndarray  # (N, C) channel values, the rig's units
    times: np.ndarray  # (N,) seconds
    target: np.ndarray  # (N, 22, 3) the fitted SMPL-22 joints (rig world and units)
    back: np.ndarray  # (N, 22, 3) the SMPL-22 joints of the solved rig (rig world and units)
    leg_ratio: float  # rig units per metre of the motion

    @property
    def frames(self) -> int:
        return int(self.values.shape[0])

    @property
    def mpjpe(self) -> float:
        """Mean joint error of the mapped-back result against the fitted motion, metres."""
        from moscale_cli.motion.retarget import mpjpe

        return mpjpe(self.back, self.target) * self.rig.scale

    @property
    def max_error(self) -> float:
        """Largest joint error, metres."""
        return float(np.linalg.norm(self.back - self.target, axis=-1).max()) * self.rig.scale


def load_target_rig(path: str | os.PathLike, mapping: str | os.PathLike | dict | None = None) -> TargetRig:
    """Read a rig file (.bvh) and find its body (mapping, units, axes); one-line errors for a rig that
    does not map or cannot be solved (no position channels above the pelvis, ...)."""
    from moscale_cli.io.bvh import read_bvh, resolve_mapping
    from moscale_cli.motion.mapping import check_bones, detect_scale
    from moscale_cli.motion.retarget import rig_body
    from moscale_cli.motion.rig import body_axes, rest_values, rig_smpl22, solve_channels

    p = Path(path)
    if p.suffix.lower() != ".bvh":
        raise UsageError(f"--rig {p}: give a .bvh file (its hierarchy, rest pose, units and frame rate are used)")
    clip = read_bvh(p)
    kind, mp = resolve_mapping(clip, mapping)
    rest = rest_values(clip.rig)
    pos, rot = clip.rig.forward(rest)
    rest22 = rig_smpl22(clip.rig, pos, mp, clip.where, rotations=rot)
    check_bones(rest22, clip.where)
    up, fwd = body_axes(clip.rig, mp, pos[0])
    body = rig_body(rest22[0], up, fwd)
    try:
        solve_channels(clip.rig, rest, mp, rest22, [0])  # can it be solved at all (pelvis, position channels)?
    except MotionFileError as e:
        raise MotionFileError(f"{clip.where}: {e}") from None
    return TargetRig(clip, mp, kind, detect_scale(rest22), body)


def motion_on_rig(joints: np.ndarray, fps: float, rig: TargetRig) -> RigMotion:
    """A motion (SMPL-22 joints (T, 22, 3), metres, Y up, at ``fps``) on ``rig`` (see the module doc)."""
    from moscale_cli.motion.kinematics import impose_bones
    from moscale_cli.motion.retarget import place_limbs, scale_motion
    from moscale_cli.motion.rig import rest_values, rig_smpl22, smpl22_rest_offsets, solve_channels
    from moscale_cli.motion.skeleton import SMPL22
    from moscale_cli.pipeline.source_rig import sample_joints

    j = np.asarray(joints, dtype=np.float64)
    if j.ndim != 3 or j.shape[1:] != (22, 3) or j.shape[0] < 1:
        raise MotionFileError(f"a motion for a rig must be SMPL-22 joints (T, 22, 3), got {j.shape}")
    if not np.isfinite(j).all():
        raise MotionFileError("the motion holds NaN or infinite values")
    n = int(np.ceil((j.shape[0] - 1) / fps * rig.fps - 1e-6)) + 1  # the last frame at or after the motion's end
    times = np.arange(n) / rig.fps
    sampled = sample_joints(j, times * fps, smpl22_rest_offsets(j)) if j.shape[0] > 1 else np.repeat(j, n, 0)
    body, r = rig.body, rig.clip.rig
    scaled, ratio = scale_motion(sampled, body)
    target = body.to_world(place_limbs(impose_bones(SMPL22.parents, scaled, body.offsets), scaled, body))
    every = np.ones(n, dtype=bool)

    def solve(joints_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        values = solve_channels(r, rest_values(r, n), rig.mapping, joints_world, every)
        pos, rot = r.forward(values)
        return values, rig_smpl22(r, pos, rig.mapping, rig.name, rotations=rot)

    values, back = solve(target)
    if np.abs(back - target).max() > 1e-6 * body.leg:
        # joints the rig cannot follow on their own (spine or collar joints mapped to the mean of joints):
        # the limbs are placed again from where the rig put the body, and solved once more
        values, back = solve(body.to_world(place_limbs(body.to_canonical(back), scaled, body)))
    return RigMotion(rig, values, times, target, back, ratio)


def write_on_rig(path: str | os.PathLike, motion: RigMotion, name: str = "") -> None:
    """Write a motion on its rig: ``.bvh`` (the rig's hierarchy, units and frame time) or ``.glb``/``.gltf``
    (the rig's joints in metres, Y up), atomically."""
    path = Path(path)
    ext = path.suffix.lower()
    rig = motion.rig
    if ext == ".bvh":
        from moscale_cli.io.bvh import write_rig

        write_rig(path, rig.clip.rig, motion.values, rig.clip.frame_time)
    elif ext in (".glb", ".gltf"):
        from moscale_cli.io.gltf import write_gltf_rig

        write_gltf_rig(path, rig.clip.rig, motion.values, rig.fps, rig.scale, rig.body.basis, name)
    else:
        raise MotionFileError(f"cannot write {path.name} on a rig: use {', '.join(RIG_EXTENSIONS)}")


__all__ = ["RIG_EXTENSIONS", "RigMotion", "TargetRig", "load_target_rig", "motion_on_rig", "write_on_rig"]
