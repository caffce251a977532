"""Tokenizer training stage (method spec §2.3) and loading of a finished tokenizer run.

Loss = SmoothL1(recon, gt) + lambda_pos * SmoothL1 on the root-relative joint positions (ric dims)
+ lambda_commit * commitment, every term masked to the valid frames. Two optional terms (off in the reference
recipe) weigh the root, which is 4 of the 263 dims and so almost free to get wrong under per-dim statistics:
lambda_root * SmoothL1 on the root dims (rotation velocity, planar velocity, height), and lambda_traj *
SmoothL1 on the trajectory they integrate to (the facing angle in radians and the planar root position in
metres, frame by frame), where a small velocity bias becomes a large error (a circle that turns 180 degrees).
Validation reports the root-aligned reconstruction MPJPE in mm, the global MPJPE (trajectory included), the
final facing error in degrees, the feature L1 and per-scale codebook usage / perplexity.

A run may start from an exported tokenizer (``init_from``): its weights, its configuration and its
normalisation statistics (a fine-tune keeps the statistics the weights were trained with).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from moscale_cli.checkpoint import save_json, save_module
from moscale_cli.config import ConfigBase
from moscale_cli.model_dir import TOKENIZER_CONFIG, TOKENIZER_WEIGHTS
from moscale_cli.models.quantizer import code_stats
from moscale_cli.models.tokenizer import MSTokenizer, TokenizerConfig
from moscale_cli.motion.skeleton import skeleton_for_dim
from moscale_cli.training.stage import Batch, Collate, Logs, TrainingStage

if TYPE_CHECKING:
    from moscale_cli.data.dataset import MotionDataset
    from moscale_cli.motion.normalize import Normalizer
    from moscale_cli.training.loop import TrainConfig


@dataclass
class TokenizerStageConfig(ConfigBase):
    lambda_pos: float = 0.5
    lambda_commit: float = 0.02
    stats: str = "dataset"  # "dataset", "evaluator" or "official:DIR" normalisation statistics (see resolve_stats)
    val_split: str = "val"  # split used for validation ("" = none)
    val_max_items: int = 0  # 0 = all
    val_batch_size: int = 64
    lambda_root: float = 0.0  # SmoothL1 on the root dims (normalised), mean over those dims
    lambda_traj: float = 0.0  # SmoothL1 on the integrated facing angle (rad) and planar root position (m)
    init_from: str = ""  # an exported tokenizer run (train-tokenizer --out) to start from
    select: str = "mpjpe"  # best weights by: mpjpe (root-aligned, the reference) or global_mpjpe

    def __post_init__(self) -> None:
        if self.lambda_root < 0 or self.lambda_traj < 0 or self.lambda_pos < 0 or self.lambda_commit < 0:
            from moscale_cli.errors import ConfigError

            raise ConfigError("tokenizer loss weights must be >= 0")
        if self.select not in ("mpjpe", "global_mpjpe"):
            from moscale_cli.errors import ConfigError

            raise ConfigError(f"tokenizer: select must be mpjpe or global_mpjpe, got {self.select!r}")


ROOT_DIMS = 4  # rotation velocity, planar velocity (2), height: the first dims of every feature layout


def masked_smooth_l1(pred_BTD: torch.Tensor, gt_BTD: torch.Tensor, mask_BT: torch.Tensor) -> torch.Tensor:
    m = mask_BT.unsqueeze(-1).to(pred_BTD.dtype)
    err = F.smooth_l1_loss(pred_BTD.float(), gt_BTD.float(), reduction="none") * m
    return err.sum() / (m.sum() * pred_BTD.shape[-1]).clamp(min=1)


def trajectory(feats_BTD: torch.Tensor, normalizer: Normalizer) -> torch.Tensor:
    """(B, T, 3) facing angle (rad) and planar root position x, z (m) integrated from normalised features
    (differentiable)."""
    from moscale_cli.motion.features import facing_angle, recover_root_rot_pos

    raw = normalizer.denormalize(feats_BTD.float())
    _, pos = recover_root_rot_pos(raw)
    return torch.stack([facing_angle(raw), pos[..., 0], pos[..., 2]], dim=-1)


def tokenizer_loss(
    model: torch.nn.Module, batch: Batch, ric: slice, lambda_pos: float, lambda_commit: float,
    lambda_root: float = 0.0, lambda_traj: float = 0.0, normalizer: Normalizer | None = None,
) -> tuple[torch.Tensor, Logs]:
    feats, lengths = batch["feats"], batch["lengths"]
    mask = torch.arange(feats.shape[1], device=feats.device)[None] < lengths[:, None]
    recon, aux = model(feats, lengths)
    rec = masked_smooth_l1(recon, feats, mask)
    pos = masked_smooth_l1(recon[..., ric], feats[..., ric], mask)
    commit = aux["commit"]
    loss = rec + lambda_pos * pos + lambda_commit * commit
    logs = {"recon": rec.detach(), "pos": pos.detach(), "commit": commit.detach(), "perplexity": aux["perplexity"], "usage": aux["usage"]}
    if lambda_root > 0:
        root = masked_smooth_l1(recon[..., :ROOT_DIMS], feats[..., :ROOT_DIMS], mask)
        loss = loss + lambda_root * root
        logs["root"] = root.detach()
    if lambda_traj > 0:
        if normalizer is None:
            raise ValueError("the trajectory loss needs the normaliser")
        traj = masked_smooth_l1(trajectory(recon, normalizer), trajectory(feats, normalizer), mask)
        loss = loss + lambda_traj * traj
        logs["traj"] = traj.detach()
    return loss, logs


@torch.no_grad()
def reconstruction_metrics(model: MSTokenizer, batches: Iterable[Batch], normalizer: Normalizer,
                           joints_num: int) -> dict[str, float]:
    """MPJPE (mm, root-aligned, mean over valid frames and joints), global MPJPE (mm, the recovered trajectory
    included), the facing error at each clip's last frame (degrees, mean), feature L1 (normalised space),
    per-scale usage / perplexity over all the given batches (model in eval mode)."""
    from moscale_cli.motion.features import recover_from_ric

    dev = next(model.parameters()).device
    err_sum, n_joint_frames, l1_sum, n_feat, gerr_sum, yaw_sum, n_clips = 0.0, 0, 0.0, 0, 0.0, 0.0, 0
    all_ids: list[list[torch.Tensor]] = [[] for _ in model.scales]
    for batch in batches:
        feats = batch["feats"].to(dev)
        lengths = batch["lengths"].to(dev)
        mask = torch.arange(feats.shape[1], device=dev)[None] < lengths[:, None]
        recon, aux = model(feats, lengths)
        recon = recon.float()
        m = mask.unsqueeze(-1)
        l1_sum += float(((recon - feats).abs() * m).sum())
        n_feat += int(m.sum()) * feats.shape[-1]
        jp = recover_from_ric(normalizer.denormalize(recon), joints_num)
        jg = recover_from_ric(normalizer.denormalize(feats), joints_num)
        gerr_sum += float(((jp - jg).norm(dim=-1) * mask.unsqueeze(-1)).sum())
        tp, tg = trajectory(recon, normalizer), trajectory(feats, normalizer)
        last = (lengths - 1).clamp(min=0)
        d = (tp[torch.arange(len(last)), last, 0] - tg[torch.arange(len(last)), last, 0]).abs()
        yaw_sum += float(torch.rad2deg(d).sum())
        n_clips += len(last)
        jp = jp - jp[..., :1, :]
        jg = jg - jg[..., :1, :]
        e = (jp - jg).norm(dim=-1)  # B T J
        err_sum += float((e * mask.unsqueeze(-1)).sum())
        n_joint_frames += int(mask.sum()) * joints_num
        for k, ids in enumerate(aux["ids"]):
            all_ids[k].append(ids.reshape(-1).cpu())
    stats = code_stats([torch.cat(x) for x in all_ids], model.cfg.n_codes)
    out: dict[str, float] = {"mpjpe_mm": 1000.0 * err_sum / max(1, n_joint_frames),
                             "global_mpjpe_mm": 1000.0 * gerr_sum / max(1, n_joint_frames),
                             "final_facing_deg": yaw_sum / max(1, n_clips), "feat_l1": l1_sum / max(1, n_feat)}
    for k in range(len(model.scales)):
        out[f"usage_s{k}"] = stats["usage"][k]
        out[f"perplexity_s{k}"] = stats["perplexity"][k]
    return out


class TokenizerStage(TrainingStage):
    """The tokenizer's stage for :class:`moscale_cli.training.loop.Trainer`."""

    name = "tokenizer"
    best_metric = "val_mpjpe_mm"
    best_mode = "min"

    def __init__(self, data: list[str | os.PathLike], tok_cfg: TokenizerConfig, stage_cfg: TokenizerStageConfig | None = None,
                 seed: int = 0, train_dataset: MotionDataset | None = None, val_dataset: MotionDataset | None = None,
                 collate: Collate | None = None) -> None:
        self.data = [str(d) for d in data]
        self.tok_cfg = tok_cfg
        self.cfg = stage_cfg or TokenizerStageConfig()
        self.seed = seed
        self.model = MSTokenizer(tok_cfg)
        self._init_norm: Normalizer | None = None
        if self.cfg.init_from:
            self._init_norm = self._load_init(self.cfg.init_from)
        if self.cfg.select == "global_mpjpe":
            self.best_metric = "val_global_mpjpe_mm"
        self._train = train_dataset
        self._val = val_dataset
        self._collate = collate
        self.ric = skeleton_for_dim(tok_cfg.feature_dim).feature_slices()["ric"]
        self.joints_num = skeleton_for_dim(tok_cfg.feature_dim).num_joints

    def _load_init(self, path: str) -> Normalizer:
        """Copy the weights of the exported tokenizer at ``path`` (its configuration must be this run's);
        returns its normaliser."""
        from moscale_cli.errors import ConfigError
        from moscale_cli.model_dir import load_tokenizer_run

        tok, norm = load_tokenizer_run(path)
        if tok.cfg.to_dict() != self.tok_cfg.to_dict():
            diff = sorted(k for k, v in tok.cfg.to_dict().items() if self.tok_cfg.to_dict().get(k) != v)
            raise ConfigError(f"--init-from {path}: its tokenizer differs from this run's in {', '.join(diff)}")
        self.model.load_state_dict(tok.state_dict())
        return norm

    # the datasets are built lazily so that config checks (resume) come first
    def _datasets(self) -> MotionDataset:
        from moscale_cli.data.dataset import MotionDataset, collate

        if self._collate is None:
            self._collate = collate
        if self._train is not None:
            return self._train
        official = self.cfg.stats.startswith("official:")
        norm = self._init_norm
        if norm is not None:
            official = True  # the statistics the initial weights were trained with
        elif official:
            from moscale_cli.motion.normalize import Normalizer

            norm = Normalizer.from_official_meta(self.cfg.stats[len("official:") :])
        self._train = MotionDataset(self.data, split="train", stats="dataset" if official else self.cfg.stats,
                                    normalizer=norm, mode="train",
                                    max_len=self.tok_cfg.max_frames, unit=self.tok_cfg.unit, seed=self.seed)
        if self._train.feature_dim != self.tok_cfg.feature_dim:
            from moscale_cli.errors import ConfigError

            raise ConfigError(f"the data has {self._train.feature_dim}-dim features, the tokenizer expects {self.tok_cfg.feature_dim}")
        from moscale_cli.data.layout import split_path

        missing = [r for r in self.data if not split_path(r, self.cfg.val_split).is_file()] if self.cfg.val_split else []
        if missing:
            from moscale_cli.utils.console import warn

            warn(f"no {self.cfg.val_split} split in {', '.join(missing)}: training without validation (final weights exported)")
        elif self.cfg.val_split:
            self._val = MotionDataset(self.data, split=self.cfg.val_split, normalizer=self._train.normalizer, mode="eval",
                                      max_len=self.tok_cfg.max_frames, unit=self.tok_cfg.unit, seed=self.seed, warn=False)
        return self._train

    @property
    def normalizer(self) -> Normalizer:
        return self._datasets().normalizer

    def config_dict(self) -> dict[str, Any]:
        return {"tokenizer": self.tok_cfg.to_dict(), "stage": self.cfg.to_dict(), "data": self.data, "data_seed": self.seed}

    def train_data(self) -> tuple[MotionDataset, Collate]:
        train = self._datasets()
        assert self._collate is not None  # set by _datasets
        return train, self._collate

    def training_step(self, model: torch.nn.Module, batch: Batch, step: int) -> tuple[torch.Tensor, Logs]:
        return tokenizer_loss(model, batch, self.ric, self.cfg.lambda_pos, self.cfg.lambda_commit,
                              self.cfg.lambda_root, self.cfg.lambda_traj, self.normalizer)

    def validate(self, model: torch.nn.Module) -> dict[str, float] | None:
        _, collate = self.train_data()
        if self._val is None:
            return None
        assert isinstance(model, MSTokenizer)
        n = len(self._val) if self.cfg.val_max_items <= 0 else min(len(self._val), self.cfg.val_max_items)
        bs = self.cfg.val_batch_size
        val = self._val
        batches = (collate([val[i] for i in range(s, min(n, s + bs))]) for s in range(0, n, bs))
        return reconstruction_metrics(model, batches, self.normalizer, self.joints_num)

    def export(self, run_dir: str | os.PathLike, model: torch.nn.Module) -> None:
        """Deliverables for the generator stage: tokenizer weights + config + the normaliser."""
        run_dir = Path(run_dir)
        save_module(run_dir / TOKENIZER_WEIGHTS, model)
        save_json(run_dir / TOKENIZER_CONFIG, self.tok_cfg.to_dict())
        self.normalizer.save(run_dir)


