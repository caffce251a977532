"""Evaluation reports: JSON on disk (configuration, provenance, per-replication values) and a rich table."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

from moscale_cli.utils.atomic import write_json_atomic

LABELS = {
    "top1": "R@1 ↑", "top2": "R@2 ↑", "top3": "R@3 ↑",
    "top1_hard": "R@1 hard negatives ↑", "top2_hard": "R@2 hard negatives ↑", "top3_hard": "R@3 hard negatives ↑",
    "fid": "FID ↓", "mm_dist": "MM-Dist ↓", "diversity": "Diversity →", "multimodality": "MModality ↑",
    "mpjpe_mm": "MPJPE mm ↓",
    "foot_skate": "foot skate ↓", "floating": "floating ↓", "penetration_mm": "penetration mm ↓",
    "jerk": "jerk m/s³ ↓", "bone_cv": "bone CV % ↓", "bone_cv_max": "worst bone CV % ↓",
}  # fmt: skip


def dataset_fingerprint(root: str | os.PathLike, split: str) -> dict[str, Any]:
    """Number of files and a SHA-256 over the split file and the feature/caption files it lists."""
    from moscale_cli.data import layout

    root = Path(root)
    names = layout.read_split(root, split)
    h = hashlib.sha256()
    files = [layout.split_path(root, split)]
    for n in names:
        files += [layout.feature_path(root, n), layout.text_path(root, n)]
    count = 0
    for p in files:
        h.update(str(p.relative_to(root)).encode() + b"\0")
        if p.is_file():
            count += 1
            with open(p, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
        else:
            h.update(b"<missing>")
    return {"root": str(root), "split": split, "ids": len(names), "files": count, "sha256": h.hexdigest()}


def git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        r = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if r.returncode != 0:
        return None
    commit = r.stdout.strip()
    try:
        d = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True, text=True, timeout=5)
        if d.returncode == 0 and d.stdout.strip():
            commit += "-dirty"
    except (OSError, subprocess.SubprocessError):
        pass
    return commit


def build_report(config: dict[str, Any], results: dict[str, Any], dataset: dict[str, Any], evaluator: dict[str, Any],
                 model: dict[str, Any], items: int, seconds: float) -> dict[str, Any]:
    from moscale_cli import __version__

    return {
        "format": "moscale-eval-report",
        "version": 1,
        "moscale_version": __version__,
        "git_commit": git_commit(),
        "config": config,
        "seeds": [config["seed"] + r for r in range(config["replications"])],
        "dataset": {**dataset, "eval_items": items},
        "evaluator": evaluator,
        "model": model,
        "results": results,
        "seconds": round(seconds, 2),
    }


def write_report(path: str | os.PathLike, report: dict[str, Any]) -> None:
    write_json_atomic(path, report)


def format_cell(m: dict[str, Any] | None) -> str:
    """``mean ± interval``; the mean alone for a single replication (an interval of one value means nothing)."""
    if m is None:
        return "-"
    if len(m.get("values", ())) == 1:
        return f"{m['mean']:.3f}"
    return f"{m['mean']:.3f} ± {m['conf95']:.3f}"


def results_table(results: dict[str, Any], title: str = "") -> Any:
    """A rich Table with one row per metric and the real-motion and model columns (fits 80 columns)."""
    from rich.table import Table

    keys = [k for k in LABELS if k in results["real"] or k in results["model"]]
    table = Table(title=title or None, title_justify="left")
    table.add_column("metric", style="bold", no_wrap=True)
    table.add_column("real motion", justify="right", no_wrap=True)
    table.add_column("model", justify="right", no_wrap=True)
    for k in keys:
        table.add_row(LABELS[k], format_cell(results["real"].get(k)), format_cell(results["model"].get(k)))
    return table
