"""The HumanML3D directory layout: split files, caption files, statistics, feature/joint files.

A dataset directory holds::

    new_joint_vecs/<id>.npy   float32 (T, D) features (263 for SMPL-22, 251 for KIT-21)
    new_joints/<id>.npy       float32 (T, J, 3) joint positions (optional for reading)
    texts/<id>.txt            caption lines ``caption#tokens#from#to``
    texts_heldout/<id>.txt    optional: held-out phrasings (procedural corpus), same format, never read
                              for training; ``data merge`` carries them along
    train.txt val.txt test.txt all.txt train_val.txt   one id per line
    Mean.npy Std.npy          float32 (D,)

Everything here is plain file handling (no torch); writers are atomic.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from moscale_cli.errors import DatasetError
from moscale_cli.utils.atomic import atomic_path, replace_dir, temp_dir, write_text_atomic

FEATS_DIR = "new_joint_vecs"
JOINTS_DIR = "new_joints"
TEXTS_DIR = "texts"
HELDOUT_TEXTS_DIR = "texts_heldout"
MEAN_FILE = "Mean.npy"
STD_FILE = "Std.npy"
CORE_SPLITS = ("train", "val", "test")
ALL_SPLITS = ("train", "val", "test", "all", "train_val")
# Time tags in caption files are seconds at 20 fps (hard-coded in the reference loader, KIT included).
TIME_TAG_FPS = 20


@dataclass(frozen=True)
class CaptionLine:
    """One caption: the text, its ``word/POS`` tokens, and the time tags in seconds (0,0 = whole clip)."""

    caption: str
    tokens: str = ""
    start: float = 0.0
    end: float = 0.0

    @property
    def whole_clip(self) -> bool:
        return self.start == 0.0 and self.end == 0.0

    def frame_range(self, fps: int = TIME_TAG_FPS) -> tuple[int, int]:
        """Frames ``int(start*fps) : int(end*fps)`` of the clip this caption covers."""
        return int(self.start * fps), int(self.end * fps)

    def to_line(self) -> str:
        return f"{self.caption}#{self.tokens}#{_fmt_time(self.start)}#{_fmt_time(self.end)}"


def _fmt_time(t: float) -> str:
    return f"{t:.1f}" if float(t).is_integer() else f"{t:g}"


def _parse_time(s: str) -> float:
    v = float(s.strip())  # ValueError on junk; 'nan' parses
    if math.isnan(v):
        return 0.0
    if math.isinf(v) or v < 0:
        raise ValueError(f"time tag {s.strip()!r} is not a finite non-negative number")
    return v


def parse_caption_line(line: str, allow_plain: bool = False) -> CaptionLine:
    """Parse ``caption#tokens#from#to``; NaN tags read as 0.

    With ``allow_plain`` a line without any ``#`` is a plain caption (tokens empty, whole clip).
    Raises ``ValueError`` with a short reason for a malformed line.
    """
    text = line.strip()
    if not text:
        raise ValueError("empty line")
    if "#" not in text and allow_plain:
        return CaptionLine(caption=text)
    parts = text.split("#")
    if len(parts) != 4:
        raise ValueError(f"expected 4 '#'-separated fields (caption#tokens#from#to), got {len(parts)}")
    caption, tokens, t0, t1 = parts
    if not caption.strip():
        raise ValueError("empty caption")
    try:
        start, end = _parse_time(t0), _parse_time(t1)
    except ValueError as e:
        raise ValueError(f"bad time tags {t0!r}#{t1!r} ({e})") from None
    if not (start == 0.0 and end == 0.0) and end <= start:
        raise ValueError(f"time tags {t0}#{t1}: end is not after start")
    return CaptionLine(caption=caption.strip(), tokens=tokens.strip(), start=start, end=end)


def read_captions(path: str | os.PathLike, allow_plain: bool = False) -> list[CaptionLine]:
    """All caption lines of a file (blank lines ignored). Raises ``DatasetError`` naming ``file:line``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"caption file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"cannot read caption file {path}: {e}") from None
    lines = []
    for i, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            lines.append(parse_caption_line(raw, allow_plain=allow_plain))
        except ValueError as e:
            raise DatasetError(f"malformed caption line {path}:{i}: {e}") from None
    if not lines:
        raise DatasetError(f"caption file {path} holds no captions")
    return lines


