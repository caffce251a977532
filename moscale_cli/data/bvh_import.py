"""Import a folder of BVH files as a dataset in the HumanML3D layout (``moscale data import-bvh``).

Per file: SMPL-22 joints at 20 fps (``io.bvh.bvh_to_smpl22``), HumanML3D features with retargeting
(``motion.features.joints_to_features``), and ``new_joints`` recovered from those features so the two
agree exactly. Clips longer than ``window`` frames become windows ``<name>_w00``, ``<name>_w01``, ...
of ``window`` frames every ``stride`` frames (the last one aligned with the end of the clip).

Captions: a sidecar ``<name>.txt`` beside the BVH (lines ``caption#tokens#from#to`` or plain text),
or Bandai-Namco labels (``dataset-2_{content}_{style}_{NNN}.bvh`` + ``.json``) through templates.
Splits: train/val/test by a seeded hash of the file name, so all windows of a file share a split.
The dataset is built in a hidden folder beside ``out`` and renamed into place at the end, so a failed
or interrupted import never leaves a half-written dataset.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing as mp
import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from moscale_cli.config import ConfigBase
from moscale_cli.data import layout
from moscale_cli.data.captions import (
    BANDAI_CONTENTS,
    BANDAI_STYLES,
    bandai_captions,
    parse_bandai_name,
    tag_tokens,
)
from moscale_cli.data.layout import CaptionLine
from moscale_cli.errors import DatasetError, MoScaleError, UsageError
from moscale_cli.utils.atomic import write_json_atomic

CAPTION_MODES = ("auto", "sidecar", "bandai")


@dataclass
class ImportConfig(ConfigBase):
    captions: str = "auto"  # auto | sidecar | bandai
    mapping: str | None = None  # JSON file or inline JSON {"pelvis": "Hips", ...}; None = built-in mappings
    workers: int = 2
    seed: int = 0
    fps: float = 20.0
    window: int = 196  # longest clip (feature frames); longer clips are cut into windows
    stride: int = 160
    min_len: int = 40  # shortest clip/window kept
    train: float = 0.80
    val: float = 0.05  # test = the rest
    captions_per_clip: int = 4  # Bandai template captions per clip (>= 3)
    overwrite: bool = False

    def check(self) -> None:
        if self.captions not in CAPTION_MODES:
            raise UsageError(f"--captions must be one of {', '.join(CAPTION_MODES)}, got {self.captions!r}")
        if self.workers < 1:
            raise UsageError(f"--workers must be >= 1, got {self.workers}")
        if not (1 <= self.min_len <= self.window) or self.stride < 1:
            raise UsageError(
                f"need 1 <= min_len <= window and stride >= 1 (got {self.min_len}, {self.window}, {self.stride})"
            )
        if not (0 <= self.train and 0 <= self.val and self.train + self.val <= 1):
            raise UsageError(
                f"split fractions must satisfy 0 <= train, val and train + val <= 1 (got {self.train}, {self.val})"
            )
        if self.captions_per_clip < 3:
            raise UsageError("captions_per_clip must be at least 3")


@dataclass
class ImportResult:
    out: Path
    files: int  # BVH files found
    imported: int  # files that gave at least one clip
    clips: int  # dataset entries written (windows)
    frames: int  # feature frames written (windows overlap, so frames of long clips count more than once)
    hours: float
    splits: dict[str, int]
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, reason): unreadable/broken input
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason): too short, no captions
    seconds: float = 0.0
    source_hours: float = 0.0  # motion of the imported files, each frame counted once

    @property
    def rate(self) -> float:
        return self.files / self.seconds if self.seconds > 0 else float("nan")


# ------------------------------------------------------------------------------------------ captions
def split_of(name: str, seed: int, train: float = 0.8, val: float = 0.05) -> str:
    """'train' | 'val' | 'test' from a seeded hash of the file name (stable across runs and machines)."""
    h = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    u = int.from_bytes(h[:8], "little") / 2.0**64
    return "train" if u < train else "val" if u < train + val else "test"


def _bandai_labels(path: Path) -> tuple[str, str]:
    """(content, style) from the .json beside the file (indices), cross-checked with the file name."""
    from_name = parse_bandai_name(path.stem)
    jpath = path.with_suffix(".json")
    from_json = None
    if jpath.is_file():
        try:
            obj = json.loads(jpath.read_text(encoding="utf-8"))
            ci, si = int(obj["content"]), int(obj["style"])
            if not (0 <= ci < len(BANDAI_CONTENTS) and 0 <= si < len(BANDAI_STYLES)):
                raise ValueError(f"label index out of range ({ci}, {si})")
            from_json = (BANDAI_CONTENTS[ci], BANDAI_STYLES[si])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise DatasetError(f"label file {jpath.name} is broken: {type(e).__name__}: {e}") from None
    if from_name and from_json and from_name != from_json:
        raise DatasetError(f"labels of {jpath.name} {from_json} disagree with the file name {from_name}")
    labels = from_json or from_name
    if labels is None:
        raise DatasetError(
            f"{path.name}: no Bandai-Namco labels (neither dataset-2_<content>_<style>_<n> nor a .json)"
        )
    return labels


def _sidecar_captions(path: Path) -> list[CaptionLine]:
    side = path.with_suffix(".txt")
    lines = layout.read_captions(side, allow_plain=True)  # DatasetError on a malformed line
    return [c if c.tokens else CaptionLine(c.caption, tag_tokens(c.caption), c.start, c.end) for c in lines]


def _is_bandai(path: Path) -> bool:
    return parse_bandai_name(path.stem) is not None or path.with_suffix(".json").is_file()


def resolve_captions(
    files: list[Path], cfg: ImportConfig
) -> tuple[dict[str, list[CaptionLine]], list[tuple[str, str]], list[tuple[str, str]]]:
    """(captions by file stem, skipped, failed). Malformed sidecar lines raise (before any work); a file
    without a caption file is skipped; broken or contradictory Bandai labels fail that file."""
    caps: dict[str, list[CaptionLine]] = {}
    skipped: list[tuple[str, str]] = []
    failed: list[tuple[str, str]] = []
    for p in files:
        mode = cfg.captions
        if mode == "auto":
            mode = "sidecar" if p.with_suffix(".txt").is_file() or not _is_bandai(p) else "bandai"
        if mode == "sidecar":
            if not p.with_suffix(".txt").is_file():
                skipped.append((p.stem, f"no caption file {p.with_suffix('.txt').name}"))
                continue
            caps[p.stem] = _sidecar_captions(p)
        else:
            try:
                content, style = _bandai_labels(p)
            except DatasetError as e:
                failed.append((p.stem, str(e)))
                continue
            caps[p.stem] = bandai_captions(content, style, p.stem, cfg.seed, cfg.captions_per_clip)
    return caps, skipped, failed


def window_starts(frames: int, window: int, stride: int) -> list[int]:
    """Start frames of the windows of a clip of ``frames`` feature frames (one window if it fits)."""
    if frames <= window:
        return [0]
    starts = list(range(0, frames - window + 1, stride))
    if starts[-1] + window < frames:
        starts.append(frames - window)
    return starts


def window_captions(
    caps: list[CaptionLine], start: int, length: int, total: int, min_len: int, fps: float
) -> list[CaptionLine]:
    """Captions of window [start, start+length) of a clip: whole-clip ones as they are, time-tagged ones
    moved into the window (whole-window when they cover it, dropped when the overlap is below min_len)."""
    if start == 0 and length == total:
        return list(caps)
    out = []
    for c in caps:
        if c.whole_clip:
            out.append(c)
            continue
        a, b = int(c.start * fps), int(c.end * fps)
        lo, hi = max(a, start), min(b, start + length)
        if hi - lo < min_len:
            continue
        if lo == start and hi == start + length:
            out.append(CaptionLine(c.caption, c.tokens))
        else:
            out.append(CaptionLine(c.caption, c.tokens, (lo - start) / fps, (hi - start) / fps))
    return out


# ------------------------------------------------------------------------------------------ workers
@dataclass
class _Task:
    path: str
    captions: list[CaptionLine]
    stage: str
    mapping: dict[str, Any] | None
    fps: float
    window: int
    stride: int
    min_len: int


@dataclass
class _Done:
    stem: str
    clips: list[tuple[str, int]] = field(default_factory=list)  # (name, frames)
    frames: int = 0  # feature frames of the whole file
    feats: list[np.ndarray] = field(default_factory=list)
    error: str | None = None  # broken input
    skip: str | None = None  # usable input that gives no clip


def convert_file(task: _Task) -> _Done:
    """One BVH -> its windows (features, recovered joints, captions) written into the staging folder."""
    from moscale_cli.io.bvh import bvh_to_smpl22
    from moscale_cli.motion.features import joints_to_features, recover_from_ric
    from moscale_cli.motion.skeleton import SMPL22

    path = Path(task.path)
    done = _Done(path.stem)
    try:
        joints = bvh_to_smpl22(path, task.mapping, target_fps=task.fps)
        if not np.all(np.isfinite(joints)):
            raise MoScaleError("NaN or infinite joint positions")
        total = joints.shape[0] - 1
        done.frames = total
        if total < task.min_len:
            done.skip = f"too short ({total} frames at {task.fps:g} fps < {task.min_len})"
            return done
        starts = window_starts(total, task.window, task.stride)
        stage = Path(task.stage)
        for k, s in enumerate(starts):
            n = min(task.window, total - s)
            caps = window_captions(task.captions, s, n, total, task.min_len, task.fps)
            if not caps:
                continue
            feats = joints_to_features(joints[s : s + n + 1], SMPL22, retarget=True)
            if feats.shape != (n, SMPL22.feature_dim) or not np.all(np.isfinite(feats)):
                raise MoScaleError(f"feature extraction gave shape {feats.shape} or non-finite values")
            rec = recover_from_ric(feats, 22).astype(np.float32)
            name = path.stem if len(starts) == 1 else f"{path.stem}_w{k:02d}"
            layout.save_npy(layout.feature_path(stage, name), feats)
            layout.save_npy(layout.joints_path(stage, name), rec)
            layout.write_captions(layout.text_path(stage, name), caps)
            done.clips.append((name, n))
            done.feats.append(feats)
        if not done.clips:
            done.skip = "no caption covers any window"
    except MoScaleError as e:
        done.error = str(e)
    except Exception as e:  # corrupt input can break a parser in many ways; report, don't stop
        done.error = f"{type(e).__name__}: {e}"
    return done


@contextlib.contextmanager
def _single_threaded_children() -> Iterator[None]:
    keys = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update({k: "1" for k in keys})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _run(
    tasks: list[_Task], workers: int, on_progress: Callable[[int, int, str], None] | None
) -> list[_Done]:
    results: list[_Done] = []
    total = len(tasks)
    if workers == 1:
        for t in tasks:
            results.append(convert_file(t))
            if on_progress:
                on_progress(len(results), total, results[-1].stem)
        return results
    with (
        _single_threaded_children(),
        ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool,
    ):
        futures = [pool.submit(convert_file, t) for t in tasks]
        try:
            for fut in as_completed(futures):
                results.append(fut.result())
                if on_progress:
                    on_progress(len(results), total, results[-1].stem)
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    return results


# ------------------------------------------------------------------------------------------ driver
def find_bvh_files(src: Path) -> list[Path]:
    if not src.is_dir():
        raise DatasetError(f"BVH folder {src} does not exist")
    files = sorted(p for p in src.rglob("*") if p.suffix.lower() == ".bvh" and p.is_file())
    if not files:
        raise DatasetError(f"no .bvh files in {src}")
    seen: dict[str, Path] = {}
    for p in files:
        if p.stem in seen:
            raise DatasetError(f"two BVH files share the name {p.stem}: {seen[p.stem]} and {p}")
        seen[p.stem] = p
    return files


@dataclass
class ImportPlan:
    """Everything checked before any conversion starts (files, captions, mapping, output folder)."""

    src: Path
    out: Path
    cfg: ImportConfig
    files: list[Path]
    captions: dict[str, list[CaptionLine]]
    skipped: list[tuple[str, str]]
    failed: list[tuple[str, str]]
    mapping: dict[str, Any] | None


def check_mapping(mapping: dict[str, Any], where: str = "mapping") -> None:
    """A joint mapping must name every SMPL-22 joint (and only those) with a BVH joint name or a list of names."""
    from moscale_cli.motion.skeleton import SMPL22

    if len(where) > 60:
        where = "the mapping"
    missing = [n for n in SMPL22.joint_names if n not in mapping]
    if missing:
        raise UsageError(f"{where} lacks SMPL-22 joints: {', '.join(missing)}")
    unknown = [k for k in mapping if k not in SMPL22.joint_names]
    if unknown:
        raise UsageError(
            f"{where} names unknown SMPL-22 joints: {', '.join(unknown)} (known: {', '.join(SMPL22.joint_names)})"
        )
    for k, v in mapping.items():
        ok = isinstance(v, str) or (isinstance(v, list) and v and all(isinstance(x, str) for x in v))
        if not ok:
            raise UsageError(f"{where}: the value for {k} must be a BVH joint name or a list of names")


def plan_import(
    src: str | os.PathLike, out: str | os.PathLike, cfg: ImportConfig | None = None
) -> ImportPlan:
    """Validate the inputs of an import (raises the clear errors: empty folder, malformed captions, ...)."""
    from moscale_cli.io.bvh import load_mapping

    cfg = cfg or ImportConfig()
    cfg.check()
    src, out = Path(src), Path(out)
    files = find_bvh_files(src)
    mapping = load_mapping(cfg.mapping) if cfg.mapping else None
    if mapping is not None:
        check_mapping(mapping, str(cfg.mapping))
    caps, skipped, failed = resolve_captions(files, cfg)
    if out.exists() and not out.is_dir():
        raise DatasetError(f"output {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not cfg.overwrite:
        raise DatasetError(f"output folder {out} is not empty (pass --overwrite to replace it)")
    return ImportPlan(src, out, cfg, files, caps, skipped, failed, mapping)


def import_bvh_folder(
    src: str | os.PathLike | ImportPlan,
    out: str | os.PathLike | None = None,
    cfg: ImportConfig | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> ImportResult:
    """Import every ``*.bvh`` under ``src`` into the dataset folder ``out`` (or run a ``plan_import`` plan)."""
    from moscale_cli.motion.normalize import compute_stats
    from moscale_cli.motion.skeleton import SMPL22

    t0 = time.perf_counter()
    if isinstance(src, ImportPlan):
        plan = src
    else:
        if out is None:
            raise UsageError("import_bvh_folder needs an output folder")
        plan = plan_import(src, out, cfg)
    src, out, cfg, files, caps, mapping = (
        plan.src,
        plan.out,
        plan.cfg,
        plan.files,
        plan.captions,
        plan.mapping,
    )
    skipped = list(plan.skipped)
    stage = layout.staging_dir(out, cfg.overwrite)
    try:
        tasks = [
            _Task(str(p), caps[p.stem], str(stage), mapping, cfg.fps, cfg.window, cfg.stride, cfg.min_len)
            for p in files
            if p.stem in caps
        ]
        offset = len(files) - len(tasks)  # files skipped before conversion count as done
        if on_progress:
            on_progress(offset, len(files), "")

        def report(done: int, total: int, name: str) -> None:
            if on_progress:
                on_progress(done + offset, total + offset, name)

        results = sorted(_run(tasks, cfg.workers, report), key=lambda r: r.stem)
        failed = sorted(plan.failed + [(r.stem, r.error) for r in results if r.error])
        skipped = sorted(skipped + [(r.stem, r.skip) for r in results if r.skip and not r.error])
        good = [r for r in results if r.clips and not r.error]
        if not good:
            why = "; ".join(f"{n}: {w}" for n, w in (failed + skipped)[:3])
            raise DatasetError(f"no clip could be imported from {src} ({why})")
        splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
        for r in good:
            splits[split_of(r.stem, cfg.seed, cfg.train, cfg.val)].extend(n for n, _ in r.clips)
        mean, std = compute_stats((f for r in good for f in r.feats), SMPL22)
        layout.save_stats(stage, mean, std)
        layout.write_standard_splits(stage, splits)
        frames = sum(n for r in good for _, n in r.clips)
        result = ImportResult(
            out=out,
            files=len(files),
            imported=len(good),
            clips=sum(len(r.clips) for r in good),
            frames=frames,
            hours=frames / cfg.fps / 3600.0,
            source_hours=sum(r.frames for r in good) / cfg.fps / 3600.0,
            splits={k: len(v) for k, v in splits.items()},
            failed=failed,
            skipped=skipped,
        )
        meta = {
            "source": str(src.resolve()),
            "kind": "bvh-import",
            "skeleton": "smpl22",
            "feature_dim": SMPL22.feature_dim,
            "fps": cfg.fps,
            "config": cfg.to_dict(),
            "files": result.files,
            "imported_files": result.imported,
            "clips": result.clips,
            "frames": frames,
            "hours": round(result.hours, 4),
            "source_hours": round(result.source_hours, 4),
            "splits": result.splits,
            "failed": [{"file": n, "reason": w} for n, w in failed],
            "skipped": [{"file": n, "reason": w} for n, w in skipped],
        }
        if any(parse_bandai_name(r.stem) for r in good):
            meta["license"] = (
                "Bandai-Namco-Research-Motiondataset-2 by Bandai Namco Research Inc., CC BY-NC 4.0 "
                "(attribution, non-commercial)"
            )
        write_json_atomic(stage / "meta.json", meta)
        for lic in sorted(src.rglob("LICENSE*"))[:1]:
            shutil.copyfile(lic, stage / "LICENSE-source")
        layout.commit_dir(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    result.seconds = time.perf_counter() - t0
    return result
