"""Generator training (method §3.6, §4.1): masked token prediction over all scales at once.

One step: the frozen tokenizer quantises the clip with cross-scale perturbation (clean labels, contexts from
the perturbed accumulation); a cosine-scheduled random subset of the whole token sequence is masked
(BERT-style 80 % [MASK] / 10 % random / 10 % kept), a further r ~ U(0, 0.1) of the visible tokens get random
ids; cross-entropy on the masked positions. A fraction ``cond_drop`` of the samples sees the null text.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from moscale_cli.checkpoint import load_json, load_module, save_json, save_module
from moscale_cli.config import ConfigBase
from moscale_cli.errors import CheckpointError, ConfigError
from moscale_cli.models.generator import MASK_ID, GeneratorConfig
from moscale_cli.models.next_token import build_generator, next_token_loss
from moscale_cli.models.tokenizer import MSTokenizer
from moscale_cli.text.features import TextFeatures, TextFn
from moscale_cli.training.stage import Batch, Collate, Logs, TrainingStage

if TYPE_CHECKING:
    from moscale_cli.data.dataset import MotionDataset
    from moscale_cli.motion.normalize import Normalizer

GENERATOR_WEIGHTS = "generator.safetensors"
GENERATOR_CONFIG = "generator_config.json"


@dataclass
class GeneratorStageConfig(ConfigBase):
    perturb_max: float = 0.6  # cross-scale perturbation: gamma_k ~ U(0, perturb_max); 0 disables (ablation)
    noise_max: float = 0.1  # extra random-id rate r ~ U(0, noise_max) per batch
    val_split: str = "val"  # "" = no validation
    val_max_items: int = 0  # 0 = all
    val_batch_size: int = 64
    val_seed: int = 0


def _rand(shape: tuple[int, ...], device: torch.device, gen: torch.Generator | None) -> torch.Tensor:
    if gen is None:
        return torch.rand(shape, device=device)
    return torch.rand(shape, generator=gen, device=gen.device).to(device)


def _randint(high: int, shape: tuple[int, ...], device: torch.device, gen: torch.Generator | None) -> torch.Tensor:
    if gen is None:
        return torch.randint(0, high, shape, device=device)
    return torch.randint(0, high, shape, generator=gen, device=gen.device).to(device)


def mask_tokens(
    labels_BL: torch.Tensor, n_codes: int, noise_max: float = 0.1, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Corrupt the concatenated labels (B, L; -1 at padding) -> (input ids, masked bool).

    Per sample: ratio = cos(pi u / 2), u ~ U(0, 1); round(L * ratio) (at least 1) positions of a random
    permutation, intersected with the valid ones, are the prediction targets. Of those ~10 % get a random
    id, ~80 % [MASK], ~10 % keep their id. Then a rate r ~ U(0, noise_max) (one per batch) of the remaining
    visible non-padding positions get random ids."""
    B, L = labels_BL.shape
    dev = labels_BL.device
    valid = labels_BL >= 0
    ratio = torch.cos(math.pi / 2 * _rand((B,), dev, generator))
    n = torch.round(ratio * L).clamp(min=1).long()
    ranks = _rand((B, L), dev, generator).argsort(dim=1).argsort(dim=1)
    masked = (ranks < n[:, None]) & valid
    r = _rand((B, L), dev, generator)
    rand_ids = _randint(n_codes, (B, L), dev, generator)
    inp = labels_BL.clone()
    inp = torch.where(masked & (r < 0.1), rand_ids, inp)
    inp = torch.where(masked & (r >= 0.1) & (r < 0.9), torch.full_like(inp, MASK_ID), inp)
    rate = float(_rand((1,), dev, generator)) * noise_max
    noise = (_rand((B, L), dev, generator) < rate) & (inp >= 0)
    inp = torch.where(noise, _randint(n_codes, (B, L), dev, generator), inp)
    return inp, masked


