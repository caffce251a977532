"""Merging dataset folders (``moscale data merge``) and summarising one (``moscale data stats``).

``merge_datasets`` copies the clips of every source (features, joints where present, captions, the
procedural corpus's held-out captions where present) into one folder, concatenates train/val/test, and
recomputes Mean/Std over all merged clips. With ``prefix_names`` every id becomes
``<source folder name>_<id>``; without it, a name used by two sources is an error. The result is built in
a hidden folder and renamed into place at the end.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from moscale_cli.data import layout
from moscale_cli.data.dataset import DatasetSpec
from moscale_cli.errors import DatasetError, UsageError
from moscale_cli.motion.skeleton import skeleton_for_dim
from moscale_cli.utils.atomic import write_json_atomic

LENGTH_BINS = (0, 40, 80, 120, 160, 200)


@dataclass
class MergeResult:
    out: Path
    sources: list[str]
    clips: int
    splits: dict[str, int]
    per_source: dict[str, int]


def _source_prefix(root: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", root.resolve().name).strip("-.")
    return name or "source"


def dataset_licenses(roots: Sequence[str | Path]) -> dict[str, str]:
    """Licences recorded in the ``meta.json`` of datasets (a merged dataset passes on its sources')."""
    out: dict[str, str] = {}
    for r in roots:
        meta = Path(r) / "meta.json"
        try:
            m = json.loads(meta.read_text(encoding="utf-8")) if meta.is_file() else {}
        except (OSError, ValueError):
            m = {}
        if isinstance(m.get("license"), str):
            out[Path(r).name] = m["license"]
        for k, v in (m.get("licenses") or {}).items():
            out[str(k)] = str(v)
    return out


def merge_datasets(
    out: str | os.PathLike,
    sources: list[str | os.PathLike],
    prefix_names: bool = False,
    overwrite: bool = False,
) -> MergeResult:
    """Merge dataset folders into ``out``; see the module docstring."""
    from moscale_cli.motion.normalize import compute_stats

    if len(sources) < 1:
        raise UsageError("give at least one dataset folder to merge")
    roots = [Path(s) for s in sources]
    out = Path(out)
    from moscale_cli.utils.paths import check_not_input

    for r in roots:
        if not r.is_dir():
            raise DatasetError(f"dataset folder {r} does not exist")
    check_not_input(out, roots, "the output folder", "choose an output folder outside every source")
    layout.check_output_dir(out, overwrite, "merge", "moscale data merge")
    dims = {r: layout.detect_feature_dim(r) for r in roots}
    if len(set(dims.values())) > 1:
        raise DatasetError(
            "sources have different feature widths: " + ", ".join(f"{r} ({d})" for r, d in dims.items())
        )
    dim = dims[roots[0]]
    prefixes = [_source_prefix(r) for r in roots]
    if prefix_names and len(set(prefixes)) < len(prefixes):
        dup = next(p for p in prefixes if prefixes.count(p) > 1)
        raise UsageError(f"two sources are both named {dup!r}; rename one so their prefixes differ")

    # each source's own shortest clip (its meta.json, else the HumanML3D/KIT default): the merged dataset keeps
    # the smallest, and clips shorter than their own source's minimum are left out
    min_lens = [DatasetSpec.detect(r).min_len for r in roots]

    # plan: (source index, old id, new id, split)
    plan: list[tuple[int, str, str, str]] = []
    owner: dict[str, int] = {}
    for i, r in enumerate(roots):
        for split in layout.CORE_SPLITS:
            for name in layout.read_split(r, split):
                new = f"{prefixes[i]}_{name}" if prefix_names else name
                if new in owner:
                    if owner[new] == i:
                        raise DatasetError(f"{r}: id {name} is listed in more than one split")
                    raise DatasetError(
                        f"id {name} is in both {roots[owner[new]]} and {r} (use --prefix-names to keep both)"
                    )
                owner[new] = i
                plan.append((i, name, new, split))
    if not plan:
        raise DatasetError("the sources list no clips in train/val/test")
    for i, name, _, split in plan:
        r = roots[i]
        for p in (layout.feature_path(r, name), layout.text_path(r, name)):
            if not p.is_file():
                raise DatasetError(f"{r}: {split}.txt lists {name} but {p.relative_to(r)} is missing")

    stage = layout.staging_dir(out, overwrite, "merge", "moscale data merge")
    try:
        feats = []
        short = {(i, name) for i, name, _, _ in plan
                 if layout.feature_header(layout.feature_path(roots[i], name))[0] < min_lens[i]}
        plan = [p for p in plan if (p[0], p[1]) not in short]
        for i, name, new, _ in plan:
            r = roots[i]
            f = np.load(layout.feature_path(r, name), allow_pickle=False)
            if f.ndim != 2 or f.shape[1] != dim or f.shape[0] == 0 or not np.all(np.isfinite(f)):
                raise DatasetError(f"{layout.feature_path(r, name)}: shape {f.shape} or non-finite values")
            feats.append(f)
            shutil.copyfile(layout.feature_path(r, name), layout.feature_path(stage, new))
            shutil.copyfile(layout.text_path(r, name), layout.text_path(stage, new))
            held = layout.heldout_text_path(r, name)
            if held.is_file():
                layout.heldout_text_path(stage, new).parent.mkdir(exist_ok=True)
                shutil.copyfile(held, layout.heldout_text_path(stage, new))
            jp = layout.joints_path(r, name)
            if jp.is_file():
                shutil.copyfile(jp, layout.joints_path(stage, new))
        mean, std = compute_stats(feats, skeleton_for_dim(dim))
        layout.save_stats(stage, mean, std)
        splits = {s: [new for _, _, new, sp in plan if sp == s] for s in layout.CORE_SPLITS}
        layout.write_standard_splits(stage, splits)
        per_source = {str(r): sum(1 for i, *_ in plan if i == k) for k, r in enumerate(roots)}
        write_json_atomic(
            stage / "meta.json",
            {
                "kind": "merge",
                "sources": [str(r.resolve()) for r in roots],
                "prefix_names": prefix_names,
                "feature_dim": dim,
                "clips": len(plan),
                "per_source": per_source,
                "splits": {k: len(v) for k, v in splits.items()},
                "licenses": dataset_licenses(roots),
                "min_len": min(min_lens),
            },
        )
        _merge_labels(roots, {(i, name): new for i, name, new, _ in plan}, stage)
        layout.commit_dir(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return MergeResult(
        out, [str(r) for r in roots], len(plan), {k: len(v) for k, v in splits.items()}, per_source
    )


def _merge_labels(roots: list[Path], renamed: dict[tuple[int, str], str], stage: Path) -> None:
    """The sources' ``labels.jsonl`` rows (procedural corpora) under their new ids, for the merged clips."""
    rows = []
    for i, r in enumerate(roots):
        path = r / "labels.jsonl"
        if not path.is_file():
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                old = str(row["id"])
            except (json.JSONDecodeError, KeyError, TypeError):
                raise DatasetError(f"{path}:{n} is not a label row") from None
            if (i, old) in renamed:
                rows.append(json.dumps({**row, "id": renamed[(i, old)]}, sort_keys=True))
    if rows:
        (stage / "labels.jsonl").write_text("".join(x + "\n" for x in rows), encoding="utf-8")


# ---------------------------------------------------------------------------------------------- stats
@dataclass
class SplitStats:
    split: str
    clips: int = 0  # ids listed
    missing: int = 0  # listed ids without a readable feature file
    frames: int = 0
    captions: int = 0  # caption lines
    subclip_captions: int = 0  # captions with time tags
    lengths: list[int] = field(default_factory=list)

    def hours(self, fps: float) -> float:
        return self.frames / fps / 3600.0

    def length_summary(self) -> dict[str, float]:
        if not self.lengths:
            return {}
        a = np.asarray(self.lengths)
        return {
            "min": int(a.min()),
            "p25": float(np.percentile(a, 25)),
            "median": float(np.median(a)),
            "mean": float(a.mean()),
            "p75": float(np.percentile(a, 75)),
            "max": int(a.max()),
        }

    def histogram(self) -> list[tuple[str, int]]:
        a = np.asarray(self.lengths, dtype=np.int64)
        edges = [*LENGTH_BINS, None]
        out = []
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            n = int(((a >= lo) & (a < hi)).sum()) if hi is not None else int((a >= lo).sum())
            out.append((f"{lo}-{hi - 1}" if hi is not None else f">={lo}", n))
        return out


@dataclass
class DatasetStats:
    root: Path
    feature_dim: int
    fps: float
    splits: dict[str, SplitStats]


def dataset_stats(root: str | os.PathLike, splits: list[str] | None = None) -> DatasetStats:
    """Counts, hours, captions and lengths per split (reads only .npy headers and caption files)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist")
    dim = layout.detect_feature_dim(root)
    fps = skeleton_for_dim(dim).fps
    if splits is None:
        splits = layout.available_splits(root)
        if not splits:
            raise DatasetError(
                f"no split files ({', '.join(s + '.txt' for s in layout.ALL_SPLITS)}) in {root}"
            )
    cache: dict[str, tuple[int | None, int, int]] = {}
    result = {}
    for split in splits:
        st = SplitStats(split)
        for name in layout.read_split(root, split):
            st.clips += 1
            if name not in cache:
                try:
                    shape = layout.feature_header(layout.feature_path(root, name))
                    t = int(shape[0]) if len(shape) == 2 and shape[1] == dim else None
                except (OSError, ValueError):
                    t = None
                ncap = nsub = 0
                try:
                    for ln in layout.text_path(root, name).read_text(encoding="utf-8").splitlines():
                        try:
                            c = layout.parse_caption_line(ln)
                        except ValueError:
                            continue
                        ncap += 1
                        nsub += not c.whole_clip
                except (OSError, UnicodeDecodeError):
                    pass
                cache[name] = (t, ncap, nsub)
            t, ncap, nsub = cache[name]
            if t is None:
                st.missing += 1
                continue
            st.frames += t
            st.lengths.append(t)
            st.captions += ncap
            st.subclip_captions += nsub
        result[split] = st
    return DatasetStats(root, dim, fps, result)
