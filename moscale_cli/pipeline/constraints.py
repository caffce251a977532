"""Spatial constraints of the generation tasks: the JSON file, the CLI shorthands, their checks (torch-free).

A constraints file (``--constraints FILE.json``)::

    {"constraints": [
      {"joint": "pelvis", "frames": [0, 50, 100], "positions": [[0, null, 0], [0.5, null, 1.5], [2.0, null, 2.0]]},
      {"joint": "right_wrist", "frames": [30], "positions": [[-0.3, 1.6, 0.35]]},
      {"pose": 80, "joints": [[x, y, z], ... 22 rows, in the order of SMPL22_NAMES]}
    ]}

Metres, Y up, frames at 20 fps (0 = the first frame of the output), positions in the frame of the output motion
(its NPY joints: for ``generate`` and ``compose`` the first frame's pelvis above the origin, facing +Z, +X the
character's left). ``null`` leaves a coordinate free (``[x, null, z]`` is a ground-plane waypoint); a ``pose``
entry constrains every joint at its frame (a ``null`` row leaves that joint free). The joint names are the 22
SMPL names of :data:`~moscale_cli.motion.skeleton.SMPL22_NAMES`. The shorthands ``--path "0,0 0,2 1.5,3"``
(pelvis ground-plane points spread evenly over the clip, the first at frame 0, the last at the last frame)
and ``--waypoint FRAME:X,Z`` (or ``FRAME:X,Y,Z``) add pelvis targets.

:meth:`Constraints.resolve` turns them into one array (frames, 22, 3) with NaN where free, once the motion's
length is known; every error is one line that names the entry.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from moscale_cli.errors import UsageError
from moscale_cli.motion.skeleton import SMPL22_NAMES

JOINT_INDEX = {n: i for i, n in enumerate(SMPL22_NAMES)}
N_JOINTS = len(SMPL22_NAMES)
ORIGIN_TOLERANCE = 1e-3  # m: a frame-0 pelvis target this close to the origin is the origin
Position = tuple[float | None, float | None, float | None]
Pins = dict[int, tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class JointTarget:
    """One joint at one frame; ``None`` coordinates are free; ``where`` names the entry in messages."""

    joint: int
    frame: int
    position: Position
    where: str


@dataclass(frozen=True)
class PathTarget:
    """Pelvis ground-plane points ``(x, z)`` spread evenly over the clip (``--path``)."""

    points: tuple[tuple[float, float], ...]
    where: str


@dataclass
class Constraints:
    """Joint targets of one task (see the module doc). Combine several with ``+``."""

    targets: tuple[JointTarget, ...] = ()
    paths: tuple[PathTarget, ...] = ()
    source: str = "constraints"

    def __bool__(self) -> bool:
        return bool(self.targets or self.paths)

    def __add__(self, other: Constraints) -> Constraints:
        src = self.source if self else other.source
        return Constraints(self.targets + other.targets, self.paths + other.paths, src)

    @property
    def last_frame(self) -> int:
        """The last frame a target names (-1 when none does; a ``--path`` fits any length)."""
        return max((t.frame for t in self.targets), default=-1)

    @property
    def joints(self) -> list[str]:
        """Names of the constrained joints, in skeleton order."""
        ids = {t.joint for t in self.targets} | ({0} if self.paths else set())
        return [SMPL22_NAMES[i] for i in sorted(ids)]

    # ------------------------------------------------------------------ reading
    @classmethod
    def load(cls, path: str | os.PathLike) -> Constraints:
        """Read a constraints file (module doc)."""
        p = Path(path)
        if not p.is_file():
            raise UsageError(f"constraints file {p} not found")
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"{p}: cannot read the constraints file ({e})") from None
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise UsageError(f"{p}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
        return cls.from_json(obj, source=p.name)

    @classmethod
    def from_json(cls, obj: object, source: str = "constraints") -> Constraints:
        """Constraints from the parsed JSON of a file (an object with a ``"constraints"`` list, or the list)."""
        if isinstance(obj, Mapping):
            extra = sorted(set(obj) - {"constraints"})
            if extra:
                raise UsageError(f"{source}: unknown key {extra[0]!r} (the file holds one key, \"constraints\")")
            if "constraints" not in obj:
                raise UsageError(f"{source}: no \"constraints\" list")
            obj = obj["constraints"]
        if not isinstance(obj, list):
            raise UsageError(f"{source}: \"constraints\" must be a list of entries")
        if not obj:
            raise UsageError(f"{source}: the constraints list is empty")
        targets: list[JointTarget] = []
        for i, entry in enumerate(obj, 1):
            targets += _entry(entry, f"{source}: entry {i}")
        return cls(tuple(targets), (), source)

    @classmethod
    def from_path(cls, text: str) -> Constraints:
        """``--path "x,z x,z ..."``: at least two pelvis ground-plane points spread over the clip."""
        where = f"--path {text!r}"
        parts = [p for p in re.split(r"[\s;]+", str(text).strip()) if p]
        if len(parts) < 2:
            raise UsageError(f"{where}: give at least two points x,z separated by spaces (e.g. \"0,0 0,2 1.5,3\")")
        pts = []
        for j, p in enumerate(parts, 1):
            xs = _floats(p, where, f"point {j}")
            if len(xs) != 2:
                raise UsageError(f"{where}: point {j} {p!r} is not x,z")
            pts.append((xs[0], xs[1]))
        return cls((), (PathTarget(tuple(pts), where),), "--path")

    @classmethod
    def from_waypoint(cls, text: str) -> Constraints:
        """``--waypoint FRAME:X,Z`` (pelvis on the ground plane) or ``FRAME:X,Y,Z``."""
        where = f"--waypoint {text!r}"
        frame_s, sep, rest = str(text).strip().partition(":")
        if not sep:
            raise UsageError(f"{where}: write FRAME:X,Z (e.g. 60:0,2) or FRAME:X,Y,Z")
        frame = _frame_of(frame_s.strip(), where)
        xs = _floats(rest, where, "the position")
        if len(xs) == 2:
            pos: Position = (xs[0], None, xs[1])
        elif len(xs) == 3:
            pos = (xs[0], xs[1], xs[2])
        else:
            raise UsageError(f"{where}: the position must be X,Z or X,Y,Z")
        return cls((JointTarget(0, frame, pos, where),), (), "--waypoint")

    @classmethod
    def from_cli(cls, file: str | os.PathLike | None = None, path: str | None = None,
                 waypoints: Iterable[str] = ()) -> Constraints:
        """The constraints of a command's ``--constraints``, ``--path`` and ``--waypoint`` options (empty if none)."""
        out = cls.load(file) if file is not None else cls()
        if path:
            out = out + cls.from_path(path)
        for w in waypoints or ():
            out = out + cls.from_waypoint(w)
        return out

    # ------------------------------------------------------------------ resolving
    def resolve(self, frames: int, origin: bool = False, what: str = "the motion",
                kept: np.ndarray | None = None, kept_why: str = "") -> np.ndarray:
        """Targets (frames, 22, 3) float64, NaN where free, for a motion of ``frames`` frames.

        Raises :class:`UsageError` for a frame outside the motion or on a ``kept`` frame (T,) bool (the frames
        an edit keeps; ``kept_why`` says which they are), a coordinate constrained twice with different
        values, or (``origin``: the output's frame puts the first frame's pelvis above the origin) a frame-0
        pelvis target off the origin."""
        frames = int(frames)
        out = np.full((frames, N_JOINTS, 3), np.nan)
        by: dict[tuple[int, int, int], str] = {}
        for t in self._all_targets(frames, what):
            if not 0 <= t.frame < frames:
                raise UsageError(f"{t.where}: frame {t.frame} is outside {what} (frames 0..{frames - 1})")
            if kept is not None and kept[t.frame]:
                raise UsageError(f"{t.where}: frame {t.frame} is kept from the source{kept_why}; constraints must "
                                 "lie in the frames that are generated")
            for c, v in enumerate(t.position):
                if v is None:
                    continue
                key = (t.frame, t.joint, c)
                old = out[t.frame, t.joint, c]
                if key in by and old != v:
                    raise UsageError(
                        f"{t.where}: {SMPL22_NAMES[t.joint]} at frame {t.frame} is already constrained by {by[key]} "
                        f"({'xyz'[c]} = {old:g}, not {v:g})"
                    )
                out[t.frame, t.joint, c] = v
                by.setdefault(key, t.where)
        if origin:
            for c in (0, 2):
                v = out[0, 0, c] if frames else np.nan
                if np.isfinite(v) and abs(v) > ORIGIN_TOLERANCE:
                    raise UsageError(
                        f"{by[(0, 0, c)]}: the pelvis at frame 0 is asked to be at {'xyz'[c]} = {v:g}, but the motion "
                        "starts with its pelvis above the origin (x = z = 0); start the path at 0,0"
                    )
        return out

    def _all_targets(self, frames: int, what: str) -> list[JointTarget]:
        out = list(self.targets)
        for p in self.paths:
            n = len(p.points)
            if frames < n:
                raise UsageError(f"{p.where}: {n} points do not fit {what} of {frames} frames")
            for i, (x, z) in enumerate(p.points):
                f = int(round(i * (frames - 1) / (n - 1)))
                out.append(JointTarget(0, f, (x, None, z), f"{p.where} (point {i + 1})"))
        return out


