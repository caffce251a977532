"""``moscale eval --task control``: joint control on a dataset split (the OmniControl / MaskControl protocol).

Every clip of the split (its first caption, its first ``min(frames, window)`` frames rounded down to the
tokenizer unit) gives targets taken from the real clip: the joints ``recover_from_ric`` gives for its features
(the frame of a generated motion: frame 0's pelvis above the origin facing +Z). One row per *control set*: a
joint (``pelvis``, ``left_wrist``, ..., or ``random``: one of the 22 drawn per clip) and a density (``N``
frames, or ``P%`` of the clip's frames; ``100%`` = every frame), the frames drawn per clip; plus the
unconstrained row. The model generates one motion per clip under that control (``sampling/control.py``: the
logit hook of the one sampling loop, the latent refinement, then the root correction) and the row reports:

- ``avg_err``: mean distance (m) of the constrained joint-frames to their targets (``avg_err_sampler``: the
  same before the root correction, in the JSON report);
- ``traj_err``: fraction of clips with a constrained frame off by more than 0.5 m;
- ``loc_err``: fraction of constrained joint-frames off by more than 0.5 m;
- ``foot_skate``: fraction of frame steps in which a foot joint within 5 cm of the floor moves faster than
  0.5 m/s (mean over clips; ``evaluation/physics.py``); ``foot_skate_post`` (and ``avg_err_post`` in the JSON
  report): the same after the post-process every generating command applies (``motion.postprocess``, the
  constrained joints pinned on their targets);
- ``fid``: Fréchet distance between the evaluator's embeddings of the generated motions and of the real clips;
- ``program`` / ``program_all``: on a corpus with program labels, the mean accuracy over attributes and the
  fraction of motions with every attribute right (``evaluation/program``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from moscale_cli.config import ConfigBase
from moscale_cli.errors import DatasetError, UsageError
from moscale_cli.evaluation.physics import foot_skate
from moscale_cli.motion.skeleton import SMPL22_NAMES

DEFAULT_JOINTS = ("pelvis", "left_wrist", "right_wrist", "left_foot", "right_foot", "random")
DEFAULT_DENSITIES = ("1", "2", "5", "25%", "100%")
FAR = 0.5  # m: a constrained frame further than this from its target is a failure (traj / loc error)


@dataclass
class ControlEvalConfig(ConfigBase):
    split: str = "test"
    joints: tuple[str, ...] = DEFAULT_JOINTS
    densities: tuple[str, ...] = DEFAULT_DENSITIES
    max_clips: int = 0  # 0 = every clip of the split
    batch_size: int = 32
    seed: int = 0
    unconstrained: bool = True  # also the row without constraints

    def __post_init__(self) -> None:
        self.joints = tuple(str(j) for j in self.joints)
        self.densities = tuple(str(d) for d in self.densities)
        for j in self.joints:
            if j != "random" and j not in SMPL22_NAMES:
                raise UsageError(f"--control-joints: unknown joint {j!r} (SMPL-22 names or 'random')")
        for d in self.densities:
            density_frames(d, 100)  # checks the form
        if self.batch_size < 1 or self.max_clips < 0:
            raise UsageError("batch size must be >= 1 and max clips >= 0")

    def rows(self) -> list[tuple[str, str] | None]:
        """The rows: None (unconstrained), then (joint, density) for every pair."""
        return ([None] if self.unconstrained else []) + [(j, d) for j in self.joints for d in self.densities]


def density_frames(spec: str, frames: int) -> int:
    """Constrained frames of a clip of ``frames`` frames for a density ``"N"`` or ``"P%"`` (at least 1)."""
    s = str(spec).strip()
    try:
        if s.endswith("%"):
            p = float(s[:-1])
            if not 0 < p <= 100:
                raise ValueError
            return max(1, min(frames, int(round(frames * p / 100.0))))
        n = int(s)
        if n < 1:
            raise ValueError
    except ValueError:
        raise UsageError(f"--control-density: {spec!r} is not a frame count (e.g. 5) or a percentage (e.g. 25%)") from None
    return min(frames, n)


def row_name(row: tuple[str, str] | None) -> str:
    return "unconstrained" if row is None else f"{row[0]} {row[1]}"


@dataclass
class Clip:
    clip: str
    caption: str
    feats: np.ndarray  # (T, D) de-normalised real features, T a multiple of the unit
    joints: np.ndarray  # (T, 22, 3) recovered from them
    label: dict | None = None


def load_clips(data: str | os.PathLike, split: str, unit: int, max_frames: int, max_clips: int = 0,
               labels: dict[str, dict] | None = None) -> list[Clip]:
    """The split's clips: first caption, first ``min(T, max_frames)`` frames rounded down to ``unit``."""
    from moscale_cli.evaluation.program.corpus import split_ids
    from moscale_cli.motion.features import recover_from_ric

    root = Path(data)
    out = []
    for cid in split_ids(root, split):
        path = root / "new_joint_vecs" / f"{cid}.npy"
        if not path.is_file():
            raise DatasetError(f"{path} not found")
        f = np.load(path).astype(np.float32)
        T = min(len(f), max_frames) // unit * unit
        if T < unit * 2:
            continue
        cap = _first_caption(root, cid, labels)
        if cap is None:
            continue
        f = f[:T]
        out.append(Clip(cid, cap, f, np.asarray(recover_from_ric(f.astype(np.float64), 22)),
                        labels.get(cid) if labels else None))
        if max_clips and len(out) >= max_clips:
            break
    if not out:
        raise DatasetError(f"split {split} of {data} has no clip with a caption")
    return out


