"""``moscale eval --task program``: generate from every test clip's caption(s) and check the program.

For each test clip of a corpus with ``labels.jsonl`` (the procedural corpus, or a merge that includes it), the
model generates one motion per caption (``captions="all"``; or the first one, one drawn per clip, or the
clip's held-out phrasings with ``"heldout"``) and :func:`score_clip` checks the joints against the clip's
program. The length of each generation (``lengths``):

* ``"own"``: the clip's own length (rounded down to the tokenizer unit);
* ``"random"``: a length drawn (from ``seed`` and the clip id) uniformly between the program's physical
  minimum (``data.synth.timing.min_frames``) and the model's longest, independently of the clip's own: the
  counts must hold at any length, as when a user picks ``--seconds``;
* a number of seconds: that length for every clip, raised to a program's minimum where it is shorter (the
  report counts those clips).

Random and fixed lengths are rounded up to the tokenizer unit (never under the minimum). The real-motion row
scores the corpus's own joints with the same detectors (the self-check: it must reach 0.95 per attribute).
With ``tokens`` a third row scores the model's tokenizer's reconstruction of each real clip (its features
encoded to token ids and decoded): the most the generator's tokens can express, so a model row near it is
bound by the tokenizer, not the generator.
Accuracy per attribute with 95% Wilson intervals, the fraction of generations with every attribute right, and
the mean over attributes (bootstrap interval).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from moscale_cli.config import ConfigBase
from moscale_cli.errors import DatasetError, UsageError
from moscale_cli.evaluation.program.corpus import load_labels, score_real, split_ids
from moscale_cli.evaluation.program.score import ClipScore, score_clip, summarize

CAPTION_MODES = ("all", "first", "one", "heldout")
LENGTH_MODES = ("own", "random")
MAX_SECONDS = 60.0


def parse_lengths(value: str) -> str | float:
    """``own``, ``random`` or a number of seconds (> 0) from ``--lengths``."""
    v = str(value).strip().lower()
    if v in LENGTH_MODES:
        return v
    try:
        sec = float(v.removesuffix("s"))
    except ValueError:
        raise UsageError(f"--lengths must be own, random or a number of seconds, got {value!r}") from None
    if not 0 < sec <= MAX_SECONDS or not np.isfinite(sec):
        raise UsageError(f"--lengths in seconds must be in (0, {MAX_SECONDS:g}], got {value!r}")
    return sec


@dataclass
class ProgramEvalConfig(ConfigBase):
    split: str = "test"
    captions: str = "all"  # all (one generation per caption) | first | one (drawn per clip) | heldout
    samples: int = 1  # generations per caption (seeds seed, seed + 1, ...)
    max_clips: int = 0  # 0 = every labelled clip of the split
    batch_size: int = 32
    seed: int = 0
    lengths: str = "own"  # own | random | seconds (e.g. "8")
    tokens: bool = False  # also score the tokenizer's reconstructions of the real clips

    def __post_init__(self) -> None:
        if self.captions not in CAPTION_MODES:
            raise UsageError(f"--captions must be one of {', '.join(CAPTION_MODES)}, got {self.captions!r}")
        if self.samples < 1 or self.batch_size < 1 or self.max_clips < 0:
            raise UsageError("samples and batch size must be >= 1, max clips >= 0")
        parse_lengths(self.lengths)


@dataclass
class Job:
    clip: str
    caption: str
    frames: int
    sample: int
    raised: bool = False  # the asked length was under the program's minimum: generated at the minimum


def clip_captions(label: dict, mode: str, root: str | os.PathLike | None = None) -> list[str]:
    """The captions of a clip for a caption mode: its training captions (``captions``), or its held-out
    phrasings (``heldout_captions`` in the label, else the lines of ``texts_heldout/<id>.txt``)."""
    from moscale_cli.data.synth.caption_info import captions_of

    cid = str(label.get("id", "?"))
    if mode != "heldout":
        caps = captions_of(label, "train")
        if not caps:
            raise DatasetError(f"clip {cid} has no captions in labels.jsonl")
        return caps
    caps = captions_of(label, "heldout")
    if not caps and root is not None:
        path = Path(root) / "texts_heldout" / f"{cid}.txt"
        if path.is_file():
            caps = [ln.split("#", 1)[0].strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not caps:
        raise DatasetError(
            f"clip {cid} has no held-out captions (heldout_captions in labels.jsonl or texts_heldout/{cid}.txt): "
            "the corpus was written before the held-out phrasings"
        )
    return caps


def program_min_frames(label: dict) -> int:
    """The physical minimum (feature frames) of a label's program (corpus v3 timing)."""
    from dataclasses import fields

    from moscale_cli.data.synth.program import ActionSpec, Program
    from moscale_cli.data.synth.timing import min_frames
    from moscale_cli.data.synth.vocabulary import VocabularyError

    names = {f.name for f in fields(ActionSpec)} - {"span", "events"}
    try:
        specs = [ActionSpec(**{k: v for k, v in a.items() if k in names}) for a in label["actions"]]
        return int(min_frames(Program(specs)))
    except (KeyError, TypeError, ValueError, VocabularyError) as e:
        raise DatasetError(f"clip {label.get('id', '?')}: its program has no physical minimum ({e})") from None