# ---------------------------------------------------------------- helpers


def pins_of(targets_TJ3: np.ndarray, offset: int = 0) -> Pins:
    """``{joint: (frames, positions (n, 3) with NaN free)}`` of resolved targets (the post-process's pins),
    frames shifted by ``offset``."""
    a = np.asarray(targets_TJ3, dtype=np.float64)
    out: Pins = {}
    for j in range(a.shape[1]):
        fr = np.flatnonzero(np.isfinite(a[:, j]).any(-1))
        if fr.size:
            out[j] = (fr.astype(np.int64) + int(offset), a[fr, j].copy())
    return out


def constrained_frames(targets_TJ3: np.ndarray) -> np.ndarray:
    """(T,) bool: frames with at least one target."""
    return np.isfinite(np.asarray(targets_TJ3)).any(axis=(1, 2))


def joint_index(name: object, where: str) -> int:
    """The SMPL-22 index of a joint name (case, spaces and dashes forgiven)."""
    if not isinstance(name, str):
        raise UsageError(f"{where}: \"joint\" must be a joint name such as \"pelvis\" or \"right_wrist\"")
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    if key in JOINT_INDEX:
        return JOINT_INDEX[key]
    alias = {"root": "pelvis", "hips": "pelvis", "hip": "pelvis", "chest": "spine3", "hand": "wrist", "toe": "foot",
             "toes": "foot", "heel": "ankle", "arm": "shoulder", "forearm": "elbow", "leg": "knee", "clavicle": "collar"}
    side, _, part = key.rpartition("_")
    guess = (f"{side}_" if side else "") + alias.get(part, part)
    close = [guess] if guess in JOINT_INDEX else difflib.get_close_matches(key, SMPL22_NAMES, n=1)
    hint = f"did you mean {close[0]}?" if close else f"the joints are {', '.join(SMPL22_NAMES)}"
    raise UsageError(f"{where}: unknown joint {name!r} ({hint})")


