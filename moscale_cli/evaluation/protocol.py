"""The evaluation protocol: replications of (GT pass, model pass, real-motion pass) and the metrics.

One replication (seed ``seed + r``):

1. Pass A over the shuffled loader: text embeddings and GT motion embeddings (the FID reference), and the
   model's output for the same batch (captions, GT crop lengths) -> R-precision, MM-Dist, FID, Diversity.
2. MultiModality: for the first ``mm_texts`` items of pass A (the first 3 batches for 96), ``mm_samples``
   outputs each, 10 pairs (stochastic tasks only). The pairs are drawn first and only the outputs they name
   are generated (:func:`mm_samples_used`): on average 17 of the 30, the same statistic in distribution.
3. Real-motion row: a second, independent pass B (fresh captions and crops) scored like a model whose
   output is the GT itself, FID against pass A (T2M's way; gives the small non-zero real FID).
4. Physical plausibility (SMPL-22 data): the metrics of ``evaluation/physics.py`` (foot skate, floating,
   penetration, jerk, bone-length variation) on the joints recovered from the model's outputs of pass A
   (as decoded, no post-process) and from the real motions of pass B; the mean over clips per replication.

Replications are summarised as mean ± 1.96·std/√n (population std).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from moscale_cli.config import ConfigBase
from moscale_cli.errors import UsageError
from moscale_cli.evaluation import metrics as M
from moscale_cli.evaluation.loader import EmbeddingRunner, EvalLoader, length_order

METRIC_ORDER = ("top1", "top2", "top3", "top1_hard", "top2_hard", "top3_hard", "fid", "mm_dist", "diversity",
                "multimodality", "mpjpe_mm", "foot_skate", "floating", "penetration_mm", "jerk", "bone_cv", "bone_cv_max")


@dataclass
class EvalConfig(ConfigBase):
    task: str = "t2m"
    split: str = "test"
    replications: int = 20
    batch_size: int = 32
    mm_texts: int = 96
    mm_samples: int = 30
    mm_pairs: int = 10
    diversity_pairs: int = 0  # 0 = the protocol's rule (300, or 100 when N <= 300)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.replications < 1:
            raise UsageError("--replications must be at least 1")
        if self.batch_size < 2:
            raise UsageError("--batch-size must be at least 2")
        if self.mm_texts < 0 or self.mm_samples < 0:
            raise UsageError("--mm-texts and --mm-samples must be >= 0")
        if self.mm_texts > 0 and self.mm_samples < self.mm_pairs:
            raise UsageError(f"MultiModality needs --mm-samples >= {self.mm_pairs} (or --mm-texts 0)")


def _score(acc: M.MatchingAccumulator, emb: np.ndarray, ref: np.ndarray, rng: np.random.Generator, div_pairs: int) -> dict[str, float]:
    r = acc.r_precision()
    return {
        "top1": float(r[0]), "top2": float(r[1]), "top3": float(r[2]),
        "fid": M.fid(emb, ref),
        "mm_dist": acc.matching_score(),
        "diversity": M.diversity(emb, div_pairs or None, rng),
    }  # fmt: skip


def _hard_r_precision(names: list[str], text: np.ndarray, motion: np.ndarray, labels: dict[str, dict],
                      batch_size: int, seed: int) -> dict[str, float]:
    """R-precision in hard-negative batches (same actions, other count / side / direction / angle; see
    ``evaluation/hard_negatives.py``) over the items that have program labels; empty without enough of them."""
    from moscale_cli.evaluation.hard_negatives import hard_negative_batches

    idx = np.array([i for i, n in enumerate(names) if n in labels], dtype=np.int64)
    if len(idx) < batch_size:
        return {}
    acc = M.MatchingAccumulator()
    for b in hard_negative_batches([labels[names[i]] for i in idx], batch_size, seed):
        rows = idx[np.asarray(b, dtype=np.int64)]
        acc.add(text[rows], motion[rows])
    r = acc.r_precision()
    return {"top1_hard": float(r[0]), "top2_hard": float(r[1]), "top3_hard": float(r[2])}


def _take_rows(batch: dict[str, Any], rows: list[int]) -> dict[str, Any]:
    n = len(batch["lengths"])
    out = {}
    idx = torch.as_tensor(rows, dtype=torch.long)
    for k, v in batch.items():
        if torch.is_tensor(v) and v.ndim >= 1 and v.shape[0] == n:
            out[k] = v[idx]
        elif isinstance(v, list) and len(v) == n:
            out[k] = [v[i] for i in rows]
        else:
            out[k] = v
    return out


def _mm_embeddings(cfg: EvalConfig, batch: dict[str, Any], take: int, runner: EmbeddingRunner, task: Any, seed: int,
                   R: int | None = None) -> np.ndarray:
    """(take, R, D): every text repeated R times (default ``mm_samples``), generated in batches of up to 4x the batch
    size. Embeddings stay in input order (un-permuted), so rows of one text line up across samples."""
    R = cfg.mm_samples if R is None else R
    rows = [i for i in range(take) for _ in range(R)]
    chunk = max(1, 4 * cfg.batch_size)
    embs = []
    for c, s in enumerate(range(0, len(rows), chunk)):
        sub = _take_rows(batch, rows[s : s + chunk])
        out = task.run(sub, seed=seed + c + 1)
        embs.append(runner.motion_embeddings(out, sub["lengths"]))
    return np.concatenate(embs).reshape(take, R, -1)


def _physics_rows(task: Any, feats_eval: torch.Tensor, lengths: torch.Tensor) -> list[dict[str, float]]:
    """Physics metrics (``evaluation/physics.py``) of every motion of a batch (evaluator space), SMPL-22 only."""
    if feats_eval.shape[-1] != 263:
        return []
    from moscale_cli.evaluation.physics import physics_metrics
    from moscale_cli.motion.features import recover_from_ric

    raw = np.asarray(task.ev.denormalize(feats_eval.float().cpu().numpy()), dtype=np.float64)
    return [physics_metrics(recover_from_ric(raw[b, :n], 22)) for b, n in enumerate(lengths.tolist())]


def _mean_rows(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} if rows else {}


def mm_samples_used(cfg: EvalConfig, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MultiModality's two index sets for replication ``seed`` as positions among the samples generated per text,
    and which of the ``mm_samples`` those are (sorted, distinct). The sets are drawn as the protocol draws them
    (``mm_pairs`` of ``mm_samples``, each without replacement); a sample no set names is never generated. As the
    samples of a text are independent draws, this is the protocol's statistic, in distribution, at
    ``len(used) / mm_samples`` of the generations (about 17/30 for 10 pairs of 30)."""
    rng = np.random.default_rng([seed, 0x6D6D])  # the MultiModality sets' own stream ("mm")
    first, second = M.multimodality_index_sets(cfg.mm_samples, cfg.mm_pairs, rng)
    used = np.union1d(first, second)
    return np.searchsorted(used, first), np.searchsorted(used, second), used