def write_captions(path: str | os.PathLike, lines: list[CaptionLine]) -> None:
    write_text_atomic(path, "".join(c.to_line() + "\n" for c in lines))


def split_path(root: str | os.PathLike, split: str) -> Path:
    return Path(root) / f"{split}.txt"


def read_split(root: str | os.PathLike, split: str) -> list[str]:
    """Ids of a split file (``<root>/<split>.txt``), in order, blanks and duplicates removed."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist")
    path = split_path(root, split)
    if not path.is_file():
        have = [s for s in ALL_SPLITS if split_path(root, s).is_file()]
        hint = f"(it has: {', '.join(have)})" if have else "(it has no split files)"
        raise DatasetError(f"split file {path.name} is missing in {root} {hint}")
    try:
        names = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"cannot read split file {path}: {e}") from None
    return list(dict.fromkeys(n for n in names if n))


def available_splits(root: str | os.PathLike) -> list[str]:
    return [s for s in ALL_SPLITS if split_path(root, s).is_file()]


def write_split(root: str | os.PathLike, split: str, names: list[str]) -> None:
    write_text_atomic(split_path(root, split), "".join(n + "\n" for n in names))


def write_standard_splits(root: str | os.PathLike, splits: dict[str, list[str]]) -> None:
    """Write train/val/test plus the derived all.txt and train_val.txt."""
    for s in CORE_SPLITS:
        write_split(root, s, splits.get(s, []))
    write_split(root, "all", [n for s in CORE_SPLITS for n in splits.get(s, [])])
    write_split(root, "train_val", splits.get("train", []) + splits.get("val", []))


def feature_path(root: str | os.PathLike, name: str) -> Path:
    return Path(root) / FEATS_DIR / f"{name}.npy"


def joints_path(root: str | os.PathLike, name: str) -> Path:
    return Path(root) / JOINTS_DIR / f"{name}.npy"


def text_path(root: str | os.PathLike, name: str) -> Path:
    return Path(root) / TEXTS_DIR / f"{name}.txt"


def heldout_text_path(root: str | os.PathLike, name: str) -> Path:
    return Path(root) / HELDOUT_TEXTS_DIR / f"{name}.txt"


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """``np.save`` through a temporary file (never a partial .npy under the final name)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, np.ascontiguousarray(array, dtype=np.float32))