def resolve_stats(stats: str, data: list[str], evaluator_meta: str | None = None) -> str:
    """The normalisation statistics a tokenizer run uses (method §1 normalises with the evaluator's).

    ``auto``: the official evaluator's ``meta/`` statistics when ``evaluator_meta`` is given; else ``evaluator``
    (Mean.npy + Std.npy with the root and contact dims divided by 25, which is how the official statistics
    are made from HumanML3D's and KIT-ML's own files) for data in the HumanML3D layout that moscale did not
    make; else ``dataset`` (our corpora: ``moscale data synth/import-bvh/merge`` write ``meta.json`` or
    ``labels.jsonl``, and their statistics are their own)."""
    from moscale_cli.errors import UsageError

    if evaluator_meta:
        if stats not in ("auto", "official"):
            raise UsageError("--evaluator-meta goes with --stats auto (or official:DIR instead of both)")
        return "official:" + str(Path(evaluator_meta).resolve())
    if stats == "auto":
        ours = all((Path(d) / "meta.json").is_file() or (Path(d) / "labels.jsonl").is_file() for d in data)
        return "dataset" if ours else "evaluator"
    if stats.startswith("official:"):
        return "official:" + str(Path(stats[len("official:") :]).resolve())
    if stats not in ("dataset", "evaluator", "none"):
        raise UsageError(f"--stats must be auto, dataset, evaluator or official:DIR, got {stats!r}")
    return stats


