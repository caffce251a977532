"""``moscale eval --task program``: generate from every test clip's caption(s) and check the program.

For each test clip of a corpus with ``labels.jsonl`` (the procedural corpus, or a merge that includes it), the
model generates one motion per caption (``captions="all"``; or the first one, or one drawn per clip) with the
clip's own length (rounded down to the tokenizer unit), and :func:`score_clip` checks the joints against the
clip's program. The real-motion row scores the corpus's own joints with the same detectors (the self-check:
it must reach 0.95 per attribute). Accuracy per attribute with 95% Wilson intervals, the fraction of
generations with every attribute right, and the mean over attributes (bootstrap interval).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from moscale_cli.config import ConfigBase
from moscale_cli.errors import DatasetError, UsageError
from moscale_cli.evaluation.program.corpus import load_labels, score_real, split_ids
from moscale_cli.evaluation.program.score import ClipScore, score_clip, summarize

CAPTION_MODES = ("all", "first", "one")


@dataclass
class ProgramEvalConfig(ConfigBase):
    split: str = "test"
    captions: str = "all"  # all (one generation per caption) | first | one (drawn per clip from the seed)
    samples: int = 1  # generations per caption (seeds seed, seed + 1, ...)
    max_clips: int = 0  # 0 = every labelled clip of the split
    batch_size: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        if self.captions not in CAPTION_MODES:
            raise UsageError(f"--captions must be one of {', '.join(CAPTION_MODES)}, got {self.captions!r}")
        if self.samples < 1 or self.batch_size < 1 or self.max_clips < 0:
            raise UsageError("samples and batch size must be >= 1, max clips >= 0")


@dataclass
class Job:
    clip: str
    caption: str
    frames: int
    sample: int


def plan_jobs(labels: dict[str, dict], ids: list[str], cfg: ProgramEvalConfig, unit: int, max_frames: int) -> list[Job]:
    """One job per (clip, caption, sample); lengths are the clips' own, rounded down to the unit."""
    rng = np.random.default_rng(cfg.seed)
    jobs = []
    for cid in ids:
        label = labels[cid]
        caps = [str(c) for c in label.get("captions") or []]
        if not caps:
            raise DatasetError(f"clip {cid} has no captions in labels.jsonl")
        if cfg.captions == "first":
            caps = caps[:1]
        elif cfg.captions == "one":
            caps = [caps[int(rng.integers(len(caps)))]]
        frames = min(int(label["frames"]), max_frames) // unit * unit
        if frames < unit:
            continue
        jobs += [Job(cid, c, frames, k) for c in caps for k in range(cfg.samples)]
    return jobs


@torch.no_grad()
def generate_joints(handle: Any, jobs: list[Job], sampling: Any, seed: int, batch_size: int,
                    on_batch: Callable[[int], None] | None = None) -> list[np.ndarray]:
    """Joints (T, 22, 3) for every job, generated in batches (batch b uses seed ``seed + b``; a job's sample
    index k shifts its batch's seed by ``1000 k`` so samples differ)."""
    from moscale_cli.motion.features import recover_from_ric
    from moscale_cli.sampling.sampler import sample

    out: list[np.ndarray | None] = [None] * len(jobs)
    order = sorted(range(len(jobs)), key=lambda i: (jobs[i].sample, jobs[i].frames))
    device = next(handle.generator.parameters()).device
    for b, s in enumerate(range(0, len(order), batch_size)):
        idx = order[s : s + batch_size]
        caps = [jobs[i].caption for i in idx]
        lengths = torch.tensor([jobs[i].frames for i in idx], device=device)
        res = sample(handle.generator, handle.tokenizer, handle.text_fn(caps), lengths, sampling,
                     generator_seed=seed + b + 1000 * jobs[idx[0]].sample)
        raw = handle.normalizer.denormalize(res.feats.float().cpu())
        joints = recover_from_ric(raw, joints_num=22).numpy()
        for j, i in enumerate(idx):
            out[i] = joints[j, : jobs[i].frames].astype(np.float32)
        if on_batch is not None:
            on_batch(len(idx))
    return out  # type: ignore[return-value]