def run_replication(cfg: EvalConfig, dataset: Any, runner: EmbeddingRunner, task: Any, rep: int,
                    on_batch: Callable[[], None] | None = None,
                    labels: dict[str, dict] | None = None) -> tuple[dict[str, float], dict[str, float]]:
    """One replication; returns (real-motion metrics, model metrics). With program ``labels`` (a procedural
    corpus), R-precision is also measured in hard-negative batches (``top*_hard``)."""
    seed = cfg.seed + rep
    loader_a = EvalLoader(dataset, cfg.batch_size, seed=seed * 2)
    loader_b = EvalLoader(dataset, cfg.batch_size, seed=seed * 2 + 1)
    rng = np.random.default_rng(seed)
    acc_model, acc_real = M.MatchingAccumulator(), M.MatchingAccumulator()
    gt_emb, model_emb, real_emb, mm_emb = [], [], [], []
    text_a, names_a, text_b, names_b = [], [], [], []
    mpjpe_total, mpjpe_frames = 0.0, 0
    phys_model: list[dict[str, float]] = []
    phys_real: list[dict[str, float]] = []
    mm_left = cfg.mm_texts if task.stochastic else 0
    # MultiModality reads only the samples its two index sets name (drawn first, from a stream of their own): only
    # those are generated, on average 17 of the 30 (see mm_samples_used); the statistic's distribution is the same
    mm_first, mm_second, mm_used = mm_samples_used(cfg, seed) if mm_left > 0 else (None, None, np.zeros(0, int))
    for bi, batch in enumerate(loader_a):
        lengths = batch["lengths"]
        order = length_order(lengths)  # the official evaluator's output order (pairs stay aligned)
        t = runner.text_embeddings(batch)[order]
        g = runner.motion_embeddings(batch["feats"], lengths)[order]
        out = task.run(batch, seed=seed * 100003 + bi)
        m = runner.motion_embeddings(out, lengths)[order]
        acc_model.add(t, m)
        phys_model += _physics_rows(task, out, lengths)
        text_a.append(t)
        names_a += [batch["names"][i] for i in order]
        gt_emb.append(g)
        model_emb.append(m)
        if task.task == "reconstruction":
            from moscale_cli.evaluation.tasks import mpjpe_batch

            s, n = mpjpe_batch(task, batch["feats"], out, lengths)
            mpjpe_total += s
            mpjpe_frames += n
        if mm_left > 0:
            take = min(mm_left, len(lengths))
            mm_emb.append(_mm_embeddings(cfg, batch, take, runner, task, (seed * 100003 + bi) * 1009, len(mm_used)))
            mm_left -= take
        if on_batch is not None:
            on_batch()
    for batch in loader_b:
        order = length_order(batch["lengths"])
        t = runner.text_embeddings(batch)[order]
        g = runner.motion_embeddings(batch["feats"], batch["lengths"])[order]
        acc_real.add(t, g)
        phys_real += _physics_rows(task, batch["feats"], batch["lengths"])
        real_emb.append(g)
        text_b.append(t)
        names_b += [batch["names"][i] for i in order]
        if on_batch is not None:
            on_batch()
    ref = np.concatenate(gt_emb)
    real = _score(acc_real, np.concatenate(real_emb), ref, rng, cfg.diversity_pairs)
    model = _score(acc_model, np.concatenate(model_emb), ref, rng, cfg.diversity_pairs)
    if labels:
        real.update(_hard_r_precision(names_b, np.concatenate(text_b), np.concatenate(real_emb), labels,
                                      cfg.batch_size, seed * 2 + 1))
        model.update(_hard_r_precision(names_a, np.concatenate(text_a), np.concatenate(model_emb), labels,
                                       cfg.batch_size, seed * 2))
    if mm_emb:
        model["multimodality"] = M.multimodality_at(np.concatenate(mm_emb), mm_first, mm_second)
    real.update(_mean_rows(phys_real))
    model.update(_mean_rows(phys_model))
    if mpjpe_frames:
        unit_mm = 1000.0 if runner.bundle.feature_dim == 263 else 1.0  # HumanML3D is in metres, KIT in mm
        model["mpjpe_mm"] = mpjpe_total / mpjpe_frames * unit_mm
    return real, model