def masked_token_loss(
    model: torch.nn.Module,
    tokenizer: MSTokenizer,
    feats: torch.Tensor,
    lengths: torch.Tensor,
    text_feats: TextFeatures,
    perturb_rate: float = 0.6,
    cond_drop: float = 0.1,
    generator: torch.Generator | None = None,
    noise_max: float = 0.1,
    latent: torch.Tensor | None = None,
) -> tuple[torch.Tensor, Logs]:
    """Loss of one batch (method §3.6) and logs (``acc``, ``acc_s{k}`` over the masked positions).

    ``model`` may be wrapped (DDP / compile): it is called as ``model(contexts, ids, tokens, mask, drop)``.
    ``perturb_rate`` is the maximum cross-scale corruption rate (0 = none). ``text_feats`` has ``tokens_BSE``
    and ``mask_BS``. ``generator`` makes masking, condition drop and perturbation reproducible. ``latent``:
    the tokenizer's encoder output for ``feats`` if already known (it is frozen, so it may be precomputed)."""
    dev = feats.device
    with torch.no_grad():
        tokenizer.eval()
        if latent is None:
            latent = tokenizer.encode_latent(feats, lengths)
        q = tokenizer.quantize_all(latent, lengths, perturb_rate=(0.0, float(perturb_rate)), generator=generator)
    sizes = [x.shape[1] for x in q.labels]
    labels = torch.cat(q.labels, dim=1)
    n_codes = int(tokenizer.codebook.shape[0])
    inp, masked = mask_tokens(labels, n_codes, noise_max, generator)
    B = labels.shape[0]
    drop = _rand((B,), dev, generator) < cond_drop  # always a tensor: the null text stays in the graph (DDP)
    contexts = [None] + [c for c in q.contexts[1:]]
    logits = model(contexts, list(inp.split(sizes, dim=1)), text_feats.tokens_BSE.to(dev), text_feats.mask_BS.to(dev), drop)
    logits = logits.float()
    if masked.any():
        loss = F.cross_entropy(logits[masked], labels[masked])
    else:  # every sample fully padded out of the mask draw (cannot happen with valid lengths) - keep the graph
        loss = logits.sum() * 0.0
    with torch.no_grad():
        hit = (logits.argmax(-1) == labels) & masked
        logs: Logs = {"acc": hit.sum() / masked.sum().clamp(min=1)}
        for k, (h, m) in enumerate(zip(hit.split(sizes, 1), masked.split(sizes, 1), strict=True)):
            logs[f"acc_s{k}"] = h.sum() / m.sum().clamp(min=1)
    return loss, logs


NO_DECAY_NAMES = ("pos_start", "lvl_embed", "cfg_uncond", "token_emb", "queries")


def generator_param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: no weight decay on biases, norms, embeddings and the learned special vectors (§8)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.dim() < 2 or any(s in name for s in NO_DECAY_NAMES):
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


