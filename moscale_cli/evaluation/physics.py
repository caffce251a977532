"""Physical plausibility of SMPL-22 joint motions (metres, Y up, floor at y = 0): foot skating, floating,
ground penetration, jitter and bone-length variation (definitions: docs/evaluation.md).

Per clip (joints (T, 22, 3) at ``fps``):

- ``foot_skate``: fraction of the T - 1 frame steps in which some foot joint (ankles, toes) is within
  ``contact_height`` (5 cm) of the floor at both ends of the step and moves horizontally faster than
  ``skate_speed`` (0.5 m/s);
- ``floating``: fraction of frames in which the body is unsupported (no foot joint within ``contact_height``
  of the floor) for longer than ``max_flight`` (0.5 s, the flight of a 30 cm jump): no jump lasts that
  long, so the body hovers;
- ``penetration_mm``: mean over frames of how far the lowest joint is below the floor (millimetres; 0 above
  it);
- ``jerk``: mean over frames and joints of the norm of the third finite difference of positions times
  fps^3 (m/s^3);
- ``bone_cv``/``bone_cv_max``: coefficient of variation (std / mean over the clip) of each bone's length,
  mean over the 21 bones / the worst bone, in percent.

A set of clips gets the mean of each metric over its clips (:func:`physics_summary`).

``moscale eval --task physics`` (:func:`evaluate_physics`): the model generates one motion per clip of a
split (the clip's first whole-clip caption, its length up to the model's window, rounded down to the
tokenizer unit); the report has the metrics of the real clips (the same crops, joints recovered from their
features), of the model's motions as decoded, and of the same motions after the post-process
(``motion.postprocess``, the default of every generating command).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from moscale_cli.config import ConfigBase
from moscale_cli.errors import UsageError
from moscale_cli.motion.kinematics import bone_lengths
from moscale_cli.motion.skeleton import L_ANKLE, L_FOOT, R_ANKLE, R_FOOT, SMPL22

if TYPE_CHECKING:
    from moscale_cli.sampling.config import SamplingConfig

FOOT_JOINTS = (L_ANKLE, R_ANKLE, L_FOOT, R_FOOT)  # ankles, toes ("foot" joints of SMPL)
PHYSICS_METRICS = ("foot_skate", "floating", "penetration_mm", "jerk", "bone_cv", "bone_cv_max")
PHYSICS_LABELS = {
    "foot_skate": "foot skate ↓", "floating": "floating ↓", "penetration_mm": "penetration mm ↓",
    "jerk": "jerk m/s³ ↓", "bone_cv": "bone CV % ↓", "bone_cv_max": "worst bone CV % ↓",
}  # fmt: skip


@dataclass
class PhysicsConfig(ConfigBase):
    fps: float = 20.0
    floor: float = 0.0
    contact_height: float = 0.05  # m: a foot joint this close to the floor touches it
    skate_speed: float = 0.5  # m/s: a touching foot joint moving faster skates
    max_flight: float = 0.5  # s: longest plausible time without support

    def __post_init__(self) -> None:
        if self.fps <= 0 or self.contact_height <= 0 or self.skate_speed <= 0 or self.max_flight <= 0:
            raise UsageError("physics metrics: fps, contact height, skate speed and flight time must be positive")


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    d = np.flatnonzero(m[1:] != m[:-1])
    return list(zip(d[::2].tolist(), d[1::2].tolist(), strict=True))


def _check(joints: np.ndarray) -> np.ndarray:
    j = np.asarray(joints, dtype=np.float64)
    if j.ndim != 3 or j.shape[1:] != (22, 3):
        raise UsageError(f"physics metrics need SMPL-22 joints (T, 22, 3), got shape {j.shape}")
    if not np.isfinite(j).all():
        raise UsageError("physics metrics got NaN or infinite joint positions")
    return j


def foot_skate(joints: np.ndarray, cfg: PhysicsConfig | None = None) -> float:
    cfg = cfg or PhysicsConfig()
    j = _check(joints)
    if j.shape[0] < 2:
        return 0.0
    feet = j[:, FOOT_JOINTS]
    low = feet[..., 1] - cfg.floor < cfg.contact_height  # (T, 4)
    speed = np.linalg.norm(np.diff(feet[..., [0, 2]], axis=0), axis=-1) * cfg.fps  # (T-1, 4)
    skating = low[1:] & low[:-1] & (speed > cfg.skate_speed)
    return float(skating.any(axis=1).mean())


def floating(joints: np.ndarray, cfg: PhysicsConfig | None = None) -> float:
    cfg = cfg or PhysicsConfig()
    j = _check(joints)
    lowest = j[:, FOOT_JOINTS, 1].min(axis=1) - cfg.floor
    unsupported = lowest > cfg.contact_height
    longest = cfg.max_flight * cfg.fps
    hovering = sum(b - a for a, b in _runs(unsupported) if b - a > longest)
    return float(hovering / j.shape[0])


def penetration(joints: np.ndarray, cfg: PhysicsConfig | None = None) -> float:
    """Mean depth (metres) of the lowest joint below the floor, over frames (0 for a frame above it)."""
    cfg = cfg or PhysicsConfig()
    j = _check(joints)
    return float(np.maximum(cfg.floor - j[..., 1].min(axis=1), 0.0).mean())


def jerk(joints: np.ndarray, cfg: PhysicsConfig | None = None) -> float:
    cfg = cfg or PhysicsConfig()
    j = _check(joints)
    if j.shape[0] < 4:
        return 0.0
    return float(np.linalg.norm(np.diff(j, 3, axis=0), axis=-1).mean() * cfg.fps**3)


def bone_cv(joints: np.ndarray) -> tuple[float, float]:
    """(mean over bones, worst bone) coefficient of variation of bone lengths, in percent."""
    j = _check(joints)
    lengths = bone_lengths(SMPL22.parents, j)[:, 1:]
    cv = lengths.std(axis=0) / np.maximum(lengths.mean(axis=0), 1e-12) * 100.0
    return float(cv.mean()), float(cv.max())


def physics_metrics(joints: np.ndarray, cfg: PhysicsConfig | None = None) -> dict[str, float]:
    """Every metric of one clip."""
    cfg = cfg or PhysicsConfig()
    cv, cv_max = bone_cv(joints)
    return {
        "foot_skate": foot_skate(joints, cfg), "floating": floating(joints, cfg),
        "penetration_mm": 1000.0 * penetration(joints, cfg), "jerk": jerk(joints, cfg), "bone_cv": cv, "bone_cv_max": cv_max,
    }  # fmt: skip


def physics_summary(clips: Iterable[np.ndarray], cfg: PhysicsConfig | None = None) -> dict[str, float]:
    """Mean of every metric over clips (plus ``clips``: how many)."""
    rows = [physics_metrics(c, cfg) for c in clips]
    if not rows:
        raise UsageError("physics metrics need at least one clip")
    out = {k: float(np.mean([r[k] for r in rows])) for k in PHYSICS_METRICS}
    out["clips"] = len(rows)
    return out


# --------------------------------------------------------------------------------- moscale eval --task physics
ROWS = (("real", "real motion"), ("model", "model"), ("postprocessed", "post-processed"))


@dataclass
class PhysicsEvalConfig(ConfigBase):
    split: str = "test"
    max_clips: int = 0  # 0 = every clip of the split
    batch_size: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_clips < 0 or self.batch_size < 1:
            raise UsageError("max clips must be >= 0 and the batch size >= 1")


@dataclass
class PhysicsJob:
    clip: str
    caption: str
    frames: int


def plan_physics_jobs(data: str, split: str, unit: int, max_frames: int, max_clips: int = 0) -> list[PhysicsJob]:
    """One job per clip of the split that has features and a caption: its first whole-clip caption (else its
    first), its length up to ``max_frames``, rounded down to ``unit`` (clips shorter than one unit skipped)."""
    from moscale_cli.data import layout
    from moscale_cli.errors import DatasetError

    jobs = []
    for name in layout.read_split(data, split):
        fp, tp = layout.feature_path(data, name), layout.text_path(data, name)
        if not fp.is_file() or not tp.is_file():
            continue
        caps = layout.read_captions(tp)
        cap = next((c for c in caps if c.whole_clip), caps[0]).caption
        frames = min(int(layout.feature_header(fp)[0]), max_frames) // unit * unit
        if frames >= unit:
            jobs.append(PhysicsJob(name, cap, frames))
        if max_clips and len(jobs) >= max_clips:
            break
    if not jobs:
        raise DatasetError(f"split {split} of {data} has no clip with features and a caption")
    return jobs


def evaluate_physics(
    model: str, data: str, cfg: PhysicsEvalConfig | None = None, sampling: SamplingConfig | None = None,
    device: str = "auto", progress: Any = None, metric_cfg: PhysicsConfig | None = None,
) -> dict[str, Any]:
    """The physics task as a report dict: ``results`` = {"real", "model", "postprocessed"}, each
    ``{metric: {"mean", "conf95", "values"}}`` (one value per clip; 95% interval over clips)."""
    import time

    import torch

    from moscale_cli.data import layout
    from moscale_cli.evaluation.metrics import mean_interval
    from moscale_cli.evaluation.report import build_report, dataset_fingerprint
    from moscale_cli.evaluation.tasks import load_model_handle
    from moscale_cli.motion.features import recover_from_ric
    from moscale_cli.motion.postprocess import postprocess
    from moscale_cli.sampling.config import SamplingConfig
    from moscale_cli.sampling.sampler import sample
    from moscale_cli.utils.device import resolve_device

    cfg = cfg or PhysicsEvalConfig()
    mcfg = metric_cfg or PhysicsConfig()
    t0 = time.perf_counter()
    dev = resolve_device(device)
    handle = load_model_handle(model, dev, need_generator=True)
    if handle.feature_dim != 263:
        raise UsageError("the physics task measures SMPL-22 motion (263-dim features)")
    scfg = (sampling or SamplingConfig()).for_model(handle.sampling)
    tok = handle.tokenizer
    jobs = plan_physics_jobs(data, cfg.split, int(tok.unit), int(tok.max_frames), cfg.max_clips)
    tick = None
    if progress is not None:
        tid = progress.add_task("physics: generating", total=len(jobs))
        tick = lambda k: progress.advance(tid, k)  # noqa: E731
    rows: dict[str, list[dict[str, float]]] = {k: [] for k, _ in ROWS}
    for j in jobs:
        feats = np.load(layout.feature_path(data, j.clip))[: j.frames]
        rows["real"].append(physics_metrics(recover_from_ric(feats.astype(np.float64), 22), mcfg))
    order = sorted(range(len(jobs)), key=lambda i: jobs[i].frames)
    generated: list[np.ndarray | None] = [None] * len(jobs)
    with torch.no_grad():
        for b, s in enumerate(range(0, len(order), cfg.batch_size)):
            idx = order[s : s + cfg.batch_size]
            lengths = torch.tensor([jobs[i].frames for i in idx], device=dev)
            res = sample(handle.generator, tok, handle.text_fn([jobs[i].caption for i in idx]), lengths, scfg,
                         generator_seed=cfg.seed + b)
            raw = handle.normalizer.denormalize(res.feats.float().cpu())
            joints = recover_from_ric(raw, joints_num=22).numpy().astype(np.float64)
            for r, i in enumerate(idx):
                generated[i] = joints[r, : jobs[i].frames]
            if tick is not None:
                tick(len(idx))
    for g in generated:
        assert g is not None
        rows["model"].append(physics_metrics(g, mcfg))
        rows["postprocessed"].append(physics_metrics(postprocess(g, fps=mcfg.fps).joints, mcfg))
    results = {}
    for key, per_clip in rows.items():
        results[key] = {}
        for m in PHYSICS_METRICS:
            vals = [r[m] for r in per_clip]
            mean, conf = mean_interval(vals)
            results[key][m] = {"mean": mean, "conf95": conf, "values": vals}
    conf_d = {**cfg.to_dict(), "task": "physics", "model": str(model), "data": str(data), "device": str(dev),
              "sampling": scfg.to_dict(), "replications": 1, "metrics": mcfg.to_dict()}
    report = build_report(conf_d, results, dataset_fingerprint(data, cfg.split), {"kind": "physics metrics"},
                          {"path": handle.source, "kind": handle.kind, "feature_dim": handle.feature_dim},
                          len(jobs), time.perf_counter() - t0)
    report["clips"] = [{"clip": j.clip, "caption": j.caption, "frames": j.frames} for j in jobs]
    return report


def physics_table(results: dict[str, Any], title: str = "") -> Any:
    """A rich Table: one row per metric; real motion, model, model + post-process columns (mean ± 95%)."""
    from rich.table import Table

    from moscale_cli.evaluation.report import format_cell

    table = Table(title=title or None, title_justify="left")
    table.add_column("metric", style="bold", no_wrap=True)
    keys = [k for k, _ in ROWS if k in results]
    for k, label in ROWS:
        if k in results:
            table.add_column(label, justify="right", no_wrap=True)
    for m in PHYSICS_METRICS:
        table.add_row(PHYSICS_LABELS[m], *[format_cell(results[k].get(m)) for k in keys])
    return table


__all__ = [
    "FOOT_JOINTS",
    "PHYSICS_LABELS",
    "PHYSICS_METRICS",
    "PhysicsConfig",
    "PhysicsEvalConfig",
    "PhysicsJob",
    "evaluate_physics",
    "physics_table",
    "plan_physics_jobs",
    "bone_cv",
    "floating",
    "foot_skate",
    "jerk",
    "penetration",
    "physics_metrics",
    "physics_summary",
]
