"""`moscale data import-bvh | merge | stats`: build and inspect dataset folders (HumanML3D layout)."""

from __future__ import annotations

from pathlib import Path

import typer

from moscale_cli.cli.common import console, info, out, progress, warn


def import_bvh(
    src: Path = typer.Argument(
        ..., metavar="SRC",
        help="Folder of .bvh files (searched recursively), or an archive of one (.tar.gz, .tgz, .tar, .zip; read "
        "in place, never unpacked).",
    ),
    dest: Path = typer.Argument(
        ..., metavar="OUT", help="Dataset folder to write (parent folders are created); not inside SRC nor around it."
    ),
    captions: str = typer.Option(
        "auto",
        "--captions",
        help="auto (the sidecar if there is one, else labels) | sidecar (<name>.txt beside each BVH, "
        "lines caption#tokens#from#to or plain text) | labels (the dataset's label files: <name>.json "
        "indices into cfg/<key>_label.txt, else the file name <dataset>_<content>_<style>_<n> or its words).",
    ),
    mapping: str = typer.Option(
        None,
        "--mapping",
        help='JSON file (or inline JSON) {"pelvis": "<bvh joint>", ...}; default: built in (ours, Bandai-Namco) '
        "or detected from CMU/Mixamo-style joint names.",
    ),
    workers: int = typer.Option(2, "--workers", "-j", help="Worker processes."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split hash and the caption choice."),
    window: int = typer.Option(196, "--window", help="Longest clip in frames; longer ones become windows."),
    stride: int = typer.Option(160, "--stride", help="Frames between window starts."),
    min_len: int = typer.Option(
        40,
        "--min-len",
        help="Shortest clip/window kept (frames at 20 fps, >= 4); recorded in meta.json so training and "
        "evaluation keep the same clips.",
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace OUT when it is an earlier import-bvh output (never another folder)."
    ),
) -> None:
    """Import a folder (or an archive) of BVH files: SMPL-22 retargeting, 20 fps, features, captions, splits, Mean/Std."""
    from moscale_cli.data.bvh_import import ImportConfig, import_bvh_folder, plan_import

    cfg = ImportConfig(
        captions=captions,
        mapping=mapping,
        workers=workers,
        seed=seed,
        window=window,
        stride=stride,
        min_len=min_len,
        overwrite=overwrite,
    )
    plan = plan_import(src, dest, cfg)  # the clear errors come before the progress bar
    with progress() as bar:
        task = bar.add_task("importing BVH", total=len(plan.files))

        def on_progress(done: int, total: int, name: str) -> None:
            bar.update(task, completed=done, total=total)

        res = import_bvh_folder(plan, on_progress=on_progress)
    short = {n for n, _ in res.too_short}
    skipped = [(n, w) for n, w in res.skipped if n not in short]
    if len(res.too_short) == 1:
        skipped = sorted(skipped + [x for x in res.skipped if x[0] in short])
    elif res.too_short:
        from rich.markup import escape

        lengths = [f for _, f in res.too_short]
        span = f"{min(lengths)}" if min(lengths) == max(lengths) else f"{min(lengths)}..{max(lengths)}"
        console.print(
            f"[yellow]warning:[/yellow] {len(lengths)} files shorter than --min-len {cfg.min_len} skipped "
            f"({span} frames at {cfg.fps:g} fps; --min-len {max(min(lengths), 4)} keeps them; "
            f"listed in {escape(str(dest / 'meta.json'))})",
            soft_wrap=True,
            highlight=False,
        )
    for label, items in (("failed", res.failed), ("skipped", skipped), ("with label warnings", res.warnings)):
        if items:
            warn(f"{len(items)} file(s) {label}:")
            for name, why in items[:20]:
                console.print(f"  {name}: {why}", highlight=False, markup=False, soft_wrap=True)
            if len(items) > 20:
                console.print(
                    f"  ... and {len(items) - 20} more (listed in {dest / 'meta.json'})", highlight=False
                )
    out.print(
        f"{dest}: {res.imported}/{res.files} files ({res.source_hours:.2f} h) -> {res.clips} clips ({res.hours:.2f} h), "
        f"train/val/test {res.splits['train']}/{res.splits['val']}/{res.splits['test']}, "
        f"{len(res.failed)} failed, {len(res.skipped)} skipped, {res.seconds:.1f} s ({res.rate:.1f} files/s)",
        highlight=False,
        soft_wrap=True,
    )


def merge(
    dest: Path = typer.Argument(..., metavar="OUT", help="Dataset folder to write."),
    sources: list[Path] = typer.Argument(..., metavar="DIR...", help="Dataset folders to merge."),
    prefix_names: bool = typer.Option(
        False, "--prefix-names", help="Prefix every id with its source folder name."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace OUT when it is an earlier merge output (never another folder)."
    ),
) -> None:
    """Merge dataset folders: clips, captions and splits; Mean/Std recomputed."""
    from moscale_cli.data.merge import merge_datasets

    info(f"merging {len(sources)} dataset(s) into {dest}")
    res = merge_datasets(dest, sources, prefix_names=prefix_names, overwrite=overwrite)
    per = ", ".join(f"{Path(k).name}: {v}" for k, v in res.per_source.items())
    out.print(
        f"{dest}: {res.clips} clips ({per}); train/val/test "
        f"{res.splits['train']}/{res.splits['val']}/{res.splits['test']}",
        highlight=False,
        soft_wrap=True,
    )


STATS_LEGEND = (
    "clips: ids in the split file; miss: ids without a readable feature file (left out of the rest); "
    "hours: motion time; caps: caption lines; tagged: captions of a part of the clip (a #from#to time range); "
    "min/med/mean/max: clip length in frames"
)


def stats(
    root: Path = typer.Argument(..., metavar="DIR", help="Dataset folder."),
    split: list[str] = typer.Option(
        None, "--split", help="Only these splits (default: every split file present)."
    ),
) -> None:
    """Clip counts per split, hours, captions, and a summary of the clip lengths (the columns are explained
    under the table)."""
    from rich.table import Table

    from moscale_cli.data.merge import dataset_stats

    st = dataset_stats(root, split or None)
    table = Table(title=f"{root} ({st.feature_dim}-dim, {st.fps:g} fps)")
    for col in ("split", "clips", "miss", "hours", "caps", "tagged", "min", "med", "mean", "max"):
        table.add_column(col, justify="left" if col == "split" else "right")
    for s in st.splits.values():
        ls = s.length_summary()
        table.add_row(
            s.split,
            str(s.clips),
            str(s.missing),
            f"{s.hours(st.fps):.2f}",
            str(s.captions),
            str(s.subclip_captions),
            *(f"{ls[k]:.0f}" if ls else "-" for k in ("min", "median", "mean", "max")),
        )
    out.print(table)
    first = st.splits.get("all") or next(iter(st.splits.values()))
    hist = "  ".join(f"{label}: {n}" for label, n in first.histogram())
    out.print(f"lengths ({first.split}, frames): {hist}", highlight=False, soft_wrap=True)
    out.print(STATS_LEGEND, highlight=False)


def register(data_app: typer.Typer) -> None:
    data_app.command("import-bvh")(import_bvh)
    data_app.command("merge")(merge)
    data_app.command("stats")(stats)