def load_stats(root: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) float32 from ``Mean.npy``/``Std.npy`` of a dataset folder."""
    root = Path(root)
    out = []
    for fname in (MEAN_FILE, STD_FILE):
        p = root / fname
        if not p.is_file():
            raise DatasetError(f"{fname} is missing in {root} (compute it or pass the statistics explicitly)")
        try:
            a = np.load(p, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise DatasetError(f"cannot read {p}: {e}") from None
        if a.ndim != 1 or not np.all(np.isfinite(a)):
            raise DatasetError(f"{p} must be a finite 1-D array, got shape {a.shape}")
        out.append(a.astype(np.float32))
    mean, std = out
    if mean.shape != std.shape:
        raise DatasetError(f"{MEAN_FILE} {mean.shape} and {STD_FILE} {std.shape} of {root} differ in shape")
    return mean, std


def save_stats(root: str | os.PathLike, mean: np.ndarray, std: np.ndarray) -> None:
    save_npy(Path(root) / MEAN_FILE, np.asarray(mean))
    save_npy(Path(root) / STD_FILE, np.asarray(std))


def feature_header(path: str | os.PathLike) -> tuple[int, ...]:
    """Shape of an .npy file without reading its data (raises OSError/ValueError when unreadable)."""
    return tuple(np.load(path, mmap_mode="r", allow_pickle=False).shape)


def read_meta(root: str | os.PathLike) -> dict:
    """The dataset's ``meta.json`` (written by ``moscale data synth/import-bvh/merge``), {} when absent.

    DatasetError when it exists but is not a JSON object."""
    import json

    path = Path(root) / "meta.json"
    if not path.is_file():
        return {}
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DatasetError(f"{path} is not readable JSON ({type(e).__name__})") from None
    if not isinstance(obj, dict):
        raise DatasetError(f"{path} is not a JSON object")
    return obj


def meta_min_len(root: str | os.PathLike) -> int | None:
    """The shortest clip the dataset was built with (``min_len`` in ``meta.json``), else None."""
    v = read_meta(root).get("min_len")
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise DatasetError(f"{Path(root) / 'meta.json'}: min_len must be a positive integer, got {v!r}")
    return v


def detect_feature_dim(root: str | os.PathLike) -> int:
    """Feature width of a dataset folder, from Mean.npy or else the first readable feature file."""
    root = Path(root)
    mean_p = root / MEAN_FILE
    if mean_p.is_file():
        try:
            return int(np.load(mean_p, mmap_mode="r", allow_pickle=False).shape[-1])
        except (OSError, ValueError, IndexError) as e:
            raise DatasetError(f"cannot read {mean_p}: {e}") from None
    fdir = root / FEATS_DIR
    if not fdir.is_dir():
        raise DatasetError(f"{root} is not a dataset folder: {FEATS_DIR}/ is missing")
    for p in sorted(fdir.glob("*.npy"))[:50]:
        try:
            shape = feature_header(p)
        except (OSError, ValueError):
            continue
        if len(shape) == 2:
            return int(shape[1])
    raise DatasetError(f"cannot tell the feature width of {root}: no Mean.npy and no readable feature file")


def dataset_kind(root: str | os.PathLike) -> str | None:
    """Which moscale command wrote the dataset folder ``root``: "bvh-import" or "merge" (``meta.json``'s
    ``kind``), "synth" (``synth.json``), else None (a folder moscale did not write, or not a dataset)."""
    root = Path(root)
    try:
        kind = read_meta(root).get("kind")
    except DatasetError:
        kind = None
    if isinstance(kind, str) and kind:
        return kind
    if (root / "synth.json").is_file() and (root / FEATS_DIR).is_dir():
        return "synth"
    return None


def check_output_dir(out: str | os.PathLike, overwrite: bool, kind: str, command: str) -> None:
    """Refuse to write a dataset over a file or a non-empty folder, except with ``overwrite`` over a folder
    that ``command`` wrote before (its ``meta.json``/``synth.json`` names ``kind``): ``--overwrite`` never
    replaces a foreign folder."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DatasetError(f"output {out} exists and is not a folder")
    if not (out.is_dir() and any(out.iterdir())):
        return
    if not overwrite:
        raise DatasetError(f"output folder {out} is not empty (pass --overwrite to replace it)")
    have = dataset_kind(out)
    if have != kind:
        what = f"a '{have}' dataset" if have else "a folder moscale did not write"
        raise DatasetError(
            f"output folder {out} is {what}, not an earlier `{command}` output; --overwrite only replaces "
            "those (choose another folder, or remove it yourself)"
        )


def staging_dir(out: str | os.PathLike, overwrite: bool = False, kind: str | None = None, command: str = "") -> Path:
    """A hidden folder beside ``out`` to build a dataset in (then ``commit_dir``), with the three subfolders.

    Refuses a non-empty ``out`` unless ``overwrite`` (and, when ``kind`` is given, unless ``out`` is an earlier
    output of that kind: see :func:`check_output_dir`). Missing parent folders are created; staging folders
    left by killed runs beside ``out`` are removed.
    """
    out = Path(out)
    if kind is not None:
        check_output_dir(out, overwrite, kind, command or kind)
    else:
        if out.exists() and not out.is_dir():
            raise DatasetError(f"output {out} exists and is not a folder")
        if out.is_dir() and any(out.iterdir()) and not overwrite:
            raise DatasetError(f"output folder {out} is not empty (pass --overwrite to replace it)")
    try:
        stage = temp_dir(out, "partial")
    except OSError as e:
        raise DatasetError(f"cannot write {out}: {e.strerror or e}") from None
    for d in (FEATS_DIR, JOINTS_DIR, TEXTS_DIR):
        (stage / d).mkdir()
    return stage


def commit_dir(stage: Path, out: str | os.PathLike) -> None:
    """Move a finished staging folder to ``out`` (replacing an existing ``out``)."""
    replace_dir(stage, out)