def _entry(entry: object, where: str) -> list[JointTarget]:
    if not isinstance(entry, Mapping):
        raise UsageError(f"{where}: an entry must be an object with \"joint\", \"frames\" and \"positions\" (or \"pose\" and \"joints\")")
    has_joint, has_pose = "joint" in entry, "pose" in entry
    if has_joint == has_pose:
        raise UsageError(f"{where}: an entry needs either \"joint\" (with \"frames\" and \"positions\") or \"pose\" (with \"joints\")")
    if has_joint:
        j = joint_index(entry["joint"], where)
        where = f"{where} ({SMPL22_NAMES[j]})"
        _keys(entry, ("joint", "frames", "positions"), where)
        frames = entry["frames"]
        if not isinstance(frames, list) or not frames:
            raise UsageError(f"{where}: \"frames\" must be a non-empty list of frame numbers")
        fr = [_frame_of(f, where) for f in frames]
        dup = sorted({f for f in fr if fr.count(f) > 1})
        if dup:
            raise UsageError(f"{where}: frame {dup[0]} is listed twice")
        rows = entry["positions"]
        if not isinstance(rows, list):
            raise UsageError(f"{where}: \"positions\" must be a list of [x, y, z] rows")
        if len(rows) != len(fr):
            raise UsageError(f"{where}: {len(fr)} frame(s) but {len(rows)} position row(s)")
        out = []
        for f, row in zip(fr, rows, strict=True):
            pos = _row(row, f"{where}: the position at frame {f}")
            if all(v is None for v in pos):
                raise UsageError(f"{where}: the position at frame {f} leaves x, y and z free")
            out.append(JointTarget(j, f, pos, where))
        return out
    f = _frame_of(entry["pose"], where)
    where = f"{where} (pose at frame {f})"
    _keys(entry, ("pose", "joints"), where)
    rows = entry["joints"]
    if not isinstance(rows, list) or len(rows) != N_JOINTS:
        n = len(rows) if isinstance(rows, list) else "no"
        raise UsageError(f"{where}: \"joints\" has {n} rows, expected {N_JOINTS} (one [x, y, z] per joint, "
                         f"in the order {', '.join(SMPL22_NAMES[:3])}, ..., {SMPL22_NAMES[-1]})")
    out = []
    for j, row in enumerate(rows):
        pos = _row(row, f"{where}: row {j + 1} ({SMPL22_NAMES[j]})")
        if any(v is not None for v in pos):
            out.append(JointTarget(j, f, pos, where))
    if not out:
        raise UsageError(f"{where}: every joint is left free")
    return out