def job_frames(label: dict, lengths: str | float, unit: int, max_frames: int, rng: np.random.Generator) -> tuple[int, bool]:
    """(frames, raised) of one clip's generations under a length mode (see the module docstring)."""
    top = max_frames // unit * unit
    if lengths == "own":
        return min(int(label["frames"]), max_frames) // unit * unit, False
    lo = program_min_frames(label)
    lo_u = min(-(-lo // unit) * unit, top)
    if lengths == "random":
        return int(min(-(-int(rng.integers(lo, max(lo, top) + 1)) // unit) * unit, top)), False
    want = int(round(float(lengths) * 20))
    frames = min(-(-max(want, 1) // unit) * unit, top)
    return (lo_u, True) if frames < lo_u else (frames, False)


def plan_jobs(
    labels: dict[str, dict], ids: list[str], cfg: ProgramEvalConfig, unit: int, max_frames: int,
    root: str | os.PathLike | None = None,
) -> list[Job]:
    """One job per (clip, caption, sample) with its length (``cfg.lengths``)."""
    rng = np.random.default_rng(cfg.seed)
    lengths = parse_lengths(cfg.lengths)
    jobs = []
    for cid in ids:
        label = labels[cid]
        caps = clip_captions(label, cfg.captions, root)
        if cfg.captions == "first":
            caps = caps[:1]
        elif cfg.captions == "one":
            caps = [caps[int(rng.integers(len(caps)))]]
        clip_rng = np.random.default_rng([int(cfg.seed), *cid.encode()])  # a clip's length: its own draw
        frames, raised = job_frames(label, lengths, unit, max_frames, clip_rng)
        if frames < unit:
            continue
        jobs += [Job(cid, c, frames, k, raised) for c in caps for k in range(cfg.samples)]
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


def reconstruct_joints(handle: Any, data: str | os.PathLike, ids: list[str], batch_size: int = 32) -> list[np.ndarray]:
    """Joints (T, 22, 3) of the tokenizer's reconstruction of each clip's features (``new_joint_vecs``), cut to
    a multiple of the tokenizer unit and at most its longest input."""
    from moscale_cli.motion.features import recover_from_ric

    tok = handle.tokenizer
    unit, top = int(tok.unit), int(tok.max_frames)
    device = next(tok.parameters()).device
    out: list[np.ndarray] = []
    for s in range(0, len(ids), batch_size):
        feats, lengths = [], []
        for cid in ids[s : s + batch_size]:
            path = Path(data) / "new_joint_vecs" / f"{cid}.npy"
            if not path.is_file():
                raise DatasetError(f"{path} not found")
            f = np.load(path).astype(np.float32)
            n = min(len(f), top) // unit * unit
            if n < unit:
                raise DatasetError(f"{path}: {len(f)} frames, shorter than the tokenizer unit ({unit})")
            feats.append(f[:n])
            lengths.append(n)
        x = torch.zeros(len(feats), top, feats[0].shape[1])
        for i, f in enumerate(feats):
            x[i, : len(f)] = handle.normalizer.normalize(torch.from_numpy(f))
        L = torch.tensor(lengths, device=device)
        with torch.no_grad():
            rec = tok.decode_ids(tok.encode(x.to(device), L), L)
        joints = recover_from_ric(handle.normalizer.denormalize(rec.float().cpu()), joints_num=22).numpy()
        out += [joints[i, :n].astype(np.float32) for i, n in enumerate(lengths)]
    return out


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
    jobs = plan_jobs(labels, ids, cfg, int(tok.unit), int(tok.max_frames), data)
    tick = None
    if progress is not None:
        tid = progress.add_task("program: generating", total=len(jobs))
        tick = lambda k: progress.advance(tid, k)  # noqa: E731
    joints = generate_joints(handle, jobs, sampling, cfg.seed, cfg.batch_size, tick)
    model_scores = [score_clip(j, labels[job.clip], job.caption) for j, job in zip(joints, jobs, strict=True)]
    real_scores = score_real(data, ids)
    results = {"real": summarize(real_scores, seed=cfg.seed).to_dict(),
               "model": summarize(model_scores, seed=cfg.seed).to_dict()}
    if cfg.tokens:
        rec = reconstruct_joints(handle, data, ids, cfg.batch_size)
        results["tokens"] = summarize([score_clip(j, labels[c]) for j, c in zip(rec, ids, strict=True)], seed=cfg.seed).to_dict()
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
    report["lengths"] = length_summary(jobs, labels, cfg.lengths)
    return report


def length_summary(jobs: list[Job], labels: dict[str, dict], lengths: str) -> dict[str, Any]:
    """The generations' lengths against the clips' own: mode, frames range, and clips raised to their minimum."""
    frames = np.array([j.frames for j in jobs]) if jobs else np.zeros(1)
    own = np.array([int(labels[j.clip]["frames"]) for j in jobs]) if jobs else np.zeros(1)
    raised = sorted({j.clip for j in jobs if j.raised})
    out: dict[str, Any] = {"mode": lengths, "frames_min": int(frames.min()), "frames_max": int(frames.max()),
                           "frames_mean": round(float(frames.mean()), 1), "own_frames_mean": round(float(own.mean()), 1),
                           "clips_raised_to_minimum": len(raised)}
    if raised:
        out["note"] = (f"{len(raised)} clip(s) need more than {lengths} s: generated at their programs' minimum "
                       f"({', '.join(raised[:5])}{', ...' if len(raised) > 5 else ''})")
    return out


def program_table(results: dict[str, Any], title: str = "") -> Any:
    """A rich Table (one row per attribute, then the overall rows; real motion and model columns) in 80 columns."""
    from rich.table import Table

    def cell(r: dict | None) -> str:
        if not r or r.get("n", 1) == 0:
            return "-"
        return f"{r['acc']:.3f} [{r['lo']:.3f}, {r['hi']:.3f}]"

    def short(r: dict | None) -> str:  # the accuracy alone (the table stays within 80 columns with a tokens column)
        return "-" if not r or r.get("n", 1) == 0 else f"{r['acc']:.3f}"

    real, model, tokens = results["real"], results["model"], results.get("tokens")
    ref = short if tokens else cell
    table = Table(title=title or None, title_justify="left")
    table.add_column("attribute", style="bold", no_wrap=True)
    table.add_column("real" if tokens else "real motion", justify="right", no_wrap=True)
    if tokens:
        table.add_column("tokens", justify="right", no_wrap=True)
    table.add_column("model", justify="right", no_wrap=True)
    table.add_column("n", justify="right", no_wrap=True)

    def row(name: str, key: str | None, n: str) -> None:
        get = (lambda r: r["per_attribute"].get(name)) if key is None else (lambda r: r[key])  # noqa: E731
        cells = [ref(get(real))] + ([short(get(tokens))] if tokens else []) + [cell(get(model))]
        table.add_row(name, *cells, n)

    for a in dict.fromkeys([*real["per_attribute"], *model["per_attribute"]]):
        m = model["per_attribute"].get(a)
        row(a, None, str(m["n"]) if m else "-")
    row("mean over attributes", "overall_attribute_mean", "")
    row("all attributes right", "overall_clips_all_correct", str(model["overall_clips_all_correct"]["n"]))
    return table


__all__ = ["CAPTION_MODES", "ClipScore", "Job", "ProgramEvalConfig", "evaluate_program", "generate_joints",
           "plan_jobs", "program_ids", "program_table"]
