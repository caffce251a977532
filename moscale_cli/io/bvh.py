"""BVH files: the file format (a strict reader, a writer) and the file-level entry points.

Reading keeps everything needed to write the file back (hierarchy, channel lists, End Sites, frame
time, channel values and the raw text of every frame line) and runs forward kinematics. Writing is
atomic. The kinematics and retargeting live in ``moscale_cli.motion`` (``rig``, ``mapping``,
``kinematics``); this module only connects them to files:

- :func:`read_bvh` -> :class:`BvhClip`; :func:`source_smpl22`: the clip's SMPL-22 joints in its own
  units, world space and frame rate, with the scale to metres;
- :func:`bvh_to_smpl22` / :func:`import_bvh_smpl22`: SMPL-22 joints in metres at 20 fps on the floor
  (dataset import, conversions), with the transform applied;
- :func:`write_bvh`: SMPL-22 joints as a 22-joint BVH with the motion's own bone lengths;
- :func:`solve_rig_channels` and :func:`write_bvh_like`: new motion written onto a source BVH's own
  hierarchy (names, offsets, channel order, extra joints, frame time, units).

Units on import: detected from the skeleton's height (see ``motion.mapping.detect_scale``); pass
``scale`` to override (file units -> metres).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from moscale_cli.errors import MoScaleWarning, MotionFileError
from moscale_cli.motion.kinematics import resample
from moscale_cli.motion.mapping import (
    BANDAI_MAPPING,
    BUILTIN_MAPPINGS,
    MOSCALE_MAPPING,
    SMPL22_BVH_NAMES,
    Mapping,
    MappingValue,
    check_bones,
    check_mapping,
    detect_mapping,
    detect_scale,
)
from moscale_cli.motion.rig import POS_CHANNELS, ROT_CHANNELS, Rig, rig_smpl22, smpl22_rig, solve_channels
from moscale_cli.motion.skeleton import SMPL22
from moscale_cli.utils.atomic import write_bytes_atomic


class BvhTimingWarning(MoScaleWarning):
    """A BVH ``Frame Time`` that is possible but implausible (a rate outside 1-1,000 fps, over an hour long)."""


MAX_PLAUSIBLE_SECONDS = 3600.0
PLAUSIBLE_FPS = (1.0, 1000.0)


def check_frame_time(frame_time: float, frames: int, where: str) -> str | None:
    """Plausibility of a BVH ``Frame Time`` (seconds per frame): a :class:`MotionFileError` with a hint when
    it looks like milliseconds (more than 1 s per frame and, read as milliseconds, 10-1,000 fps: ``33.3333``
    is 30 fps written in ms), else a warning text (None when plausible) for a rate outside 1-1,000 fps or a
    clip longer than an hour."""
    fps = 1.0 / frame_time
    if 1.0 < frame_time <= 100.0:
        raise MotionFileError(
            f"{where}: Frame Time {frame_time:g} s ({fps:.3g} fps, {frames} frames = "
            f"{frames * frame_time / 3600:.1f} h) looks like milliseconds; the file should say "
            f"'Frame Time: {frame_time / 1000:.7g}' ({1000 / frame_time:.4g} fps): fix the header"
        )
    notes = []
    if not PLAUSIBLE_FPS[0] <= fps <= PLAUSIBLE_FPS[1]:
        notes.append(f"a frame rate of {fps:.6g} fps (Frame Time {frame_time:.6g} s) is outside 1-1,000 fps")
    seconds = frames * frame_time
    if seconds > MAX_PLAUSIBLE_SECONDS:
        notes.append(f"the clip lasts {seconds / 3600:.1f} h ({frames} frames x {frame_time:g} s)")
    return f"{where}: {'; '.join(notes)}; check its Frame Time" if notes else None


@dataclass
class BvhClip:
    """A BVH file: its rig, channel values and text (file units), with forward kinematics."""

    rig: Rig
    frame_time: float
    values: np.ndarray  # (T, C) channel values in file order
    motion_lines: list[str]  # the raw text of every frame line (without the line break)
    header: str  # the file's text before the first frame line (hierarchy, MOTION, Frames:, Frame Time:)
    tail: str  # the file's text after the last frame line (its line break, blank lines)
    newline: str  # "\n" or "\r\n", as in the file
    positions: np.ndarray  # (T, J, 3) global joint positions
    rotations: np.ndarray  # (T, J, 3, 3) global joint rotations
    path: Path | None = None

    @property
    def names(self) -> list[str]:
        return self.rig.names

    @property
    def parents(self) -> list[int]:
        return self.rig.parents

    @property
    def offsets(self) -> np.ndarray:
        return self.rig.offsets

    @property
    def channels(self) -> list[list[str]]:
        return self.rig.channels

    @property
    def end_sites(self) -> dict[int, np.ndarray]:
        return self.rig.end_sites

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    @property
    def num_frames(self) -> int:
        return int(self.values.shape[0])

    def index(self, name: str) -> int:
        return self.rig.index(name)

    @property
    def where(self) -> str:
        return self.path.name if self.path is not None else "the BVH clip"


# ----------------------------------------------------------------------------------------- reading
def _parse_hierarchy(path: Path, lines: list[str]) -> tuple[Rig, int]:
    """(rig, index of the MOTION line in ``lines``)."""
    toks: list[tuple[str, int]] = []
    motion_line = None
    for ln, line in enumerate(lines):
        parts = line.split()
        if parts and parts[0] == "MOTION":
            motion_line = ln
            break
        toks.extend((p, ln + 1) for p in parts)
    if not toks or toks[0][0] != "HIERARCHY":
        raise MotionFileError(f"{path}: not a BVH file (it does not start with HIERARCHY)")
    if motion_line is None:
        raise MotionFileError(f"{path}: truncated BVH: no MOTION section")
    names: list[str] = []
    parents: list[int] = []
    offsets: list[np.ndarray] = []
    channels: list[list[str]] = []
    end_sites: dict[int, np.ndarray] = {}
    i = 1

    def need(n: int) -> None:
        if i + n > len(toks):
            raise MotionFileError(f"{path}: truncated BVH hierarchy (line {toks[-1][1]})")

    def number(tok: tuple[str, int]) -> float:
        try:
            v = float(tok[0])
        except ValueError:
            raise MotionFileError(f"{path}: expected a number, found {tok[0]!r} (line {tok[1]})") from None
        if not np.isfinite(v):
            raise MotionFileError(f"{path}: OFFSET is not a finite number (line {tok[1]})")
        return v

    stack: list[int] = []  # open braces: joint index
    expect_root = True
    while i < len(toks):
        tok, ln = toks[i]
        if tok in ("ROOT", "JOINT"):
            if (tok == "ROOT") != expect_root:
                raise MotionFileError(f"{path}: unexpected {tok} (line {ln})")
            expect_root = False
            need(2)
            name = toks[i + 1][0]
            if toks[i + 2][0] != "{":
                raise MotionFileError(f"{path}: expected '{{' after {tok} {name} (line {toks[i + 2][1]})")
            i += 3
            need(4)
            if toks[i][0] != "OFFSET":
                raise MotionFileError(f"{path}: expected OFFSET for joint {name} (line {toks[i][1]})")
            offset = np.array([number(t) for t in toks[i + 1 : i + 4]])
            i += 4
            need(2)
            if toks[i][0] != "CHANNELS":
                raise MotionFileError(f"{path}: expected CHANNELS for joint {name} (line {toks[i][1]})")
            cl = toks[i][1]
            try:
                n = int(toks[i + 1][0])
            except ValueError:
                raise MotionFileError(
                    f"{path}: channel count of joint {name} is not a number (line {cl})"
                ) from None
            on_line = [t for t, l2 in toks[i + 2 :] if l2 == cl]
            if n < 0 or len(on_line) != n:
                raise MotionFileError(
                    f"{path}: joint {name} declares {n} channels but lists {len(on_line)} (line {cl})"
                )
            for c in on_line:
                if c not in POS_CHANNELS and c not in ROT_CHANNELS:
                    raise MotionFileError(f"{path}: unknown channel {c!r} on joint {name} (line {cl})")
            i += 2 + n
            if name in names:
                raise MotionFileError(f"{path}: joint name {name} appears twice (line {ln})")
            names.append(name)
            parents.append(stack[-1] if stack else -1)
            offsets.append(offset)
            channels.append(on_line)
            stack.append(len(names) - 1)
        elif tok == "End":
            need(7)
            if toks[i + 1][0] != "Site" or toks[i + 2][0] != "{" or toks[i + 3][0] != "OFFSET":
                raise MotionFileError(f"{path}: malformed End Site (line {ln})")
            if not stack:
                raise MotionFileError(f"{path}: End Site outside a joint (line {ln})")
            end_sites[stack[-1]] = np.array([number(t) for t in toks[i + 4 : i + 7]])
            i += 7
            if i >= len(toks) or toks[i][0] != "}":
                raise MotionFileError(f"{path}: End Site is not closed (line {ln})")
            i += 1
        elif tok == "}":
            if not stack:
                raise MotionFileError(f"{path}: unbalanced '}}' (line {ln})")
            stack.pop()
            i += 1
        else:
            raise MotionFileError(f"{path}: unexpected {tok!r} in the hierarchy (line {ln})")
    if stack:
        raise MotionFileError(f"{path}: truncated BVH hierarchy ({len(stack)} joints not closed)")
    if not names:
        raise MotionFileError(f"{path}: BVH hierarchy has no joints")
    if parents.count(-1) > 1:
        raise MotionFileError(f"{path}: the BVH holds several ROOT hierarchies; only one is supported")
    return Rig(names, parents, np.stack(offsets), channels, end_sites), motion_line


def _parse_motion(
    path: Path, lines: list[str], motion_line: int, n_channels: int
) -> tuple[np.ndarray, float, list[int]]:
    """(values (T, C), frame time, index in ``lines`` of every frame line)."""
    body = [ln for ln in range(motion_line + 1, len(lines)) if lines[ln].strip()]
    if len(body) < 2:
        raise MotionFileError(f"{path}: truncated BVH: MOTION section lacks 'Frames:' / 'Frame Time:'")
    l1, l2 = body[0], body[1]
    p1, p2 = lines[l1].split(), lines[l2].split()
    try:
        if p1[0] != "Frames:" or len(p1) != 2:
            raise ValueError
        n_frames = int(p1[1])
    except (ValueError, IndexError):
        raise MotionFileError(f"{path}: expected 'Frames: N' (line {l1 + 1})") from None
    try:
        if p2[:2] != ["Frame", "Time:"] or len(p2) != 3:
            raise ValueError
        frame_time = float(p2[2])
    except (ValueError, IndexError):
        raise MotionFileError(f"{path}: expected 'Frame Time: SECONDS' (line {l2 + 1})") from None
    if not np.isfinite(frame_time) or frame_time <= 0:
        raise MotionFileError(f"{path}: frame time must be positive (line {l2 + 1})")
    if n_frames < 1:
        raise MotionFileError(f"{path}: BVH has no frames")
    note = check_frame_time(frame_time, n_frames, str(path))
    if note is not None:
        import warnings

        warnings.warn(note, BvhTimingWarning, stacklevel=2)
    rows = body[2:]
    if len(rows) < n_frames:
        raise MotionFileError(f"{path}: truncated BVH: header says {n_frames} frames, file holds {len(rows)}")
    if len(rows) > n_frames:
        raise MotionFileError(
            f"{path}: header says {n_frames} frames but the file holds {len(rows)} frame lines (line {rows[n_frames] + 1})"
        )
    try:
        values = np.array(" ".join(lines[ln] for ln in rows).split(), dtype=np.float64)
    except ValueError:
        for ln in rows:
            try:
                np.array(lines[ln].split(), dtype=np.float64)
            except ValueError:
                raise MotionFileError(
                    f"{path}: frame data holds a value that is not a number (line {ln + 1})"
                ) from None
        raise
    if values.size != n_frames * n_channels:
        for ln in rows:
            k = len(lines[ln].split())
            if k != n_channels:
                raise MotionFileError(
                    f"{path}: frame line has {k} values but the hierarchy declares {n_channels} channels (line {ln + 1})"
                )
    data = values.reshape(n_frames, n_channels)
    bad = ~np.isfinite(data)
    if bad.any():
        f = int(np.argwhere(bad)[0][0])
        raise MotionFileError(f"{path}: frame {f} holds NaN or infinite values (line {rows[f] + 1})")
    return data, frame_time, rows


def read_bvh(path: str | os.PathLike, data: bytes | None = None) -> BvhClip:
    """Read a BVH file (or its bytes ``data``, e.g. an archive member named ``path``) and run forward
    kinematics -> :class:`BvhClip` (in the file's units). An implausible ``Frame Time`` gives a
    :class:`BvhTimingWarning` (or an error when it looks like milliseconds, see :func:`check_frame_time`)."""
    path = Path(path)
    try:
        raw = path.read_bytes() if data is None else data
    except FileNotFoundError:
        raise MotionFileError(f"{path}: file not found") from None
    except OSError as e:
        raise MotionFileError(f"{path}: cannot read ({e.strerror})") from None
    text = raw.decode("utf-8", errors="surrogateescape")
    lines = [ln[:-1] if ln.endswith("\r") else ln for ln in text.split("\n")]
    rig, motion_line = _parse_hierarchy(path, lines)
    values, frame_time, rows = _parse_motion(path, lines, motion_line, rig.num_channels)
    starts = np.cumsum([0] + [len(s) + 1 for s in text.split("\n")])  # offset of every line in ``text``
    first, last = rows[0], rows[-1]
    end_of_last = int(starts[last]) + len(lines[last])
    newline = "\r\n" if text[end_of_last : end_of_last + 2] == "\r\n" else "\n"
    pos, rot = rig.forward(values)
    return BvhClip(
        rig=rig,
        frame_time=frame_time,
        values=values,
        motion_lines=[lines[ln] for ln in rows],
        header=text[: int(starts[first])],
        tail=text[end_of_last:],
        newline=newline,
        positions=pos,
        rotations=rot,
        path=path,
    )


# ----------------------------------------------------------------------------------------- writing
def _fmt(x: float) -> str:
    return f"{x:.6f}"


def format_frames(values: np.ndarray) -> list[str]:
    """Frame lines for channel values (T, C): 6 decimals, no negative zeros."""
    v = np.round(np.asarray(values, dtype=np.float64), 6) + 0.0
    return [" ".join(map(_fmt, row)) for row in v.tolist()]


def hierarchy_text(rig: Rig, newline: str = "\n") -> str:
    """The HIERARCHY section of a rig (tab-indented, one keyword per line)."""
    children: list[list[int]] = [[] for _ in rig.names]
    for k, p in enumerate(rig.parents):
        if p >= 0:
            children[p].append(k)
    out = ["HIERARCHY"]
    order: list[int] = []

    def emit(k: int, depth: int) -> None:
        order.append(k)
        ind = "\t" * depth
        out.append(f"{ind}{'ROOT' if depth == 0 else 'JOINT'} {rig.names[k]}")
        out.append(f"{ind}{{")
        out.append(f"{ind}\tOFFSET {' '.join(_fmt(x) for x in rig.offsets[k])}")
        out.append(f"{ind}\tCHANNELS {len(rig.channels[k])} {' '.join(rig.channels[k])}".rstrip())
        for c in children[k]:
            emit(c, depth + 1)
        if k in rig.end_sites:
            out.extend([f"{ind}\tEnd Site", f"{ind}\t{{"])
            out.append(f"{ind}\t\tOFFSET {' '.join(_fmt(x) for x in rig.end_sites[k])}")
            out.append(f"{ind}\t}}")
        out.append(f"{ind}}}")

    emit(0, 0)
    if order != list(range(rig.num_joints)):
        raise MotionFileError("the rig's joints are not in depth-first file order")
    return newline.join(out) + newline


def _frame_time_text(frame_time: float) -> str:
    return format(frame_time, ".10g")


def _write_text(path: str | os.PathLike, text: str) -> None:
    try:
        write_bytes_atomic(path, text.encode("utf-8", errors="surrogateescape"))
    except OSError as e:
        raise MotionFileError(f"cannot write {path}: {e.strerror or e}") from None


def write_rig(path: str | os.PathLike, rig: Rig, values: np.ndarray, frame_time: float) -> None:
    """Write a rig and its channel values (T, C) as a BVH file (atomic)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != rig.num_channels or values.shape[0] < 1:
        raise MotionFileError(
            f"channel values of shape {values.shape} do not fit {rig.num_channels} channels"
        )
    if not np.isfinite(values).all():
        raise MotionFileError("channel values hold NaN or infinite values")
    text = (
        hierarchy_text(rig)
        + f"MOTION\nFrames: {values.shape[0]}\nFrame Time: {_frame_time_text(frame_time)}\n"
        + "\n".join(format_frames(values))
        + "\n"
    )
    _write_text(path, text)


def write_bvh_like(
    path: str | os.PathLike,
    clip: BvhClip,
    values: np.ndarray,
    keep: np.ndarray,
    source_frames: np.ndarray | None = None,
) -> None:
    """Write channel values (T, C) on the source clip's own file (atomic).

    The text before the first frame line (hierarchy, frame time) is the source's, unchanged (only the
    ``Frames:`` line is rewritten when T differs); frame ``f`` where ``keep[f]`` is True is the source's
    frame line verbatim (``values[f]`` is not used), every other frame is formatted from ``values``.
    ``source_frames`` (T,) names the source frame whose line a kept frame takes (default: frame ``f``
    itself), for outputs whose kept frames moved (frames inserted before them).
    """
    values = np.asarray(values, dtype=np.float64)
    keep = np.asarray(keep, dtype=bool)
    t = values.shape[0] if values.ndim == 2 else 0
    if values.ndim != 2 or values.shape[1] != clip.rig.num_channels or t < 1:
        raise MotionFileError(
            f"channel values of shape {values.shape} do not fit {clip.where} ({clip.rig.num_channels} channels)"
        )
    if keep.shape != (t,):
        raise MotionFileError(f"keep mask has shape {keep.shape}, expected ({t},)")
    if source_frames is None:
        if keep[clip.num_frames :].any():
            raise MotionFileError(f"frames past the source's {clip.num_frames} cannot be kept from it")
        src = np.arange(t)
    else:
        src = np.asarray(source_frames, dtype=np.int64).reshape(-1)
        if src.shape != (t,):
            raise MotionFileError(f"source frame map has shape {src.shape}, expected ({t},)")
        if keep.any() and (src[keep].min() < 0 or src[keep].max() >= clip.num_frames):
            raise MotionFileError(f"kept frames must come from the source's frames 0..{clip.num_frames - 1}")
    fresh = ~keep
    if not np.isfinite(values[fresh]).all():
        raise MotionFileError("channel values hold NaN or infinite values")
    header = clip.header
    if t != clip.num_frames:
        at = header.rfind("Frames:")
        header = header[:at] + re.sub(r"^Frames:[ \t]*\d+", f"Frames: {t}", header[at:], count=1)
    lines = [clip.motion_lines[int(src[f])] if keep[f] else "" for f in range(t)]
    idx = np.flatnonzero(fresh)
    for f, line in zip(idx, format_frames(values[idx]), strict=True):
        lines[f] = line
    tail = clip.tail if clip.tail else clip.newline
    _write_text(path, header + clip.newline.join(lines) + tail)


# ----------------------------------------------------------------------------------------- mapping
def load_mapping(spec: str | os.PathLike | dict | None) -> dict[str, MappingValue] | None:
    """A mapping from a dict, a JSON file path, or an inline JSON string (``{"pelvis": "Hips", ...}``)."""
    if spec is None or isinstance(spec, dict):
        return spec
    s = str(spec)
    if s.lstrip().startswith("{"):
        src, raw = "mapping", s
    else:
        src = s
        try:
            raw = Path(s).read_text(encoding="utf-8")
        except OSError:
            raise MotionFileError(f"mapping file {s} cannot be read") from None
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as e:
        raise MotionFileError(f"{src}: invalid JSON ({e.msg}, line {e.lineno})") from None
    if not isinstance(obj, dict):
        raise MotionFileError(f'{src}: the mapping must be a JSON object {{"pelvis": "Hips", ...}}')
    return obj


def resolve_mapping(clip: BvhClip, mapping: str | os.PathLike | dict | None = None) -> tuple[str, Mapping]:
    """(kind, mapping): the given one ("user"), else built-in or detected from the joint names."""
    mp = load_mapping(mapping)
    if mp is not None:
        return "user", check_mapping(mp, "mapping" if isinstance(mapping, dict) else str(mapping)[:60])
    return detect_mapping(clip.names, clip.parents, clip.where)


@dataclass
class SourceJoints:
    """A clip's SMPL-22 joints in its own units, world space and frame rate (nothing moved)."""

    joints: np.ndarray  # (T, 22, 3) float64, file units
    scale: float  # file units -> metres
    fps: float
    mapping: Mapping
    kind: str  # "moscale" | "bandai-namco" | "detected" | "user"


def source_smpl22(
    clip: BvhClip, mapping: str | os.PathLike | dict | None = None, scale: float | None = None
) -> SourceJoints:
    """The clip's SMPL-22 joints at its own frame rate, in its world space and units (no flooring,
    re-centring or resampling), and the factor to metres (``scale``, else detected)."""
    kind, mp = resolve_mapping(clip, mapping)
    joints = rig_smpl22(clip.rig, clip.positions, mp, clip.where, rotations=clip.rotations)
    check_bones(joints, clip.where)
    if scale is None:
        scale = detect_scale(joints)
    elif not (np.isfinite(scale) and scale > 0):
        raise MotionFileError(f"scale must be a positive number, got {scale}")
    return SourceJoints(joints, float(scale), clip.fps, mp, kind)


@dataclass
class BvhImport:
    """SMPL-22 joints of a BVH as imported (metres, ``fps``, floored) and the transform applied:
    ``joints = resample(source.joints * scale, src_fps -> fps) - (0, floor_offset, 0)``."""

    joints: np.ndarray  # (T', 22, 3) float32, metres
    source: SourceJoints
    scale: float
    floor_offset: float  # metres subtracted from y
    src_fps: float
    fps: float
    clip: BvhClip | None = None  # the file as read (for writing back on its own rig)

    def to_source_units(self, joints_m: np.ndarray) -> np.ndarray:
        """Undo the spatial part of the transform (floor, scale) on joints in metres."""
        j = np.array(joints_m, dtype=np.float64)
        j[..., 1] += self.floor_offset
        return j / self.scale


def import_bvh_smpl22(
    path: str | os.PathLike,
    mapping: str | os.PathLike | dict | None = None,
    target_fps: float = 20.0,
    scale: float | None = None,
    floor: bool | None = None,
    data: bytes | None = None,
) -> BvhImport:
    """Read a BVH (or its bytes ``data``) -> :class:`BvhImport` (see :func:`bvh_to_smpl22`)."""
    clip = read_bvh(path, data)
    src = source_smpl22(clip, mapping, scale)
    joints = resample(src.joints * src.scale, src.fps, target_fps, SMPL22.parents)
    if floor is None:
        floor = src.kind != "moscale"
    offset = float(joints[..., 1].min()) if floor else 0.0
    if floor:
        joints = joints.copy()
        joints[..., 1] -= offset
    return BvhImport(joints.astype(np.float32), src, src.scale, offset, src.fps, float(target_fps), clip)


def bvh_to_smpl22(
    path: str | os.PathLike,
    mapping: str | os.PathLike | dict | None = None,
    target_fps: float = 20.0,
    scale: float | None = None,
    floor: bool | None = None,
    data: bytes | None = None,
) -> np.ndarray:
    """Read a BVH (or its bytes ``data``) and return SMPL-22 joints (T, 22, 3) in metres at ``target_fps``, float32.

    ``mapping``: None = built-in (our files, Bandai-Namco) or detected from the joint names (CMU /
    Mixamo style), or a dict / JSON path / JSON string ``{"pelvis": "Hips", ...}`` (a value may be a
    list of names: their mean). ``scale``: file units -> metres (None = detect). Resampling keeps bone
    lengths (see ``motion.kinematics.resample``). ``floor``: put the lowest joint of the clip at y=0
    (None = yes, except for files moscale wrote, which are read back unchanged).
    """
    return import_bvh_smpl22(path, mapping, target_fps, scale, floor, data).joints


# ----------------------------------------------------------------------------------------- export
def _check_joints(joints: np.ndarray) -> np.ndarray:
    j = np.asarray(joints)
    if j.ndim != 3 or j.shape[1:] != (22, 3):
        raise MotionFileError(f"BVH export needs SMPL-22 joints of shape (T, 22, 3), got {tuple(j.shape)}")
    if j.shape[0] < 1:
        raise MotionFileError("BVH export needs at least one frame")
    if not np.isfinite(j).all():
        f = int(np.argwhere(~np.isfinite(j))[0][0])
        raise MotionFileError(f"joint positions hold NaN or infinite values (frame {f})")
    return j.astype(np.float64)


def write_bvh(
    path: str | os.PathLike,
    joints_TJ3: np.ndarray,
    fps: float = 20.0,
    foot_cleanup: bool = False,
) -> None:
    """Write SMPL-22 joints (T, 22, 3, metres, Y up) as a 22-joint BVH (atomic).

    The hierarchy has the motion's own bone lengths (median per bone over the clip); root: position +
    ZXY rotation channels, other joints: ZXY rotations from IK (``motion.rig.smpl22_rig``).
    ``foot_cleanup`` runs the post-process before IK (rigid bones, feet pinned while they touch the floor;
    :func:`moscale_cli.motion.postprocess.postprocess`).
    """
    j = _check_joints(joints_TJ3)
    if not (np.isfinite(fps) and fps > 0):
        raise MotionFileError(f"fps must be positive, got {fps}")
    if foot_cleanup:
        from moscale_cli.motion.postprocess import postprocess

        j = postprocess(j, fps=fps).joints
    rig, values, _ = smpl22_rig(j)
    write_rig(path, rig, values, 1.0 / fps)


def solve_rig_channels(
    clip: BvhClip,
    mapping: str | os.PathLike | dict | None,
    joints_TJ3: np.ndarray,
    frames: np.ndarray | list[int],
    twist: str = "frame",
) -> np.ndarray:
    """The clip's channel values (T, C) with ``frames`` re-solved so that the mapped joints follow new
    SMPL-22 joints (len(frames), 22, 3) given in the clip's units, world space and frame rate; all
    other frames are the clip's values untouched. See ``motion.rig.solve_channels``."""
    _, mp = resolve_mapping(clip, mapping)
    return solve_channels(clip.rig, clip.values, mp, joints_TJ3, frames, twist)


def max_roundtrip_error(joints_TJ3: np.ndarray, path: str | os.PathLike) -> float:
    """Max distance (metres) between ``joints`` and the joints re-read from the BVH at ``path``."""
    back = bvh_to_smpl22(path)
    return float(np.linalg.norm(back - np.asarray(joints_TJ3), axis=-1).max())


__all__ = [
    "BANDAI_MAPPING",
    "BUILTIN_MAPPINGS",
    "MOSCALE_MAPPING",
    "SMPL22_BVH_NAMES",
    "BvhClip",
    "BvhImport",
    "SourceJoints",
    "bvh_to_smpl22",
    "detect_scale",
    "format_frames",
    "hierarchy_text",
    "import_bvh_smpl22",
    "load_mapping",
    "read_bvh",
    "resample",
    "resolve_mapping",
    "solve_rig_channels",
    "source_smpl22",
    "write_bvh",
    "write_bvh_like",
    "write_rig",
]