class GeneratorStage(TrainingStage):
    """The generator's stage for :class:`moscale_cli.training.loop.Trainer` (the tokenizer is frozen and not saved).

    ``text_fn(captions) -> TextFeatures`` supplies the text features (e.g. a cached encoder); ``normalizer``
    must be the tokenizer's (the features the tokenizer was trained on)."""

    name = "generator"
    best_metric = "val_loss"
    best_mode = "min"

    def __init__(
        self,
        data: list[str | os.PathLike],
        tokenizer: MSTokenizer,
        gen_cfg: GeneratorConfig,
        text_fn: TextFn,
        stage_cfg: GeneratorStageConfig | None = None,
        normalizer: Normalizer | None = None,
        seed: int = 0,
        weight_decay: float = 0.05,
        train_dataset: MotionDataset | None = None,
        val_dataset: MotionDataset | None = None,
        collate: Collate | None = None,
    ) -> None:
        self.data = [str(d) for d in data]
        self.tokenizer = tokenizer.eval()
        for p in self.tokenizer.parameters():
            p.requires_grad_(False)
        K, C = tokenizer.codebook.shape
        if (gen_cfg.codebook_size, gen_cfg.code_dim) != (K, C) or list(gen_cfg.scale_lengths) != list(tokenizer.scale_lengths):
            raise ConfigError("the generator config does not match the tokenizer (codebook size, code dim or scales)")
        self.gen_cfg = gen_cfg
        self.cfg = stage_cfg or GeneratorStageConfig()
        self.text_fn = text_fn
        self.normalizer = normalizer
        self.seed = seed
        self.weight_decay = weight_decay
        self.model = build_generator(gen_cfg)  # arch "next-scale" (MoScale) or "next-token" (baseline)
        self._train, self._val, self._collate = train_dataset, val_dataset, collate

    def _datasets(self) -> MotionDataset:
        from moscale_cli.data.dataset import MotionDataset, collate

        if self._collate is None:
            self._collate = collate
        if self._train is not None:
            return self._train
        tok = self.tokenizer
        self._train = MotionDataset(self.data, split="train", normalizer=self.normalizer, mode="train",
                                    max_len=tok.max_frames, unit=tok.unit, seed=self.seed)
        if self.cfg.val_split:
            self._val = MotionDataset(self.data, split=self.cfg.val_split, normalizer=self._train.normalizer, mode="eval",
                                      max_len=tok.max_frames, unit=tok.unit, seed=self.seed, warn=False)
        return self._train

    def config_dict(self) -> dict[str, Any]:
        return {"generator": self.gen_cfg.to_dict(), "stage": self.cfg.to_dict(), "tokenizer": self.tokenizer.cfg.to_dict(),
                "data": self.data, "data_seed": self.seed, "weight_decay": self.weight_decay}

    def param_groups(self, model: nn.Module) -> list[dict[str, Any]]:
        return generator_param_groups(model, self.weight_decay)

    def train_data(self) -> tuple[MotionDataset, Collate]:
        train = self._datasets()
        assert self._collate is not None  # set by _datasets
        return train, self._collate

    def _tok_on(self, device: torch.device) -> MSTokenizer:
        if self.tokenizer.codebook.device != device:
            self.tokenizer.to(device)
        return self.tokenizer

    def training_step(self, model: nn.Module, batch: Batch, step: int) -> tuple[torch.Tensor, Logs]:
        feats, lengths = batch["feats"], batch["lengths"]
        tok = self._tok_on(feats.device)
        text = self.text_fn(list(batch["captions"]))
        if self.gen_cfg.arch == "next-token":
            return next_token_loss(model, tok, feats, lengths, text, self.gen_cfg.cond_drop, self.cfg.noise_max)
        return masked_token_loss(model, tok, feats, lengths, text, self.cfg.perturb_max, self.gen_cfg.cond_drop,
                                 noise_max=self.cfg.noise_max)

    @torch.no_grad()
    def validate(self, model: nn.Module) -> dict[str, float] | None:
        """Masked-token loss / accuracy on the validation split with a fixed masking seed, no perturbation."""
        _, collate = self.train_data()
        if self._val is None or len(self._val) == 0:
            return None
        dev = next(model.parameters()).device
        tok = self._tok_on(dev)
        gen = torch.Generator(device=dev).manual_seed(self.cfg.val_seed)
        n = len(self._val) if self.cfg.val_max_items <= 0 else min(len(self._val), self.cfg.val_max_items)
        bs = self.cfg.val_batch_size
        tot: dict[str, float] = {}
        count = 0
        for s in range(0, n, bs):
            batch = collate([self._val[i] for i in range(s, min(n, s + bs))])
            text = self.text_fn(list(batch["captions"]))
            if self.gen_cfg.arch == "next-token":
                loss, logs = next_token_loss(model, tok, batch["feats"].to(dev), batch["lengths"].to(dev), text,
                                             cond_drop=0.0, noise_max=0.0, generator=gen)
            else:
                loss, logs = masked_token_loss(model, tok, batch["feats"].to(dev), batch["lengths"].to(dev), text,
                                               perturb_rate=0.0, cond_drop=0.0, generator=gen, noise_max=0.0)
            w = len(batch["captions"])
            for k, v in {"loss": loss, **logs}.items():
                tot[k] = tot.get(k, 0.0) + float(v) * w
            count += w
        return {k: v / max(1, count) for k, v in tot.items()}

    def export(self, run_dir: str | os.PathLike, model: nn.Module) -> None:
        run_dir = Path(run_dir)
        save_module(run_dir / GENERATOR_WEIGHTS, model)
        save_json(run_dir / GENERATOR_CONFIG, self.gen_cfg.to_dict())


def load_generator_run(run_dir: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """Load an exported generator (``generator.safetensors`` + ``generator_config.json``) in eval mode."""
    run_dir = Path(run_dir)
    if not (run_dir / GENERATOR_CONFIG).is_file():
        raise CheckpointError(f"{run_dir} holds no exported generator ({GENERATOR_CONFIG} missing)")
    model = build_generator(GeneratorConfig.from_dict(load_json(run_dir / GENERATOR_CONFIG)))
    load_module(run_dir / GENERATOR_WEIGHTS, model)
    return model.to(device).eval()
