"""`moscale bench`: generation latency / throughput and training speed with random weights."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from moscale_cli.cli import sampling_opts as so

if TYPE_CHECKING:
    from moscale_cli.sampling.config import SamplingConfig

SECTION_LABELS = {"latency": "latency", "throughput": "throughput", "train_tokenizer": "train tok.",
                  "train_generator": "train gen."}


def _time(v: float) -> str:
    return f"{v:.2f} s" if v >= 1.0 else f"{v * 1000:.1f} ms"


@so.sampling_options
def bench_command(
    preset: str = typer.Option("small", "--preset", help="Model size: tiny, mini, small, base or large."),
    model: str = typer.Option(None, "--model", "-m", help="Time this model directory (either arch) instead of a random preset; sampling sections only."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    batch: int = typer.Option(None, "--batch", help="Throughput batch (default 1024 on CUDA, 8 on CPU)."),
    repeats: int = typer.Option(None, "--repeats", help="Timed runs per row, median reported (default 10 on CUDA, 2 on CPU)."),
    warmup: int = typer.Option(None, "--warmup", help="Untimed runs before timing (default 3 on CUDA, 1 on CPU)."),
    fast: bool = typer.Option(True, "--fast/--no-fast", help="Also time the fast sampling path."),
    next_token: bool = typer.Option(True, "--next-token/--no-next-token", help="Also time the next-token baseline."),
    compile_: bool = typer.Option(False, "--compile", help="torch.compile the fast sampling pass and the training models."),
    sections: str = typer.Option(None, "--sections",
                                 help="Comma-separated subset of: latency, throughput, train_tokenizer, train_generator "
                                      "(default: all; latency,throughput with --model)."),
    json_out: Path = typer.Option(None, "--json", help="Also write all results (with every timing) to this JSON file."),
    threads: str = typer.Option(None, "--threads", show_default="1,2 on the CPU",
                                help="CPU thread counts to time every row with, comma-separated (e.g. 1,2,4)."),
    sampling: SamplingConfig = None,
) -> None:
    """Time generation (batch-1 latency, batched throughput) and training steps, for 196-frame motions.

    Random weights and random MiniLM-width text features: no model or text encoder is needed. Sampling uses
    the sampling flags (by default the reference schedule, 1, 2, 5, 10 refinement passes, with CFG 5)."""
    from rich import box
    from rich.table import Table

    from moscale_cli.bench import BenchConfig, run_bench
    from moscale_cli.cli.common import STATE, console, out
    from moscale_cli.errors import UsageError
    from moscale_cli.utils.atomic import write_json_atomic

    try:
        thread_counts = None if not threads else tuple(int(t) for t in threads.split(",") if t.strip())
    except ValueError:
        raise UsageError(f"--threads takes thread counts like 1,2, got {threads!r}") from None
    if sections is None:
        sections = "latency,throughput" if model else "latency,throughput,train_tokenizer,train_generator"
    bcfg = BenchConfig(preset=preset, device=device, batch=batch, repeats=repeats, warmup=warmup, fast=fast,
                       next_token=next_token, compile=compile_, sampling=sampling, model=model, threads=thread_counts,
                       sections=tuple(s.strip() for s in sections.split(",") if s.strip()))
    log = (lambda s: None) if STATE.quiet else (lambda s: console.print(s, highlight=False, soft_wrap=True))
    res = run_bench(bcfg, log)
    env = res["env"]
    what = f"model {model}" if model else f"preset {preset}"
    title = (f"moscale bench: {what} ({res['params']['generator'] / 1e6:.1f} M generator, "
             f"{res['params']['tokenizer'] / 1e6:.1f} M tokenizer) on {env.get('gpu', env['device'])}")
    counts = list(dict.fromkeys(r["threads"] for r in res["rows"]))
    for n in counts:  # one table per thread count (the same columns as a single-count run)
        label = f", {n} thread{'s' if n > 1 else ''}" if env["device"] == "cpu" else ""
        t = Table(title=title + label, title_justify="left", box=box.SIMPLE_HEAD)
        for col in ("section", "variant", "batch", "median", "speed", "mem"):
            t.add_column(col, justify="left" if col in ("section", "variant") else "right", no_wrap=True)
        for r in (r for r in res["rows"] if r["threads"] == n):
            if "motions_per_s" in r:
                speed = f"{r['motions_per_s']:.1f} motions/s"
            else:
                speed = f"{r['samples_per_s']:.1f} samples/s"
            mem = "-" if r["peak_mib"] is None else f"{r['peak_mib']:.0f} MiB"
            t.add_row(SECTION_LABELS[r["section"]], r["variant"], str(r["batch"]), _time(r["median_s"]), speed, mem)
        out.print(t)
    if json_out is not None:
        write_json_atomic(json_out, res)
        console.print(f"wrote {json_out}")


def register(app: typer.Typer) -> None:
    app.command("bench")(bench_command)