def program_ids(data: str | os.PathLike, split: str, labels: dict[str, dict], max_clips: int = 0) -> list[str]:
    ids = [i for i in split_ids(data, split) if i in labels]
    if not ids:
        raise DatasetError(f"split {split} of {data} has no clip with a program in labels.jsonl")
    return ids[:max_clips] if max_clips else ids


def evaluate_program(
    model: str | os.PathLike,
    data: str | os.PathLike,
    cfg: ProgramEvalConfig | None = None,
    sampling: Any = None,
    device: str = "auto",
    progress: Any = None,
) -> dict[str, Any]:
    """The program task as a report dict (``results.real`` and ``results.model`` are program summaries)."""
    from moscale_cli.evaluation.report import build_report, dataset_fingerprint
    from moscale_cli.evaluation.tasks import load_model_handle
    from moscale_cli.sampling.config import SamplingConfig
    from moscale_cli.utils.device import resolve_device

    cfg = cfg or ProgramEvalConfig()
    sampling = sampling or SamplingConfig()
    t0 = time.perf_counter()
    labels = load_labels(data)
    ids = program_ids(data, cfg.split, labels, cfg.max_clips)
    dev = resolve_device(device)
    handle = load_model_handle(model, dev, need_generator=True)
    sampling = sampling.for_model(handle.sampling)
    if handle.feature_dim != 263:
        raise UsageError("the program task checks SMPL-22 motion (263-dim features)")
    tok = handle.tokenizer
    jobs = plan_jobs(labels, ids, cfg, int(tok.unit), int(tok.max_frames))
    tick = None
    if progress is not None:
        tid = progress.add_task("program: generating", total=len(jobs))
        tick = lambda k: progress.advance(tid, k)  # noqa: E731
    joints = generate_joints(handle, jobs, sampling, cfg.seed, cfg.batch_size, tick)
    model_scores = [score_clip(j, labels[job.clip], job.caption) for j, job in zip(joints, jobs, strict=True)]
    real_scores = score_real(data, ids)
    results = {"real": summarize(real_scores, seed=cfg.seed).to_dict(),
               "model": summarize(model_scores, seed=cfg.seed).to_dict()}
    conf = {**cfg.to_dict(), "task": "program", "model": str(model), "data": str(data), "device": str(dev),
            "sampling": sampling.to_dict(), "replications": 1}
    report = build_report(conf, results, dataset_fingerprint(data, cfg.split), {"kind": "program detectors"},
                          {"path": handle.source, "kind": handle.kind, "feature_dim": handle.feature_dim},
                          len(jobs), time.perf_counter() - t0)
    report["generations"] = [
        {"clip": job.clip, "caption": job.caption, "frames": job.frames, "sample": job.sample,
         "all_correct": s.all_correct, "failures": s.failures()}
        for job, s in zip(jobs, model_scores, strict=True)
    ]
    return report


def program_table(results: dict[str, Any], title: str = "") -> Any:
    """A rich Table (one row per attribute, then the overall rows; real motion and model columns) in 80 columns."""
    from rich.table import Table

    def cell(r: dict | None) -> str:
        if not r or r.get("n", 1) == 0:
            return "-"
        return f"{r['acc']:.3f} [{r['lo']:.3f}, {r['hi']:.3f}]"

    real, model = results["real"], results["model"]
    table = Table(title=title or None, title_justify="left")
    table.add_column("attribute", style="bold", no_wrap=True)
    table.add_column("real motion", justify="right", no_wrap=True)
    table.add_column("model", justify="right", no_wrap=True)
    table.add_column("n", justify="right", no_wrap=True)
    for a in dict.fromkeys([*real["per_attribute"], *model["per_attribute"]]):
        m = model["per_attribute"].get(a)
        table.add_row(a, cell(real["per_attribute"].get(a)), cell(m), str(m["n"]) if m else "-")
    table.add_row("mean over attributes", cell(real["overall_attribute_mean"]), cell(model["overall_attribute_mean"]), "")
    table.add_row("all attributes right", cell(real["overall_clips_all_correct"]), cell(model["overall_clips_all_correct"]),
                  str(model["overall_clips_all_correct"]["n"]))
    return table


__all__ = ["CAPTION_MODES", "ClipScore", "Job", "ProgramEvalConfig", "evaluate_program", "generate_joints",
           "plan_jobs", "program_ids", "program_table"]