def summarize(per_rep: list[dict[str, float]]) -> dict[str, dict[str, Any]]:
    keys = [k for k in METRIC_ORDER if any(k in r for r in per_rep)]
    out = {}
    for k in keys:
        vals = [r[k] for r in per_rep if k in r]
        mean, conf = M.mean_interval(vals)
        out[k] = {"mean": mean, "conf95": conf, "values": vals}
    return out


def run_protocol(cfg: EvalConfig, dataset: Any, runner: EmbeddingRunner, task: Any,
                 progress_cb: Callable[[int, int], Any] | None = None, labels: dict[str, dict] | None = None) -> dict[str, Any]:
    """All replications; returns {"real": summary, "model": summary} (plus the per-replication values)."""
    from moscale_cli.utils.seed import seed_everything

    real_all, model_all = [], []
    for rep in range(cfg.replications):
        seed_everything(cfg.seed + rep)
        tick = None if progress_cb is None else progress_cb(rep, cfg.replications)
        real, model = run_replication(cfg, dataset, runner, task, rep, on_batch=tick, labels=labels)
        real_all.append(real)
        model_all.append(model)
    return {"real": summarize(real_all), "model": summarize(model_all)}


MIN_BATCH = 4  # R@3 in a batch of 3 is always 1


def fit_batch_size(cfg: EvalConfig, items: int, data: str | Path) -> EvalConfig:
    """``cfg`` for a split of ``items`` evaluation items: unchanged when one batch fits; else R-precision runs in
    one batch of all the items, with a warning saying so and what gives full batches; an error (saying what to
    pass) when there are fewer than :data:`MIN_BATCH` items."""
    from dataclasses import replace

    if items >= cfg.batch_size:
        return cfg
    hint = ""
    if cfg.split != "all":
        from moscale_cli.data import layout
        from moscale_cli.errors import DatasetError

        try:
            n_all = len(layout.read_split(Path(data), "all"))
        except DatasetError:  # no all.txt: say nothing about it
            n_all = 0
        if n_all > items:
            hint = f"; --split all has {n_all} clips"
    if items < MIN_BATCH:
        raise UsageError(
            f"split {cfg.split} has {items} evaluation items, too few for R-precision (at least {MIN_BATCH}, "
            f"batches of {cfg.batch_size} in the protocol){hint}"
        )
    from moscale_cli.utils.console import warn

    warn(
        f"split {cfg.split} has {items} evaluation items, fewer than one batch of {cfg.batch_size}: R-precision, "
        f"MM-Dist and the hard negatives are measured in one batch of {items} (R-precision is higher in smaller "
        f"batches, so not comparable with batches of {cfg.batch_size}){hint}"
    )
    return replace(cfg, batch_size=items)


