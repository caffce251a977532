"""DDP on CPU (gloo, 2 processes): averaged gradients equal one process on the concatenated batch,
the EMA codebook stays identical across replicas, and the Trainer runs under DDP."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from moscale_cli.models.tokenizer import MSTokenizer, TokenizerConfig
from moscale_cli.training.tokenizer_stage import tokenizer_loss

MICRO = dict(width=32, code_dim=32, n_codes=64, depth=1, heads=2, gumbel_temp=0.0, reset_min_assign_factor=1e9)
LENGTHS = torch.tensor([96, 120, 120, 96])  # equal valid frames per rank, so the mean of means is the global mean


def _model_and_batch() -> tuple[MSTokenizer, dict]:
    torch.manual_seed(0)
    m = MSTokenizer(TokenizerConfig.preset("tiny", **MICRO))
    with torch.no_grad():
        m.codebook.copy_(torch.randn(64, 32) * 0.5)
        m.quantizer.ema_sum.copy_(m.codebook)
        m.codebook_initialized.fill_(True)
    g = torch.Generator().manual_seed(1)
    x = torch.nn.functional.interpolate(torch.randn(4, 263, 30, generator=g), size=196, mode="linear").transpose(1, 2)
    return m.train(), {"feats": x.contiguous(), "lengths": LENGTHS.clone()}


def _loss(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    return tokenizer_loss(model, batch, slice(4, 67), 0.5, 0.02)[0]


def _worker(rank: int, world: int, rendezvous: str, out: str, data: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    # a file rendezvous: no port to find free and then lose to another process
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world)
    try:
        from torch.nn.parallel import DistributedDataParallel as DDP

        m, batch = _model_and_batch()
        import inspect

        # no per-forward buffer broadcast: the codebooks must agree through the all-reduced EMA alone
        sync = "forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(DDP).parameters else "broadcast_buffers"
        ddp = DDP(m, **{sync: False})
        per = 4 // world
        part = {k: v[rank * per : (rank + 1) * per] for k, v in batch.items()}
        _loss(ddp, part).backward()
        res = {f"grad.{n}": p.grad for n, p in m.named_parameters()}
        res["codebook"] = m.codebook
        save_file({k: v.contiguous() for k, v in res.items()}, os.path.join(out, f"rank{rank}.safetensors"))

        # the Trainer under DDP (sharded order, all-reduced EMA, rank-0 checkpoints)
        from moscale_cli.training.loop import TrainConfig
        from moscale_cli.training.tokenizer_stage import TokenizerStageConfig, train_tokenizer
        from moscale_cli.utils.console import STATE

        STATE.quiet = True
        cfg = TrainConfig(steps=2, batch_size=4, lr=1e-3, warmup=1, save_every=2, val_every=2, seed=0, device="cpu")
        over = {k: v for k, v in MICRO.items() if k != "reset_min_assign_factor"}
        stage_out = os.path.join(out, "run")
        import moscale_cli.training.loop as loop

        captured = {}
        orig = loop.Trainer.fit

        def fit(self):  # keep a handle on the trained model of this rank
            r = orig(self)
            captured["model"] = self.stage.model
            return r

        loop.Trainer.fit = fit
        train_tokenizer([data], stage_out, "tiny", cfg, TokenizerStageConfig(val_max_items=4), **over)
        save_file({k: v.contiguous() for k, v in captured["model"].state_dict().items()},
                  os.path.join(out, f"trained{rank}.safetensors"))
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed not available")
def test_two_process_gloo_matches_one_process(window_dataset: Path, tmp_path: Path) -> None:
    mp.spawn(_worker, args=(2, str(tmp_path / "rendezvous"), str(tmp_path), str(window_dataset)), nprocs=2, join=True)
    r0 = load_file(str(tmp_path / "rank0.safetensors"))
    r1 = load_file(str(tmp_path / "rank1.safetensors"))
    m, batch = _model_and_batch()
    _loss(m, batch).backward()
    for n, p in m.named_parameters():
        assert torch.equal(r0[f"grad.{n}"], r1[f"grad.{n}"]), n  # DDP averaged the same gradient on both ranks
        assert torch.allclose(r0[f"grad.{n}"], p.grad, rtol=1e-4, atol=1e-6), n
    assert torch.equal(r0["codebook"], r1["codebook"])
    assert torch.allclose(r0["codebook"], m.codebook, atol=1e-6)  # all-reduced EMA = one-process EMA
    t0 = load_file(str(tmp_path / "trained0.safetensors"))
    t1 = load_file(str(tmp_path / "trained1.safetensors"))
    assert all(torch.equal(t0[k], t1[k]) for k in t0)  # replicas stay identical (weights and codebook)
    assert (tmp_path / "run" / "checkpoint-00000002" / "rng_rank1.safetensors").is_file()
    assert (tmp_path / "run" / "tokenizer.safetensors").is_file()