def _first_caption(root: Path, cid: str, labels: dict[str, dict] | None) -> str | None:
    if labels and cid in labels and labels[cid].get("captions"):
        return str(labels[cid]["captions"][0])
    p = root / "texts" / f"{cid}.txt"
    if not p.is_file():
        return None
    for line in p.read_text(encoding="utf-8").splitlines():
        cap = line.split("#")[0].strip()
        if cap:
            return cap
    return None


def targets_for(clips: Sequence[Clip], row: tuple[str, str], seed: int) -> list[np.ndarray]:
    """(T, 22, 3) targets per clip (NaN = free): the real joint at the drawn frames."""
    joint, density = row
    out = []
    for i, c in enumerate(clips):
        rng = np.random.default_rng([seed, i, sum(map(ord, f"{joint}/{density}"))])
        T = len(c.joints)
        j = int(rng.integers(len(SMPL22_NAMES))) if joint == "random" else SMPL22_NAMES.index(joint)
        frames = np.sort(rng.choice(T, size=density_frames(density, T), replace=False))
        t = np.full((T, 22, 3), np.nan)
        t[frames, j] = c.joints[frames, j]
        out.append(t)
    return out


def control_metrics(errors: Sequence[np.ndarray]) -> dict[str, float]:
    """avg_err, traj_err, loc_err of per-clip distance arrays (see the module doc)."""
    errs = [np.asarray(e, dtype=np.float64) for e in errors]
    flat = np.concatenate(errs) if errs else np.zeros(0)
    if flat.size == 0:
        return {}
    return {"avg_err": float(flat.mean()), "traj_err": float(np.mean([bool((e > FAR).any()) for e in errs])),
            "loc_err": float((flat > FAR).mean())}