def evaluate(model: str, data: str, evaluator: str, cfg: EvalConfig, sampling_cfg: Any = None, device: str = "auto",
             glove: str | None = None, progress: Any = None) -> dict[str, Any]:
    """Load everything, check compatibility, run the replications and build the report dict.

    ``progress``: an optional rich Progress; one bar per replication is added to it.
    """
    import time

    from moscale_cli.evaluation.evaluators import load_evaluator
    from moscale_cli.evaluation.loader import make_eval_dataset
    from moscale_cli.evaluation.report import build_report, dataset_fingerprint
    from moscale_cli.evaluation.tasks import TASKS, TaskRunner, load_model_handle
    from moscale_cli.utils.device import resolve_device

    t0 = time.perf_counter()
    if cfg.task not in TASKS:
        raise UsageError(f"unknown task '{cfg.task}' (choose from {', '.join(TASKS)})")
    dev = resolve_device(device)
    bundle = load_evaluator(evaluator, glove_dir=glove, device=dev)
    handle = load_model_handle(model, dev, need_generator=cfg.task != "reconstruction")
    if sampling_cfg is not None and cfg.task != "reconstruction":
        sampling_cfg = sampling_cfg.for_model(handle.sampling)
    if handle.feature_dim != bundle.feature_dim:
        raise UsageError(
            f"the model works on {handle.feature_dim}-dim features but the evaluator on {bundle.feature_dim} "
            "(HumanML3D 263 / KIT-ML 251): use an evaluator for the model's dataset"
        )
    dataset = make_eval_dataset(data, cfg.split, bundle, seed=cfg.seed)
    requested_batch = cfg.batch_size
    cfg = fit_batch_size(cfg, len(dataset), data)
    runner = EmbeddingRunner(bundle, dev)
    task = TaskRunner(cfg.task, handle, bundle.normalizer, sampling_cfg, dev)
    n_batches = len(dataset) // cfg.batch_size
    from moscale_cli.utils.console import info
    from moscale_cli.utils.device import ThreadGovernor

    threads = ThreadGovernor(dev, log=info, probe_s=0.5)  # on the CPU the thread count follows the load

    def progress_cb(rep: int, total: int):
        tid = None if progress is None else progress.add_task(f"replication {rep + 1}/{total}", total=2 * n_batches)

        def tick() -> None:
            threads.tick()
            if progress is not None and tid is not None:
                progress.advance(tid)

        return tick

    labels = None
    if (Path(data) / "labels.jsonl").is_file():
        from moscale_cli.evaluation.program.corpus import load_labels

        labels = load_labels(data)
    results = run_protocol(cfg, dataset, runner, task, progress_cb, labels=labels)
    conf = {**cfg.to_dict(), **({"requested_batch_size": requested_batch} if cfg.batch_size != requested_batch else {}),
            "model": str(model), "data": str(data), "evaluator": evaluator, "device": str(dev),
            "sampling": sampling_cfg.to_dict() if sampling_cfg is not None and cfg.task != "reconstruction" else None}
    ev_info = {"kind": bundle.kind, "source": bundle.source, "feature_dim": bundle.feature_dim, **bundle.info}
    model_info = {"path": handle.source, "kind": handle.kind, "feature_dim": handle.feature_dim}
    return build_report(conf, results, dataset_fingerprint(data, cfg.split), ev_info, model_info, len(dataset),
                        time.perf_counter() - t0)
