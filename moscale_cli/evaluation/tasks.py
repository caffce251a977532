"""What the evaluated model does with a GT batch, per task (eval-protocol.md §4, §6).

All tasks take the batch's evaluator-normalised GT motions and return motions in the same space:
the model works in its own normalisation, so GT goes evaluator-space -> raw -> model-space and the
output goes model-space -> raw -> evaluator-space (the protocol's rule, momask issue #37).

- ``t2m``: generate from the batch captions with the cropped GT lengths.
- ``reconstruction``: tokenizer encode + decode of the GT motion (also MPJPE).
- ``inbetween`` / ``outpaint`` / ``prefix`` / ``suffix``: GT tokens are kept on a span of the token grid
  and the sampler's edit mode (:class:`~moscale_cli.sampling.sampler.EditSpec`) fills the rest.
  With ``tl = m_length / 4`` tokens and ``q = int(0.25 tl)``, ``h = int(0.5 tl)``: inbetween keeps
  ``[0, q) + [tl - q, tl)``; outpaint keeps ``[q, tl - q)``; prefix keeps ``[0, h)``; suffix keeps
  ``[tl - h, tl)``. The re-generated frame ranges become per-scale masks with the sampler's
  ``masks.region_masks`` (the reference's area-downsample + 0.5 threshold rule).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from moscale_cli.errors import CheckpointError, UsageError

TASKS = ("t2m", "reconstruction", "inbetween", "outpaint", "prefix", "suffix")
EDIT_TASKS = ("inbetween", "outpaint", "prefix", "suffix")


def keep_token_mask(task: str, token_lengths: torch.Tensor, n_grid: int) -> torch.Tensor:
    """(B, n_grid) bool: finest-grid tokens whose GT is kept for an editing task."""
    if task not in EDIT_TASKS:
        raise UsageError(f"{task} is not an editing task ({', '.join(EDIT_TASKS)})")
    B = token_lengths.shape[0]
    keep = torch.zeros(B, n_grid, dtype=torch.bool)
    for b, tl in enumerate(token_lengths.tolist()):
        q, h = int(0.25 * tl), int(0.5 * tl)
        if task == "inbetween":
            keep[b, :q] = True
            keep[b, tl - q : tl] = True
        elif task == "outpaint":
            keep[b, q : tl - q] = True
        elif task == "prefix":
            keep[b, :h] = True
        else:
            keep[b, tl - h : tl] = True
    return keep


def edit_regions(task: str, lengths_frames: torch.Tensor, unit: int, n_grid: int) -> list[list[tuple[int, int]]]:
    """Per sample, the frame ranges ``[start, end)`` the model re-generates (the complement of the kept span)."""
    tl = lengths_frames.long().cpu() // unit
    keep = keep_token_mask(task, tl, n_grid)
    out = []
    for b, n in enumerate(tl.tolist()):
        gen = (~keep[b, :n]).tolist()
        regs, j = [], 0
        while j < n:
            if gen[j]:
                k = j
                while k < n and gen[k]:
                    k += 1
                regs.append((j * unit, k * unit))
                j = k
            else:
                j += 1
        out.append(regs)
    return out


@dataclass
class ModelHandle:
    """The evaluated model: tokenizer (+ generator, text encoder) and its normaliser."""

    tokenizer: Any
    normalizer: Any
    generator: Any = None
    text_fn: Any = None
    feature_dim: int = 263
    source: str = ""
    kind: str = "model"  # "model" (a model directory) | "tokenizer" (an exported tokenizer run)
    sampling: dict | None = None  # the model directory's recommended sampling settings (config.json "sampling")


def load_model_handle(path: str | os.PathLike, device: torch.device, need_generator: bool) -> ModelHandle:
    """A model directory (any task) or, for ``reconstruction``, an exported tokenizer run."""
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"model not found: {p}")
    if (p / "config.json").is_file() and (p / "generator.safetensors").is_file():
        from moscale_cli.model_dir import load_model_dir

        lm = load_model_dir(p, device=device, with_length=False)
        text_fn = None
        if need_generator:
            from moscale_cli.text.cache import cached_text_fn
            from moscale_cli.text.factory import get_text_encoder

            text_fn = cached_text_fn(get_text_encoder(lm.text_encoder, lm.text_max_tokens, device))
        return ModelHandle(lm.tokenizer, lm.normalizer, lm.generator, text_fn, lm.feature_dim, str(p), "model",
                           lm.config.get("sampling"))
    from moscale_cli.model_dir import TOKENIZER_CONFIG

    if (p / TOKENIZER_CONFIG).is_file():
        if need_generator:
            raise UsageError(f"{p} holds only a tokenizer; this task needs a model directory with a generator")
        from moscale_cli.model_dir import load_tokenizer_run

        tok, norm = load_tokenizer_run(p, device=device)
        return ModelHandle(tok, norm, None, None, int(tok.cfg.feature_dim), str(p), "tokenizer")
    from moscale_cli.model_dir import read_model_config

    read_model_config(p)  # raises the precise error for a broken model directory
    raise CheckpointError(f"{p} is not a model directory or tokenizer run")


class TaskRunner:
    """Runs one task on evaluation batches; inputs/outputs in evaluator space (B, 196, D)."""

    def __init__(self, task: str, model: ModelHandle, eval_normalizer: Any, sampling_cfg: Any = None,
                 device: torch.device | str = "cpu") -> None:
        if task not in TASKS:
            raise UsageError(f"unknown task '{task}' (choose from {', '.join(TASKS)})")
        self.task = task
        self.model = model
        self.ev = eval_normalizer
        self.sampling_cfg = sampling_cfg
        self.device = torch.device(device)
        tok = model.tokenizer
        if task != "reconstruction" and model.generator is None:
            raise UsageError(f"task {task} needs a generator")
        self.n_grid = int(tok.n_grid)
        self.unit = int(tok.unit)
        self.max_frames = int(tok.max_frames)

    @property
    def stochastic(self) -> bool:
        return self.task != "reconstruction"

    # ------------------------------------------------------------------ spaces
    def to_model_space(self, feats_eval: torch.Tensor) -> torch.Tensor:
        raw = self.ev.denormalize(feats_eval.float().cpu())
        return self.model.normalizer.normalize(raw)

    def to_eval_space(self, feats_model: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        from moscale_cli.evaluation.loader import MAX_MOTION_LENGTH, pad_to

        raw = self.model.normalizer.denormalize(feats_model.float().cpu())
        return pad_to(self.ev.normalize(raw), MAX_MOTION_LENGTH, lengths.cpu())

    def _lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        if (lengths > self.max_frames).any():
            raise UsageError(f"the model generates at most {self.max_frames} frames; the data has clips up to {int(lengths.max())}")
        return lengths.to(self.device)

    # ------------------------------------------------------------------ running
    @torch.no_grad()
    def run(self, batch: dict[str, Any], seed: int) -> torch.Tensor:
        """Model output for a GT batch, evaluator-normalised, zero past the GT lengths."""
        lengths = self._lengths(batch["lengths"])
        if self.task == "t2m":
            feats = self._sample(batch["captions"], lengths, seed, None)
        elif self.task == "reconstruction":
            feats = self.reconstruct(self._gt_model_space(batch, lengths), lengths)
        else:
            feats = self._sample(batch["captions"], lengths, seed, self.edit_spec(self._gt_model_space(batch, lengths), lengths))
        return self.to_eval_space(feats, lengths)

    def _gt_model_space(self, batch: dict[str, Any], lengths: torch.Tensor) -> torch.Tensor:
        gt = self.to_model_space(batch["feats"])[:, : self.max_frames]
        T = gt.shape[1]
        valid = torch.arange(T)[None, :] < lengths.cpu()[:, None]
        return (gt * valid[..., None]).to(self.device)

    def reconstruct(self, feats_model: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        tok = self.model.tokenizer
        ids = tok.encode(feats_model, lengths)
        return tok.decode_ids(ids, lengths)

    def edit_spec(self, gt_model: torch.Tensor, lengths: torch.Tensor):
        from moscale_cli.sampling.sampler import EditSpec

        tok = self.model.tokenizer
        from moscale_cli.sampling.masks import region_masks

        src_ids = tok.encode(gt_model, lengths)
        masks = region_masks(lengths.cpu(), edit_regions(self.task, lengths, self.unit, self.n_grid), tok)
        return EditSpec(locked_ids=src_ids, edit_mask=[m.to(self.device) for m in masks])

    def _sample(self, captions: list[str], lengths: torch.Tensor, seed: int, edit: Any) -> torch.Tensor:
        from moscale_cli.sampling.sampler import sample

        tf = self.model.text_fn(list(captions))
        res = sample(self.model.generator, self.model.tokenizer, tf, lengths, self.sampling_cfg, generator_seed=seed, edit=edit)
        return res.feats


def mpjpe_batch(runner: TaskRunner, gt_eval: torch.Tensor, pred_eval: torch.Tensor, lengths: torch.Tensor) -> tuple[float, int]:
    """Root-aligned MPJPE (summed over frames, frame count) on recovered joints, in the data's units."""
    from moscale_cli.evaluation.metrics import mpjpe_sum
    from moscale_cli.motion.features import recover_from_ric
    from moscale_cli.motion.skeleton import skeleton_for_dim

    J = skeleton_for_dim(gt_eval.shape[-1]).num_joints
    g = np.asarray(runner.ev.denormalize(gt_eval.float().cpu().numpy()))
    p = np.asarray(runner.ev.denormalize(pred_eval.float().cpu().numpy()))
    total, frames = 0.0, 0
    for b, L in enumerate(lengths.tolist()):
        jg = recover_from_ric(g[b, :L], J)
        jp = recover_from_ric(p[b, :L], J)
        s, n = mpjpe_sum(jp, jg)
        total += s
        frames += n
    return total, frames
