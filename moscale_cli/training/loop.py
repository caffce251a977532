"""The one training loop used by every stage.

A *stage* is a :class:`~moscale_cli.training.stage.TrainingStage`: ``name``, ``config_dict()`` (configs that
must match on resume), ``model`` (nn.Module), ``train_data() -> (dataset, collate_fn)`` (a map-style dataset
and its collate function; the Trainer owns the order, a function of (seed, epoch), the sharding and the resume
position), ``training_step(model, batch, step) -> (loss, logs)``, and, where the stage has them,
``param_groups(model)``, ``validate(model)`` with ``best_metric``/``best_mode``, ``export(run_dir, model)``
(the stage's deliverable files from the best - or, without validation, the final - weights).

On the CPU the thread count follows the load (:class:`~moscale_cli.utils.device.ThreadGovernor`) unless it is
pinned (``TrainConfig.threads``, ``OMP_NUM_THREADS``); the thread count changes the floating-point sums, so a
run that must resume bitwise pins it.

Run directory: ``config.json``, ``log.jsonl``, ``checkpoint-<step>/`` (last N kept) and ``best/``, each with
``model.safetensors``, ``trainer_state.safetensors``, ``trainer_state.json`` (and per-rank RNG files).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from moscale_cli.checkpoint import load_json, load_tensors, save_json, save_tensors
from moscale_cli.config import ConfigBase
from moscale_cli.errors import CheckpointError, ConfigError, UsageError
from moscale_cli.training.sampler import ShardedBatchOrder
from moscale_cli.training.stage import Batch, Collate, Logs, MapDataset, TrainingStage
from moscale_cli.training.state import capture_rng, flatten_optimizer, restore_rng, unflatten_optimizer
from moscale_cli.training.stop import DeferredStop
from moscale_cli.utils.atomic import replace_dir, write_text_atomic
from moscale_cli.utils.device import autocast_context, resolve_device
from moscale_cli.utils.seed import seed_everything

# keys of TrainConfig that may change between a run and its resume (they do not change the results)
RUNTIME_KEYS = ("device", "num_workers", "val_every", "save_every", "keep_last", "log_every", "compile", "time_limit_s",
                "threads")
T = TypeVar("T")


@dataclass
class TrainConfig(ConfigBase):
    steps: int = 0  # total optimizer steps; 0 = use epochs
    epochs: int = 10
    batch_size: int = 64  # global batch (split over DDP processes)
    lr: float = 3e-4
    betas: tuple[float, ...] = (0.9, 0.99)
    weight_decay: float = 0.0
    warmup: int = -1  # linear warm-up steps; -1 = warmup_epochs if set, else min(2000, total // 10)
    warmup_epochs: float = 0.0  # warm-up length in epochs (used when warmup is -1)
    warmup_start: float = 0.0  # the warm-up rises linearly from warmup_start * lr to lr
    schedule: str = "step"  # "step" | "cosine" | "constant"
    milestones: tuple[int, ...] = ()  # steps at which the lr is multiplied by gamma (schedule "step")
    milestone_fracs: tuple[float, ...] = (0.3, 0.7)  # used when milestones is empty: fractions of the total steps
    gamma: float = 0.3
    min_lr_ratio: float = 0.0  # cosine floor (fraction of the peak lr)
    horizon_epochs: float = 0.0  # the cosine is planned over this many epochs (0 = the run's own length)
    grad_clip: float = 0.5  # max grad norm, 0 = off
    val_every: int = 0  # steps, 0 = once per epoch
    save_every: int = 0  # steps, 0 = once per epoch
    keep_last: int = 2
    seed: int = 10306
    device: str = "auto"
    num_workers: int = 0
    compile: bool = False
    log_every: int = 1
    time_limit_s: float = 0.0  # stop (validate, save, export) once a stage has trained this long; 0 = no limit
    threads: int = 0  # CPU threads; 0 = follow the load (re-checked every few seconds) unless OMP_NUM_THREADS is set

    def __post_init__(self) -> None:
        self.betas = tuple(float(b) for b in self.betas)
        self.milestones = tuple(int(m) for m in self.milestones)
        self.milestone_fracs = tuple(float(m) for m in self.milestone_fracs)
        if self.schedule not in ("step", "cosine", "constant"):
            raise ConfigError(f"unknown schedule '{self.schedule}' (step, cosine or constant)")
        if self.steps < 0 or self.epochs < 0 or (self.steps == 0 and self.epochs == 0):
            raise ConfigError("give a positive number of steps or epochs")
        if self.batch_size < 1 or self.lr <= 0:
            raise ConfigError("batch size and learning rate must be positive")
        if not 0.0 <= self.warmup_start <= 1.0 or not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ConfigError("warmup_start and min_lr_ratio must lie in [0, 1]")
        if self.warmup_epochs < 0 or self.horizon_epochs < 0:
            raise ConfigError("warmup_epochs and horizon_epochs must be >= 0")
        if self.threads < 0:
            raise ConfigError(f"threads must be >= 0 (0 = follow the load), got {self.threads}")

    def warmup_steps(self, total: int, per_epoch: int = 1) -> int:
        if self.warmup >= 0:
            return self.warmup
        if self.warmup_epochs > 0:
            return round(self.warmup_epochs * per_epoch)
        return min(2000, total // 10)

    def horizon_steps(self, total: int, per_epoch: int = 1) -> int:
        return max(total, round(self.horizon_epochs * per_epoch)) if self.horizon_epochs > 0 else total


def lr_factor(cfg: TrainConfig, step: int, total: int, per_epoch: int = 1) -> float:
    """Multiplier of the base lr for optimizer step ``step`` (0-based) of a run of ``total`` steps with
    ``per_epoch`` steps per epoch: a linear warm-up from ``warmup_start``, then the schedule. The cosine falls
    from 1 to ``min_lr_ratio`` over ``horizon_epochs`` (the reference plans 250 epochs and stops at 120)."""
    f = 1.0
    warmup = cfg.warmup_steps(total, per_epoch)
    if warmup > 0 and step < warmup:
        f = cfg.warmup_start + (1.0 - cfg.warmup_start) * (step + 1) / warmup
    if cfg.schedule == "step":
        ms = cfg.milestones or tuple(round(x * total) for x in cfg.milestone_fracs)
        f *= cfg.gamma ** sum(step >= m for m in ms)
    elif cfg.schedule == "cosine" and step >= warmup:
        horizon = cfg.horizon_steps(total, per_epoch)
        t = min(1.0, (step - warmup) / max(1, horizon - warmup))
        f *= cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))
    return f


def _to_device(batch: T, device: torch.device) -> T:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}  # type: ignore[return-value]
    if isinstance(batch, (list, tuple)) and batch and torch.is_tensor(batch[0]):
        return type(batch)(_to_device(v, device) for v in batch)  # type: ignore[return-value]
    return batch


def _float(v: object) -> object:
    """A logged value as JSON: a tensor as its mean (None if empty), lists element-wise, numbers as they are."""
    if isinstance(v, torch.Tensor):
        return float(v.detach().float().mean()) if v.numel() else None
    if isinstance(v, (list, tuple)):
        return [_float(x) for x in v]
    return v


@contextlib.contextmanager
def isolated_rng(device: torch.device) -> Iterator[None]:
    """Run a block (validation) without disturbing the training RNG streams."""
    py, nps = random.getstate(), np.random.get_state()
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        yield
    random.setstate(py)
    np.random.set_state(nps)


def dist_env() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from torchrun's environment (or an initialised process group)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank()))
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def init_distributed(device_name: str) -> tuple[int, int, torch.device]:
    """Initialise the process group under torchrun (gloo on CPU, NCCL on CUDA); returns (rank, world, device)."""
    rank, world, local = dist_env()
    if world > 1 and not dist.is_initialized():
        use_cuda = device_name != "cpu" and torch.cuda.is_available()
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    device = resolve_device(device_name)
    if world > 1 and device.type == "cuda":
        device = torch.device(f"cuda:{local}")
        torch.cuda.set_device(device)
    return rank, world, device


def _ckpt_dirs(run_dir: Path) -> list[Path]:
    out = []
    for p in run_dir.glob("checkpoint-*"):
        if p.is_dir() and p.name[len("checkpoint-") :].isdigit():
            out.append(p)
    return sorted(out, key=lambda p: int(p.name.split("-")[1]))


class Trainer:
    def __init__(self, stage: TrainingStage, train_cfg: TrainConfig, run_dir: str | os.PathLike, resume: bool = False,
                 on_log: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.stage = stage
        self.cfg = train_cfg
        self.run_dir = Path(run_dir)
        self.resume = resume
        self.on_log = on_log
        self.rank, self.world, self.device = init_distributed(train_cfg.device)
        self.is_main = self.rank == 0
        self.step = 0
        self.epoch = 0
        self.pos = 0  # batches of the current epoch already consumed
        self.best: float | None = None
        self.best_step: int | None = None

    # ------------------------------------------------------------------ config / run dir
    def run_config(self) -> dict[str, Any]:
        train = {k: v for k, v in self.cfg.to_dict().items() if k not in RUNTIME_KEYS}
        return json.loads(json.dumps({"stage": self.stage.name, "config": self.stage.config_dict(), "train": train}))

    def _check_run_dir(self) -> None:
        cfg_path = self.run_dir / "config.json"
        if not self.resume:
            if cfg_path.exists() or _ckpt_dirs(self.run_dir):
                raise UsageError(f"{self.run_dir} already holds a training run; pass --resume or choose another --out")
            return
        if not cfg_path.exists():
            raise CheckpointError(f"cannot resume: {cfg_path} not found")
        old = load_json(cfg_path)
        new = self.run_config()
        diffs = _diff_keys(old, new)
        if diffs:
            raise ConfigError(f"cannot resume {self.run_dir}: the configuration differs in {', '.join(diffs)}")

    # ------------------------------------------------------------------ checkpoints
    def _save(self, name: str, model: nn.Module, opt: torch.optim.Optimizer) -> None:
        """Write ``run_dir/name`` atomically: a temporary folder renamed into place (all ranks write RNG files)."""
        tmp = self.run_dir / f".tmp-{name}"
        if self.is_main:
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
        self._barrier()
        rng_t, rng_m = capture_rng(self.device)
        save_tensors(tmp / f"rng_rank{self.rank}.safetensors", rng_t)
        save_json(tmp / f"rng_rank{self.rank}.json", rng_m)
        if self.is_main:
            save_tensors(tmp / "model.safetensors", _unwrap(model).state_dict())
            opt_t, opt_m = flatten_optimizer(opt.state_dict())
            save_tensors(tmp / "trainer_state.safetensors", opt_t)
            save_json(tmp / "trainer_state.json", {
                "step": self.step, "epoch": self.epoch, "pos": self.pos, "world_size": self.world,
                "best": self.best, "best_step": self.best_step, "optimizer": opt_m, "run_config": self.run_config(),
            })
        self._barrier()
        if self.is_main:
            replace_dir(tmp, self.run_dir / name, self.run_dir / f".old-{name}")
        self._barrier()

    def _prune(self) -> None:
        if not self.is_main:
            return
        dirs = _ckpt_dirs(self.run_dir)
        for d in dirs[: max(0, len(dirs) - max(1, self.cfg.keep_last))]:
            shutil.rmtree(d, ignore_errors=True)

    def _load(self, model: nn.Module, opt: torch.optim.Optimizer) -> None:
        dirs = _ckpt_dirs(self.run_dir)
        if not dirs:
            raise CheckpointError(f"cannot resume: no checkpoint-* folder in {self.run_dir}")
        d = dirs[-1]
        meta = load_json(d / "trainer_state.json")
        for key in ("step", "epoch", "pos", "optimizer"):
            if key not in meta:
                raise CheckpointError(f"{d / 'trainer_state.json'} is incomplete (missing '{key}')")
        if meta.get("world_size", 1) != self.world:
            raise ConfigError(f"cannot resume {self.run_dir}: it ran on {meta.get('world_size')} process(es), this run has {self.world}")
        from moscale_cli.checkpoint import load_module

        load_module(d / "model.safetensors", _unwrap(model))
        opt_t = load_tensors(d / "trainer_state.safetensors", device=self.device)
        try:
            opt.load_state_dict(unflatten_optimizer(opt_t, meta["optimizer"]))
        except (KeyError, ValueError) as e:
            raise CheckpointError(f"{d / 'trainer_state.safetensors'} does not match the optimizer ({e})") from None
        rng_path = d / f"rng_rank{self.rank}.safetensors"
        restore_rng(load_tensors(rng_path), load_json(d / f"rng_rank{self.rank}.json"), self.device)
        self.step, self.epoch, self.pos = int(meta["step"]), int(meta["epoch"]), int(meta["pos"])
        self.best, self.best_step = meta.get("best"), meta.get("best_step")
        # drop log lines written after this checkpoint by the interrupted run
        log = self.run_dir / "log.jsonl"
        if self.is_main and log.exists():
            keep = []
            for line in log.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by the kill
                if rec.get("step", 0) <= self.step:
                    keep.append(line)
            write_text_atomic(log, "".join(x + "\n" for x in keep))

    # ------------------------------------------------------------------ helpers
    def _barrier(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.barrier()

    def _log(self, rec: dict[str, Any]) -> None:
        if not self.is_main:
            return
        with open(self.run_dir / "log.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")
        if self.on_log is not None:
            self.on_log(rec)

    def _validate(self, model: nn.Module) -> Logs | None:
        res = None
        if self.is_main:
            inner = _unwrap(model)
            was = inner.training
            inner.eval()
            with isolated_rng(self.device), torch.no_grad(), autocast_context(self.device):
                got = self.stage.validate(inner)
            inner.train(was)
            res = None if got is None else {k: _float(v) for k, v in got.items()}
        self._barrier()
        return res

    # ------------------------------------------------------------------ main loop
    def fit(self) -> dict[str, Any]:
        """Train to the end of the budget (resuming first with ``resume``); returns the final step and the best
        validation value. The torch thread count is restored afterwards."""
        threads_before = torch.get_num_threads()
        try:
            return self._fit()
        finally:
            if torch.get_num_threads() != threads_before:
                torch.set_num_threads(threads_before)

    def _warn_long_warmup(self, total: int, per_epoch: int) -> None:
        """Say so when the linear warm-up covers the whole run (the learning rate never reaches its peak)."""
        warmup = self.cfg.warmup_steps(total, per_epoch)
        if not self.is_main or warmup < total or self.step >= total:
            return
        from moscale_cli.utils.console import warn

        reached = lr_factor(self.cfg, total - 1, total, per_epoch)
        warn(f"{self.stage.name}: the warm-up ({warmup} steps) covers the whole run ({total} steps): the learning rate "
             f"climbs until the last step, where it is {reached:.2g} x its peak {self.cfg.lr:g}; shorten the warm-up "
             "with --warmup N or --warmup-epochs E")

    def _fit(self) -> dict[str, Any]:
        from moscale_cli.utils.console import STATE, info, progress
        from moscale_cli.utils.device import ThreadGovernor

        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._check_run_dir()
        self._barrier()
        if not self.resume:
            seed_everything(self.cfg.seed + self.rank)
        model = self.stage.model.to(self.device)
        groups = self.stage.param_groups(model)
        opt = torch.optim.AdamW(groups, lr=self.cfg.lr, betas=self.cfg.betas, weight_decay=self.cfg.weight_decay,
                                fused=self.device.type == "cuda")  # one fused kernel per step on CUDA
        for g in opt.param_groups:
            g.setdefault("base_lr", g["lr"])
        if self.resume:
            self._load(model, opt)
        elif self.is_main:
            save_json(self.run_dir / "config.json", self.run_config())
        train_model: nn.Module = model
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            import inspect

            # buffers (the EMA codebook) stay identical through all-reduced updates; no per-forward broadcast
            sync = "forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(DDP).parameters else "broadcast_buffers"
            train_model = DDP(model, device_ids=ids, **{sync: False})
        if self.cfg.compile:
            train_model = torch.compile(train_model)

        dataset, collate = self.stage.train_data()
        order = ShardedBatchOrder(len(dataset), self.cfg.batch_size, self.cfg.seed, self.rank, self.world)
        per_epoch = len(order)
        total = self.cfg.steps if self.cfg.steps > 0 else self.cfg.epochs * per_epoch
        val_every = self.cfg.val_every or per_epoch
        save_every = self.cfg.save_every or per_epoch
        local_bs = self.cfg.batch_size // self.world
        self._warn_long_warmup(total, per_epoch)
        governor = ThreadGovernor(self.device, log=info if self.is_main else None, pinned=self.cfg.threads or None,
                                  probe_s=0.5)
        if governor.changes:
            self._log({"step": self.step, "cpu_threads": torch.get_num_threads()})
        model.train()
        t0, n0 = time.perf_counter(), self.step
        # wall-clock budget: TrainConfig.time_limit_s, or the MOSCALE_TIME_LIMIT_S environment variable
        limit = self.cfg.time_limit_s or float(os.environ.get("MOSCALE_TIME_LIMIT_S", "0") or 0)
        last: dict[str, Any] = {}
        stop = DeferredStop(on_request=(lambda _sig: info(f"{self.stage.name}: stopping after this step (a checkpoint is "
                                                          "written first; press Ctrl-C again to stop at once)"))
                            if self.is_main else None)
        with stop, progress() as bar:
            task = bar.add_task(f"{self.stage.name}", total=total, completed=self.step)
            if STATE.quiet or not self.is_main:
                bar.stop()
            while self.step < total:
                for idx in self._epoch_batches(order, dataset, collate):
                    batch = _to_device(idx, self.device)
                    for g in opt.param_groups:
                        g["lr"] = g["base_lr"] * lr_factor(self.cfg, self.step, total, per_epoch)
                    with autocast_context(self.device):
                        loss, logs = self.stage.training_step(train_model, batch, self.step)
                    if not torch.isfinite(loss):
                        raise UsageError(f"the loss became {float(loss)} at step {self.step}; lower the learning rate")
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    gnorm = None
                    if self.cfg.grad_clip > 0:
                        gnorm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), self.cfg.grad_clip))
                    opt.step()
                    self.step += 1
                    self.pos += 1
                    if governor.tick() is not None:
                        self._log({"step": self.step, "cpu_threads": torch.get_num_threads()})
                    if limit > 0 and self.step < total and self._any_rank(time.perf_counter() - t0 > limit):
                        total = self.step  # out of time: finish as if this were the last step
                    loss_v = loss.detach().float()
                    if self.world > 1:
                        dist.all_reduce(loss_v)
                        loss_v /= self.world
                    if self.step % max(1, self.cfg.log_every) == 0 or self.step == total:
                        dt = time.perf_counter() - t0
                        sps = (self.step - n0) * local_bs * self.world / max(dt, 1e-9)
                        rec = {"step": self.step, "epoch": self.epoch, "loss": float(loss_v),
                               "lr": opt.param_groups[0]["lr"], "samples_per_s": sps}
                        if gnorm is not None:
                            rec["grad_norm"] = gnorm
                        rec.update({k: _float(v) for k, v in logs.items()})
                        self._log(rec)
                        if self.is_main:
                            bar.update(task, completed=self.step,
                                       description=f"{self.stage.name} loss {float(loss_v):.4f} {sps:.1f} samples/s")
                    epoch_end = self.pos >= per_epoch
                    if epoch_end:
                        self.epoch += 1
                        self.pos = 0
                    if self.step % val_every == 0 or self.step == total:
                        self._maybe_best(model, opt)
                    saved = self.step % save_every == 0 or self.step == total
                    if saved:
                        self._save(f"checkpoint-{self.step:08d}", model, opt)
                        self._prune()
                    if self._any_rank(stop.requested):  # Ctrl-C / SIGTERM: this step is kept, then the run stops
                        if not saved:
                            self._save(f"checkpoint-{self.step:08d}", model, opt)
                            self._prune()
                        if self.is_main:
                            if self.best is None:  # nothing exported yet (no validation so far): these weights
                                self.stage.export(self.run_dir, model)
                            info(f"{self.stage.name}: stopped at step {self.step}, checkpoint saved (run the same "
                                 "command with --resume to go on)")
                        self._barrier()
                        DeferredStop.raise_stop(stop.signum if stop.signum is not None else signal.SIGTERM)
                    if self.step >= total or epoch_end:
                        break
        if self.is_main:
            if self.best is None:
                self.stage.export(self.run_dir, model)
            last = {"step": self.step, "best": self.best, "best_step": self.best_step}
        self._barrier()
        return last

    def _any_rank(self, local: bool) -> bool:
        """Whether ``local`` holds on any process (a time budget spent, a stop asked for): all ranks agree, so
        none waits forever."""
        if self.world == 1:
            return local
        flag = torch.tensor([1.0 if local else 0.0], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item() > 0)

    def _epoch_batches(self, order: ShardedBatchOrder, dataset: MapDataset[Any], collate: Collate) -> Iterator[Batch]:
        idx_lists = order.batches(self.epoch, self.pos)
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(self.epoch)  # per-item randomness (crops, captions) is a function of the epoch
        if self.cfg.num_workers <= 0:
            for idx in idx_lists:
                yield collate([dataset[i] for i in idx])
            return
        loader = torch.utils.data.DataLoader(dataset, batch_sampler=idx_lists, collate_fn=collate,
                                             num_workers=self.cfg.num_workers, generator=torch.Generator().manual_seed(self.cfg.seed + self.epoch),
                                             persistent_workers=False, pin_memory=self.device.type == "cuda")
        yield from loader

    def _maybe_best(self, model: nn.Module, opt: torch.optim.Optimizer) -> None:
        res = self._validate(model)
        if not self.is_main or not res:
            self._barrier()
            return
        rec = {"step": self.step, "epoch": self.epoch, **{f"val_{k}" if not k.startswith("val_") else k: v for k, v in res.items()}}
        key = self.stage.best_metric
        improved = False
        if key is not None and rec.get(key) is not None:
            v = float(rec[key])
            mode = self.stage.best_mode
            improved = self.best is None or (v < self.best if mode == "min" else v > self.best)
            if improved:
                self.best, self.best_step = v, self.step
            rec["best"] = self.best
        self._log(rec)
        if improved:
            self._save_best(model, opt)
        else:
            self._barrier()

    def _save_best(self, model: nn.Module, opt: torch.optim.Optimizer) -> None:
        # called on rank 0 only (after validation): write best/ and the stage's export
        tmp = self.run_dir / ".tmp-best"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        save_tensors(tmp / "model.safetensors", _unwrap(model).state_dict())
        save_json(tmp / "trainer_state.json", {"step": self.step, "epoch": self.epoch, "best": self.best,
                                               "metric": self.stage.best_metric, "run_config": self.run_config()})
        replace_dir(tmp, self.run_dir / "best", self.run_dir / ".old-best")
        self.stage.export(self.run_dir, _unwrap(model))
        self._barrier()


def _unwrap(model: nn.Module) -> nn.Module:
    m = getattr(model, "_orig_mod", model)
    return getattr(m, "module", m)


def _diff_keys(a: object, b: object, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in sorted(set(a) | set(b)):
            out += _diff_keys(a.get(k), b.get(k), f"{prefix}.{k}" if prefix else k)
        return out
    return [] if a == b else [prefix or "<root>"]
