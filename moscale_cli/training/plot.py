"""Loss / metric curves of a run (``log.jsonl``) to a PNG."""

from __future__ import annotations

import json
import os
from pathlib import Path

from moscale_cli.errors import MoScaleError, UsageError


def read_log(run_dir: str | os.PathLike) -> list[dict]:
    path = Path(run_dir) / "log.jsonl"
    if not path.is_file():
        raise MoScaleError(f"no log.jsonl in {run_dir}")
    recs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            recs.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    if not recs:
        raise MoScaleError(f"{path} holds no records")
    return recs


def plot_run(run_dir: str | os.PathLike, output: str | os.PathLike | None = None) -> Path:
    """One panel per scalar series: training loss terms, then each validation metric; returns the PNG path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from moscale_cli.utils.atomic import atomic_path

    out = Path(output) if output is not None else Path(run_dir) / "curves.png"
    if out.suffix.lower() != ".png":
        raise UsageError(f"plot output must end in .png, got {out}")
    recs = read_log(run_dir)
    series: dict[str, tuple[list[int], list[float]]] = {}
    skip = {"step", "epoch", "samples_per_s", "best", "cpu_threads"}
    for r in recs:
        items = []
        for k, v in r.items():
            if isinstance(v, list):
                items += [(f"{k}_s{i}", x) for i, x in enumerate(v)]
            else:
                items.append((k, v))
        for k, v in items:
            if k in skip or not isinstance(v, (int, float)) or isinstance(v, bool):
                continue
            xs, ys = series.setdefault(k, ([], []))
            xs.append(r["step"])
            ys.append(float(v))
    keys = sorted(series, key=lambda k: (k.startswith("val_"), k != "loss", k))
    n = len(keys)
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.2 * rows), squeeze=False)
    for ax, k in zip(axes.flat, keys, strict=False):
        xs, ys = series[k]
        ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, ms=3)
        ax.set_title(k)
        ax.set_xlabel("step")
        if k in ("loss", "recon", "pos", "commit") and min(ys) > 0:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return out