def generate(handle: Any, clips: Sequence[Clip], targets: Sequence[np.ndarray] | None, sampling: Any, control: Any,
             seed: int, batch_size: int, on_batch: Callable[[int], None] | None = None,
             ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """(de-normalised features (T, D) per clip, per-clip target distances, the same before the root correction)
    of one row, in batches."""
    from moscale_cli.sampling.control import controlled_sample
    from moscale_cli.sampling.targets import ControlTargets, correct_root, target_errors

    device = next(handle.generator.parameters()).device
    feats: list[np.ndarray] = []
    errs: list[np.ndarray] = []
    before: list[np.ndarray] = []
    for b0 in range(0, len(clips), batch_size):
        chunk = list(range(b0, min(b0 + batch_size, len(clips))))
        lens = torch.tensor([len(clips[i].feats) for i in chunk], device=device)
        tg = None
        if targets is not None:
            tg = ControlTargets.from_arrays([targets[i] for i in chunk], int(lens.max()))
        tf = handle.text_fn([clips[i].caption for i in chunk])
        res = controlled_sample(handle.generator, handle.tokenizer, handle.normalizer, tf, lens, tg, sampling, control,
                                seed + b0)
        raw = handle.normalizer.denormalize(res.feats.float().cpu()).numpy()
        for j, i in enumerate(chunk):
            f = raw[j, : len(clips[i].feats)].astype(np.float32)
            if tg is not None:
                one = tg.rows(torch.tensor([j]))
                before += target_errors(f[None], one)
                f = correct_root(f, tg, j)
                errs += target_errors(f[None], one)
            feats.append(f)
        if on_batch is not None:
            on_batch(len(chunk))
    return feats, errs, before


def embeddings(runner: Any, bundle: Any, feats: Sequence[np.ndarray]) -> np.ndarray:
    """Evaluator motion embeddings of de-normalised features (one clip each)."""
    from moscale_cli.evaluation.loader import MAX_MOTION_LENGTH

    out = []
    for s in range(0, len(feats), 64):
        part = feats[s : s + 64]
        m = torch.zeros(len(part), MAX_MOTION_LENGTH, feats[0].shape[-1])
        for b, f in enumerate(part):
            m[b, : len(f)] = torch.as_tensor(np.asarray(bundle.normalizer.normalize(f.astype(np.float32))))
        out.append(runner.motion_embeddings(m, torch.tensor([len(f) for f in part])))
    return np.concatenate(out)


def evaluate_control(
    model: str | os.PathLike,
    data: str | os.PathLike,
    evaluator: str,
    cfg: ControlEvalConfig | None = None,
    sampling: Any = None,
    control: Any = None,
    device: str = "auto",
    progress: Any = None,
) -> dict[str, Any]:
    """The control task as a report dict: ``results.real`` (the real clips' foot skate and program accuracy) and
    ``results.rows``, one dict per row in order (``control``: its name, then the metrics of the module doc)."""
    from moscale_cli.evaluation import metrics as M
    from moscale_cli.evaluation.evaluators import load_evaluator
    from moscale_cli.evaluation.loader import EmbeddingRunner
    from moscale_cli.evaluation.report import build_report, dataset_fingerprint
    from moscale_cli.evaluation.tasks import load_model_handle
    from moscale_cli.sampling.config import SamplingConfig
    from moscale_cli.utils.device import resolve_device

    cfg = cfg or ControlEvalConfig()
    sampling = (sampling or SamplingConfig())
    t0 = time.perf_counter()
    dev = resolve_device(device)
    handle = load_model_handle(model, dev, need_generator=True)
    sampling = sampling.for_model(handle.sampling)
    if handle.feature_dim != 263:
        raise UsageError("the control task controls SMPL-22 joints (263-dim features)")
    bundle = load_evaluator(evaluator, device=dev)
    if bundle.feature_dim != handle.feature_dim:
        raise UsageError(f"the evaluator works on {bundle.feature_dim}-dim features, the model on {handle.feature_dim}")
    runner = EmbeddingRunner(bundle, dev)
    labels = None
    if (Path(data) / "labels.jsonl").is_file():
        from moscale_cli.evaluation.program.corpus import load_labels

        labels = load_labels(data)
    tok = handle.tokenizer
    clips = load_clips(data, cfg.split, int(tok.unit), int(tok.max_frames), cfg.max_clips, labels)
    real_emb = embeddings(runner, bundle, [c.feats for c in clips])
    rows = cfg.rows()
    tid = progress.add_task("control", total=len(rows) * len(clips)) if progress is not None else None
    results: list[dict[str, Any]] = []
    real = {"foot_skate": float(np.mean([foot_skate(c.joints) for c in clips])), "fid": 0.0}
    if labels:
        real.update(_program([c.joints for c in clips], clips))
    for row in rows:
        t1 = time.perf_counter()
        targets = None if row is None else targets_for(clips, row, cfg.seed)
        feats, errs, before = generate(handle, clips, targets, sampling, control, cfg.seed, cfg.batch_size,
                                       None if tid is None else (lambda k: progress.advance(tid, k)))
        from moscale_cli.motion.features import recover_from_ric

        joints = [np.asarray(recover_from_ric(f.astype(np.float64), 22)) for f in feats]
        r: dict[str, Any] = {"control": row_name(row), **(control_metrics(errs) if row is not None else {})}
        if row is not None:
            r["avg_err_sampler"] = control_metrics(before)["avg_err"]  # before the root correction
        r["foot_skate"] = float(np.mean([foot_skate(j) for j in joints]))
        post = [_postprocessed(j, None if targets is None else targets[i]) for i, j in enumerate(joints)]
        r["foot_skate_post"] = float(np.mean([foot_skate(j) for j in post]))
        if targets is not None:
            r["avg_err_post"] = control_metrics([_distances(j, t) for j, t in zip(post, targets, strict=True)])["avg_err"]
        r["fid"] = M.fid(embeddings(runner, bundle, feats), real_emb)
        if labels:
            r.update(_program(joints, clips))
        r["seconds"] = round(time.perf_counter() - t1, 2)
        results.append(r)
    conf = {**cfg.to_dict(), "task": "control", "model": str(model), "data": str(data), "evaluator": evaluator,
            "device": str(dev), "sampling": sampling.to_dict(), "replications": 1,
            "control": control.to_dict() if control is not None else None}
    ev_info = {"kind": bundle.kind, "source": bundle.source, "feature_dim": bundle.feature_dim}
    return build_report(conf, {"real": real, "rows": results}, dataset_fingerprint(data, cfg.split), ev_info,
                        {"path": handle.source, "kind": handle.kind, "feature_dim": handle.feature_dim}, len(clips),
                        time.perf_counter() - t0)


def _postprocessed(joints: np.ndarray, targets: np.ndarray | None) -> np.ndarray:
    """The joints after the post-process every generating command applies, the constrained joints pinned."""
    from moscale_cli.motion.postprocess import postprocess

    pins = None
    if targets is not None:
        pins = {}
        for j in range(targets.shape[1]):
            fr = np.flatnonzero(np.isfinite(targets[:, j]).any(-1))
            if fr.size:
                pins[j] = (fr, targets[fr, j])
    return postprocess(joints, 20.0, pins=pins).joints


def _distances(joints: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Distances of the constrained joint-frames of joints (T, 22, 3) to targets (T, 22, 3; NaN = free)."""
    t = np.asarray(targets, dtype=np.float64)
    d = np.where(np.isnan(t), 0.0, np.asarray(joints, dtype=np.float64)[: len(t)] - np.nan_to_num(t))
    return np.sqrt((d**2).sum(-1))[np.isfinite(t).any(-1)]


def _program(joints: Sequence[np.ndarray], clips: Sequence[Clip]) -> dict[str, float]:
    from moscale_cli.evaluation.program.score import score_clip, summarize

    scores = [score_clip(np.asarray(j, dtype=np.float32), c.label, c.caption) for j, c in zip(joints, clips, strict=True)
              if c.label is not None]
    if not scores:
        return {}
    s = summarize(scores)
    return {"program": float(s.attribute_mean), "program_all": float(s.clips_all_correct.value)}


COLUMNS = (("avg_err", "err m", "{:.4f}"), ("traj_err", "traj", "{:.3f}"), ("loc_err", "loc", "{:.3f}"),
           ("foot_skate", "skate", "{:.3f}"), ("foot_skate_post", "post", "{:.3f}"), ("fid", "FID", "{:.3f}"),
           ("program", "prog", "{:.3f}"),
           ("program_all", "all", "{:.3f}"))


def _rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"control": "real motion", **results["real"]}, *results["rows"]]


def control_table(results: dict[str, Any], title: str = "") -> Any:
    """A rich Table: one row per control set (the real clips and the unconstrained row first; the fraction of
    motions with every program attribute right is in the report and :func:`markdown_table`)."""
    from rich.table import Table

    rows = _rows(results)
    cols = [c for c in COLUMNS if any(c[0] in r for r in rows) and c[0] != "program_all"]  # 80 columns
    table = Table(title=title or None, title_justify="left")
    table.add_column("control", style="bold", no_wrap=True)
    for _, label, _ in cols:
        table.add_column(label, justify="right", no_wrap=True)
    for r in rows:
        table.add_row(r["control"], *[fmt.format(r[k]) if k in r else "-" for k, _, fmt in cols])
    return table


def markdown_table(results: dict[str, Any]) -> str:
    """The table in markdown (for the README)."""
    rows = _rows(results)
    cols = [c for c in COLUMNS if any(c[0] in r for r in rows)]
    lines = ["| control | " + " | ".join(label for _, label, _ in cols) + " |",
             "| --- |" + " ---: |" * len(cols)]
    for r in rows:
        lines.append(f"| {r['control']} | " + " | ".join(fmt.format(r[k]) if k in r else "-" for k, _, fmt in cols) + " |")
    return "\n".join(lines)


__all__ = ["Clip", "ControlEvalConfig", "control_metrics", "control_table", "density_frames", "evaluate_control",
           "load_clips", "markdown_table", "targets_for"]
