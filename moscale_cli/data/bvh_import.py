"""Import a folder of BVH files as a dataset in the HumanML3D layout (``moscale data import-bvh``).

Per file: SMPL-22 joints at 20 fps (``io.bvh.bvh_to_smpl22``: any rig with a built-in, detected or
given mapping, units from the skeleton's height, frame rate from the file), HumanML3D features with
retargeting (``motion.features.joints_to_features``), and ``new_joints`` recovered from those features
so the two agree exactly. Clips longer than ``window`` frames become windows ``<name>_w00``,
``<name>_w01``, ... of ``window`` frames every ``stride`` frames (the last one aligned with the end of
the clip); clips shorter than ``min_len`` are skipped (``meta.json`` records ``min_len`` so that the
reader keeps the same clips).

Captions: a sidecar ``<name>.txt`` beside the BVH (lines ``caption#tokens#from#to`` or plain text),
or labels (``data.labels``: the dataset's own label files, else the file name) through templates,
or built from the labels' words for labels without templates. A label that does not resolve is a
warning on that file. Splits: train/val/test by a seeded hash of the file name, so all windows of a
file share a split.
The dataset is built in a hidden folder beside ``out`` and renamed into place at the end, so a failed
or interrupted import never leaves a half-written dataset (and the next import over ``out`` removes the
staging folder of a killed one). ``src`` may also be an archive (``.tar.gz``, ``.tgz``, ``.tar``, ``.zip``),
read member by member without unpacking it (``data/archive.py``). The output may not be, contain or lie
inside the source, and ``overwrite`` replaces only an earlier import's output (``meta.json`` kind
``bvh-import``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from moscale_cli.config import ConfigBase
from moscale_cli.data import layout
from moscale_cli.data.captions import label_captions, tag_tokens
from moscale_cli.data.labels import DATASET_NAME, LabelFinder, resolve_labels
from moscale_cli.data.layout import CaptionLine
from moscale_cli.errors import DatasetError, MoScaleError, MoScaleWarning, UsageError
from moscale_cli.utils.atomic import write_json_atomic

CAPTION_MODES = ("auto", "sidecar", "labels", "bandai")  # "bandai": the old name of "labels"
MIN_LEN_FLOOR = 4  # the models' time unit: no clip can be shorter


@dataclass
class ImportConfig(ConfigBase):
    captions: str = "auto"  # auto | sidecar | labels
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
        if not (MIN_LEN_FLOOR <= self.min_len <= self.window) or self.stride < 1:
            raise UsageError(
                f"need {MIN_LEN_FLOOR} <= min_len <= window and stride >= 1 "
                f"(got {self.min_len}, {self.window}, {self.stride})"
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
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (file, what): labels that did not resolve
    seconds: float = 0.0
    too_short: list[tuple[str, int]] = field(default_factory=list)  # (file, frames) skipped under min_len
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


def _sidecar_captions(path: Path) -> list[CaptionLine]:
    side = path.with_suffix(".txt")
    lines = layout.read_captions(side, allow_plain=True)  # DatasetError on a malformed line
    return [c if c.tokens else CaptionLine(c.caption, tag_tokens(c.caption), c.start, c.end) for c in lines]


@dataclass
class CaptionPlan:
    captions: dict[str, list[CaptionLine]]
    skipped: list[tuple[str, str]]
    failed: list[tuple[str, str]]
    warnings: list[tuple[str, str]]


def resolve_captions(files: list[Path], cfg: ImportConfig, src: Path | None = None) -> CaptionPlan:
    """Captions of every file, before any conversion. Malformed sidecar lines and garbage in label tables
    raise (they stop the import); a file without captions or labels is skipped; labels that do not
    resolve are warnings on their file."""
    finder = LabelFinder(src if src is not None else (files[0].parent if files else Path(".")))
    plan = CaptionPlan({}, [], [], [])
    for p in files:
        mode = "labels" if cfg.captions == "bandai" else cfg.captions
        if mode == "auto":
            mode = "sidecar" if p.with_suffix(".txt").is_file() else "labels"
        if mode == "sidecar":
            if not p.with_suffix(".txt").is_file():
                plan.skipped.append((p.stem, f"no caption file {p.with_suffix('.txt').name}"))
                continue
            plan.captions[p.stem] = _sidecar_captions(p)
            continue
        labels, warns = resolve_labels(p, finder)
        plan.warnings.extend((p.stem, w) for w in warns)
        caps = label_captions(labels, p.stem, cfg.seed, cfg.captions_per_clip)
        if not caps:
            plan.skipped.append(
                (p.stem, "no captions (no sidecar .txt, no labels in label files or the file name)")
            )
            continue
        plan.captions[p.stem] = caps
    return plan


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
    data: bytes | None = None  # the file's bytes (an archive member); None = read ``path``


@dataclass
class _Done:
    stem: str
    clips: list[tuple[str, int]] = field(default_factory=list)  # (name, frames)
    frames: int = 0  # feature frames of the whole file
    feats: list[np.ndarray] = field(default_factory=list)
    error: str | None = None  # broken input
    skip: str | None = None  # usable input that gives no clip
    too_short: bool = False
    warnings: list[str] = field(default_factory=list)  # implausible frame time, ...


def convert_file(task: _Task) -> _Done:
    """One BVH -> its windows (features, recovered joints, captions) written into the staging folder."""
    from moscale_cli.io.bvh import bvh_to_smpl22
    from moscale_cli.motion.features import joints_to_features, recover_from_ric
    from moscale_cli.motion.skeleton import SMPL22

    path = Path(task.path)
    done = _Done(path.stem)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", MoScaleWarning)
            joints = bvh_to_smpl22(path, task.mapping, target_fps=task.fps, data=task.data)
        done.warnings = [str(w.message) for w in caught if issubclass(w.category, MoScaleWarning)]
        if not np.all(np.isfinite(joints)):
            raise MoScaleError("NaN or infinite joint positions")
        total = joints.shape[0] - 1
        done.frames = total
        if total < task.min_len:
            done.skip = f"too short ({total} frames at {task.fps:g} fps < --min-len {task.min_len})"
            done.too_short = True
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


_ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _run(
    tasks: Iterable[_Task], total: int, workers: int, on_progress: Callable[[int, int, str], None] | None
) -> list[_Done]:
    """Convert every task (one process, or a pool of ``workers`` one-thread processes that never outlive this
    call: terminated on any exception, Ctrl-C or SIGTERM, and gone by themselves if this process is killed)."""
    from moscale_cli.utils.pool import imap_bounded, worker_pool

    results: list[_Done] = []
    if workers == 1:
        for t in tasks:
            results.append(convert_file(t))
            if on_progress:
                on_progress(len(results), total, results[-1].stem)
        return results
    with worker_pool(workers, env=_ONE_THREAD) as pool:
        for done in imap_bounded(pool, convert_file, tasks, max_pending=4 * workers):
            results.append(done)
            if on_progress:
                on_progress(len(results), total, done.stem)
    return results


# ------------------------------------------------------------------------------------------ driver
def find_bvh_files(src: Path) -> list[Path]:
    if src.is_file():
        from moscale_cli.data.archive import ARCHIVE_SUFFIXES

        raise DatasetError(f"{src} is a file: give a folder of .bvh files or an archive ({', '.join(ARCHIVE_SUFFIXES)})")
    if not src.is_dir():
        raise DatasetError(f"BVH folder {src} does not exist")
    files = sorted(p for p in src.rglob("*") if p.suffix.lower() == ".bvh" and p.is_file())
    if not files:
        raise DatasetError(f"no .bvh files in {src}")
    return _unique_stems(files)


def _unique_stems(files: list[Path]) -> list[Path]:
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
    warnings: list[tuple[str, str]] = field(default_factory=list)
    archive: Any = None  # data.archive.BvhArchive when ``src`` is an archive
    tree: Path | None = None  # the archive's side files (captions, labels, licence), mirrored; removed at the end

    @property
    def root(self) -> Path:
        """The folder the BVH paths, sidecars and label tables live in (``src``, or the archive's mirror)."""
        return self.tree if self.tree is not None else self.src

    def cleanup(self) -> None:
        if self.tree is not None:
            shutil.rmtree(self.tree, ignore_errors=True)

    def tasks(self, stage: Path) -> Iterator[_Task]:
        """One task per file with captions (an archive's BVH bytes read here, one member at a time)."""
        cfg = self.cfg

        def task(p: Path, data: bytes | None = None) -> _Task:
            return _Task(str(p), self.captions[p.stem], str(stage), self.mapping, cfg.fps, cfg.window,
                         cfg.stride, cfg.min_len, data)

        if self.archive is None:
            for p in self.files:
                if p.stem in self.captions:
                    yield task(p)
            return
        assert self.tree is not None
        for rel, data in self.archive.members():
            p = self.tree / rel
            if p.stem in self.captions:
                yield task(p, data)


def check_import_paths(src: Path, out: Path) -> None:
    """The output may not be, contain or lie inside the source (an import over its own source deleted it)."""
    from moscale_cli.utils.paths import check_not_input

    check_not_input(out, [src], "the output folder", "choose an output folder outside the source")


def plan_import(
    src: str | os.PathLike, out: str | os.PathLike, cfg: ImportConfig | None = None
) -> ImportPlan:
    """Validate the inputs of an import (raises the clear errors: empty folder, malformed captions, ...)."""
    from moscale_cli.data.archive import BvhArchive, is_archive
    from moscale_cli.io.bvh import load_mapping
    from moscale_cli.motion.mapping import check_mapping

    cfg = cfg or ImportConfig()
    cfg.check()
    src, out = Path(src), Path(out)
    check_import_paths(src, out)
    mapping = load_mapping(cfg.mapping) if cfg.mapping else None
    if mapping is not None:
        where = str(cfg.mapping)
        check_mapping(mapping, where if len(where) <= 60 else "the mapping")
    layout.check_output_dir(out, cfg.overwrite, "bvh-import", "moscale data import-bvh")
    if not is_archive(src):
        files = find_bvh_files(src)
        cp = resolve_captions(files, cfg, src)
        return ImportPlan(src, out, cfg, files, cp.captions, cp.skipped, cp.failed, mapping, cp.warnings)
    from moscale_cli.utils.atomic import temp_dir

    archive = BvhArchive(src)
    tree = temp_dir(out, "archive")
    try:
        archive.scan(tree)
        files = _unique_stems([tree / rel for rel in archive.bvh])
        cp = resolve_captions(files, cfg, tree)
    except BaseException:
        shutil.rmtree(tree, ignore_errors=True)
        raise
    skipped = cp.skipped + [(name, why) for name, _, why in (u.partition(": ") for u in archive.unsafe)]
    return ImportPlan(src, out, cfg, files, cp.captions, skipped, cp.failed, mapping, cp.warnings, archive, tree)


def _license_file(src: Path, beside: bool = True) -> Path | None:
    """The source's LICENSE file: under ``src``, else beside it when ``src`` is the data/ folder of a
    dataset whose cfg/ lies beside it."""
    found = sorted(p for p in src.rglob("LICENSE*") if p.is_file())
    if not found and beside and (src.parent / "cfg").is_dir():
        found = sorted(p for p in src.parent.glob("LICENSE*") if p.is_file())
    return found[0] if found else None


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
    src, out, cfg, files, caps = plan.src, plan.out, plan.cfg, plan.files, plan.captions
    skipped = list(plan.skipped)
    try:
        stage = layout.staging_dir(out, cfg.overwrite, "bvh-import", "moscale data import-bvh")
    except BaseException:
        plan.cleanup()
        raise
    try:
        n_tasks = sum(1 for p in files if p.stem in caps)
        offset = len(files) - n_tasks  # files skipped before conversion count as done
        if on_progress:
            on_progress(offset, len(files), "")

        def report(done: int, total: int, name: str) -> None:
            if on_progress:
                on_progress(done + offset, total + offset, name)

        results = sorted(_run(plan.tasks(stage), n_tasks, cfg.workers, report), key=lambda r: r.stem)
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
            warnings=sorted(plan.warnings + [(r.stem, w) for r in results for w in r.warnings]),
            too_short=[(r.stem, r.frames) for r in results if r.too_short and not r.error],
        )
        meta = {
            "source": str(src.resolve()),
            "kind": "bvh-import",
            "skeleton": "smpl22",
            "feature_dim": SMPL22.feature_dim,
            "fps": cfg.fps,
            "min_len": cfg.min_len,
            "max_len": cfg.window,
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
            "warnings": [{"file": n, "warning": w} for n, w in result.warnings],
        }
        bandai = sorted(
            {m["prefix"] for r in good if (m := DATASET_NAME.match(r.stem))} & {"dataset-1", "dataset-2"}
        )
        if bandai:
            names = ", ".join(f"Bandai-Namco-Research-Motion{b}" for b in bandai)
            meta["license"] = (
                f"{names} by Bandai Namco Research Inc., CC BY-NC 4.0 (attribution, non-commercial)"
            )
        write_json_atomic(stage / "meta.json", meta)
        lic = _license_file(plan.root, beside=plan.tree is None)
        if lic is not None:
            shutil.copyfile(lic, stage / "LICENSE-source")
        layout.commit_dir(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    finally:
        plan.cleanup()
    result.seconds = time.perf_counter() - t0
    return result