def _keys(entry: Mapping, allowed: Sequence[str], where: str) -> None:
    for k in entry:
        if k not in allowed:
            raise UsageError(f"{where}: unknown key {k!r} (expected {', '.join(allowed)})")
    for k in allowed:
        if k not in entry:
            raise UsageError(f"{where}: missing \"{k}\"")


def _frame_of(v: object, where: str) -> int:
    if isinstance(v, str):
        try:
            v = int(v)
        except ValueError:
            raise UsageError(f"{where}: frame {v!r} is not a whole number") from None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v != int(v):
        raise UsageError(f"{where}: frame {v!r} is not a whole number")
    if v < 0:
        raise UsageError(f"{where}: frame {int(v)} is negative")
    return int(v)


def _row(row: object, where: str) -> Position:
    if not isinstance(row, list) or len(row) != 3:
        n = f"{len(row)} values" if isinstance(row, list) else repr(row)
        raise UsageError(f"{where} is {n}; expected [x, y, z] (null = free)")
    out = []
    for c, v in zip("xyz", row, strict=True):
        if v is None:
            out.append(None)
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise UsageError(f"{where}: {c} = {v!r} is not a number (or null)")
        if not math.isfinite(v):
            raise UsageError(f"{where}: {c} = {v} is not a finite number")
        out.append(float(v))
    return (out[0], out[1], out[2])


def _floats(text: str, where: str, what: str) -> list[float]:
    out = []
    for s in str(text).split(","):
        try:
            v = float(s.strip())
        except ValueError:
            raise UsageError(f"{where}: {what} {text!r} holds {s.strip()!r}, not a number") from None
        if not math.isfinite(v):
            raise UsageError(f"{where}: {what} {text!r} is not finite")
        out.append(v)
    return out


__all__ = ["Constraints", "JointTarget", "PathTarget", "constrained_frames", "joint_index", "pins_of"]
