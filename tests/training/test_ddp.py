"""DDP on CPU (gloo, 2 processes): averaged gradients equal one process on the concatenated batch,
the EMA codebook stays identical across replicas, the Trainer runs under DDP, and a rank whose batch has no
valid residual takes part in the dead-code reset instead of leaving the other waiting."""

from __future__ import annotations

import datetime
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


@pytest.mark.slow
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


def _reset_worker(rank: int, world: int, rendezvous: str, out: str, empty_rank: int) -> None:
    """One EMA update with dead codes to reset, where ``empty_rank`` has no valid residual in its batch."""
    from moscale_cli.models.quantizer import MultiScaleQuantizer

    torch.set_num_threads(1)
    # a short collective timeout: a rank left waiting fails within seconds instead of hanging the test
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=20))
    try:
        torch.manual_seed(0)  # the same buffers on both ranks, as DDP keeps them
        q = MultiScaleQuantizer(8, 4, (2, 1), 8, reset_min_assign_factor=1.0)
        with torch.no_grad():
            q.codebook.copy_(torch.randn(8, 4))
            q.ema_sum.copy_(q.codebook)
            q.ema_count[4:] = 0.5  # codes 4..7 are dead
            q.codebook_initialized.fill_(True)
        torch.manual_seed(100 + rank)
        if rank == empty_rank:
            x, ids = torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)
        else:
            x = torch.randn(40, 4) * 0.1 + 5.0  # far from every code: a reset code lands in this cloud
            ids = torch.arange(40) % 4
        q.ema_update(x, ids)
        save_file({"codebook": q.codebook.contiguous(), "ema_count": q.ema_count.contiguous(),
                   "reset": torch.tensor([q.last_dead_reset])}, os.path.join(out, f"reset{empty_rank}-{rank}.safetensors"))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed not available")
@pytest.mark.parametrize("empty_rank", [1, 0])
def test_dead_code_reset_with_a_rank_without_residuals_does_not_hang(tmp_path: Path, empty_rank: int) -> None:
    """Bug: the reset broadcast ran only on ranks whose batch had valid residuals, so the other rank(s) waited
    forever. Every rank now joins the same collectives, the new codes coming from a rank that has residuals."""
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_reset_worker, args=(r, 2, str(tmp_path / "rdv"), str(tmp_path), empty_rank))
             for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=90)
    alive = [p for p in procs if p.is_alive()]
    for p in alive:
        p.kill()
        p.join()
    assert not alive, "a rank was still waiting in a collective"
    assert [p.exitcode for p in procs] == [0, 0]
    r0 = load_file(str(tmp_path / f"reset{empty_rank}-0.safetensors"))
    r1 = load_file(str(tmp_path / f"reset{empty_rank}-1.safetensors"))
    assert torch.equal(r0["codebook"], r1["codebook"]) and torch.equal(r0["ema_count"], r1["ema_count"])
    assert int(r0["reset"]) == int(r1["reset"]) == 4
    assert bool(((r0["codebook"][4:] - 5.0).abs() < 1.0).all())  # the dead codes took residuals of the other rank
    assert torch.all(r0["ema_count"][4:] == 1.0)