def train_tokenizer(data: list[str], out: str, preset: str, train_cfg: TrainConfig, stage_cfg: TokenizerStageConfig | None = None,
                    resume: bool = False, **tok_overrides: Any) -> dict[str, Any]:
    """Build the stage (feature width from the data) and run the Trainer; returns the Trainer's summary."""
    from moscale_cli.data.dataset import DatasetSpec
    from moscale_cli.training.loop import Trainer
    from moscale_cli.utils.seed import seed_everything

    feature_dim = DatasetSpec.detect(data[0]).feature_dim
    if stage_cfg is not None and stage_cfg.init_from:  # a fine-tune: the configuration of the weights it starts from
        from moscale_cli.checkpoint import load_json
        from moscale_cli.errors import CheckpointError, ConfigError

        path = Path(stage_cfg.init_from) / TOKENIZER_CONFIG
        if not path.is_file():
            raise CheckpointError(f"--init-from {stage_cfg.init_from}: no exported tokenizer there ({TOKENIZER_CONFIG} missing)")
        tok_cfg = TokenizerConfig.from_dict(load_json(path))
        if tok_cfg.feature_dim != feature_dim:
            raise ConfigError(f"--init-from {stage_cfg.init_from}: a tokenizer of {tok_cfg.feature_dim}-dim features, "
                              f"the data has {feature_dim}")
    else:
        tok_cfg = TokenizerConfig.preset(preset, feature_dim=feature_dim, **tok_overrides)
    seed_everything(train_cfg.seed)  # identical initial weights on every process
    stage = TokenizerStage(data, tok_cfg, stage_cfg, seed=train_cfg.seed)
    return Trainer(stage, train_cfg, out, resume=resume).fit()
