"""`moscale data synth OUT`: write the procedural text-motion corpus."""

from __future__ import annotations

from pathlib import Path

import typer

from moscale_cli.cli.common import info, out, progress


def register(data_app: typer.Typer) -> None:
    @data_app.command("synth")
    def synth(
        out_dir: Path = typer.Argument(..., metavar="OUT", help="Folder to create (HumanML3D layout + labels.jsonl)."),
        clips: int = typer.Option(1000, "--clips", "-n", help="Number of clips."),
        seed: int = typer.Option(0, "--seed", help="Corpus seed (same seed = byte-identical files)."),
        workers: int = typer.Option(2, "--workers", "-j", help="Worker processes."),
        overwrite: bool = typer.Option(
            False, "--overwrite", help="Replace OUT when it is an earlier `data synth` output (never another folder)."
        ),
    ) -> None:
        """Generate the procedural text-motion corpus (SMPL-22 motions, several captions per clip)."""
        from moscale_cli.data.layout import check_output_dir
        from moscale_cli.data.synth.corpus import build_corpus, check_out
        from moscale_cli.errors import DatasetError, UsageError
        from moscale_cli.utils.atomic import ensure_parent, remove_stale

        try:
            check_output_dir(out_dir, overwrite, "synth", "moscale data synth")  # --overwrite: only its own output
        except DatasetError as e:
            raise UsageError(str(e)) from None  # synth's output errors are usage errors (exit 2), as before
        remove_stale(ensure_parent(out_dir))  # parent folders are created; a killed run's staging folder removed
        check_out(out_dir, overwrite)
        with progress() as bar:
            task = bar.add_task("synth", total=clips)
            summary = build_corpus(
                out_dir, clips, seed=seed, workers=workers, overwrite=overwrite,
                on_progress=lambda done, total: bar.update(task, completed=done),
            )  # fmt: skip
        info(
            f"wrote {summary['clips']} clips ({summary['hours']:.2f} h; train/val/test "
            f"{summary['splits']['train']}/{summary['splits']['val']}/{summary['splits']['test']}) to {out_dir}"
        )
        out.print(str(out_dir))
