"""Multi-scale residual vector quantizer (method spec §2.2, §4.1) as its own module.

One shared codebook (a buffer learned by EMA, not by gradients) quantises a latent ``(B, C, N)`` coarse to
fine over temporal scales: at scale k the residual is area-pooled to ``L_k = N // s_k`` steps, each step takes
its nearest code (Gumbel-max choice in train mode), the codes are dequantised, zeroed past the valid length,
linearly upsampled back to ``N`` steps and subtracted from the residual. Optionally (training the generator)
the codes used for the residual update are corrupted at a random rate per scale (cross-scale perturbation);
the labels stay the clean choices.

The commitment term follows the reference's normalisation: the summed squared error over valid positions
and channels divided by (valid positions x ``n_grid``), i.e. ``(C / n_grid)`` times the per-element MSE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from moscale_cli.models.layers import length_mask


@dataclass
class QuantizerOutput:
    """What one quantisation pass gives; lists are per scale, coarse to fine."""

    labels: list[torch.Tensor]  # clean ids (B, L_k), -1 at padding
    perturbed_ids: list[torch.Tensor]  # ids actually used for the residual update (perturbed), -1 at padding
    contexts: list[torch.Tensor | None]  # scale k's context (B, C, L_k) from f_hat of scales < k; None for k = 0
    contributions: list[torch.Tensor]  # (B, C, N) upsampled contribution of each scale (sum = fhat)
    gammas: list[float]  # corruption rate drawn per scale (0 without perturbation)
    fhat: torch.Tensor  # (B, C, N) accumulated quantised latent
    commit: torch.Tensor  # scalar commitment loss (mean over scales)
    commit_per_scale: list[torch.Tensor]
    residuals: torch.Tensor | None = None  # (M, C) valid pooled residuals of all scales (for the EMA update)
    residual_ids: torch.Tensor | None = None  # (M,) their chosen codes


def _dist_on() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _first_rank_with_rows(n_rows: int, device: torch.device) -> int:
    """The lowest rank whose local batch has rows (0 without DDP when ``n_rows``); -1 when no process has any.
    Under DDP every rank must call it (one all-reduce), so that all agree on the source of a broadcast."""
    if not _dist_on():
        return 0 if n_rows > 0 else -1
    world = dist.get_world_size()
    t = torch.tensor([dist.get_rank() if n_rows > 0 else world], device=device, dtype=torch.long)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    src = int(t.item())
    return src if src < world else -1


class MultiScaleQuantizer(nn.Module):
    """Codebook, nearest-code search, residual quantisation over scales, EMA updates and dead-code reset."""

    def __init__(
        self,
        n_codes: int,
        code_dim: int,
        scales: tuple[int, ...],
        n_grid: int,
        ema_decay: float = 0.99,
        gumbel_temp: float = 0.5,
        dead_code_threshold: float = 1.0,
        reset_min_assign_factor: float = 5.0,
    ) -> None:
        super().__init__()
        self.n_codes, self.code_dim = int(n_codes), int(code_dim)
        self.scales = tuple(int(s) for s in scales)
        self.n_grid = int(n_grid)
        self.scale_lengths = [max(1, self.n_grid // s) for s in self.scales]
        self.ema_decay = float(ema_decay)
        self.gumbel_temp = float(gumbel_temp)
        self.dead_code_threshold = float(dead_code_threshold)
        self.reset_min_assign_factor = float(reset_min_assign_factor)
        self.register_buffer("codebook", torch.zeros(self.n_codes, self.code_dim))
        self.register_buffer("ema_count", torch.ones(self.n_codes))
        self.register_buffer("ema_sum", torch.zeros(self.n_codes, self.code_dim))
        self.register_buffer("codebook_initialized", torch.zeros((), dtype=torch.bool))
        self.last_dead_reset = 0  # codes reset by the last EMA update

    # ----------------------------------------------------------------- lengths and codes
    def valid_lengths(self, grid_lengths_B: torch.Tensor) -> list[torch.Tensor]:
        """Valid tokens per scale for valid latent lengths (grid steps): ``n // s`` (0 when shorter than a token)."""
        g = torch.as_tensor(grid_lengths_B).long()
        return [g // s for s in self.scales]

    def nearest(self, x_MC: torch.Tensor, sample: bool = False) -> torch.Tensor:
        """Nearest code by squared L2 (``sample``: Gumbel-max over -distance / temperature)."""
        cb = self.codebook
        d = x_MC.pow(2).sum(-1, keepdim=True) - 2 * x_MC @ cb.t() + cb.pow(2).sum(-1).unsqueeze(0)
        if sample and self.gumbel_temp > 0:
            u = torch.rand_like(d).clamp_(1e-20, 1.0)
            return (-d / self.gumbel_temp - torch.log(-torch.log(u))).argmax(-1)
        return d.argmin(-1)

    def upsample(self, ids_BL: torch.Tensor, tok_mask_BL: torch.Tensor) -> torch.Tensor:
        """Dequantise ids (zero where ``tok_mask`` is False) and upsample linearly to ``n_grid`` -> (B, C, N)."""
        return self.upsample_embeddings(self.codebook[ids_BL.clamp(min=0)], tok_mask_BL)

    def upsample_embeddings(self, z_BLC: torch.Tensor, tok_mask_BL: torch.Tensor) -> torch.Tensor:
        """Code vectors (B, L, C) of one scale (zero where ``tok_mask`` is False; also soft mixtures of codes,
        differentiably) upsampled linearly to ``n_grid`` -> (B, C, N)."""
        z = z_BLC * tok_mask_BL.unsqueeze(-1).to(z_BLC.dtype)
        return F.interpolate(z.transpose(1, 2), size=self.n_grid, mode="linear", align_corners=False)

    def contribution(self, ids_BL: torch.Tensor, k: int, grid_lengths: torch.Tensor) -> torch.Tensor:
        """Scale ``k``'s contribution to the latent (padding ids -1 and positions past the valid length -> 0)."""
        vl = self.valid_lengths(torch.as_tensor(grid_lengths, device=ids_BL.device))[k]
        return self.upsample(ids_BL, (ids_BL >= 0) & length_mask(vl, ids_BL.shape[1]))

    def coarse_context(self, fhat_BCN: torch.Tensor, k: int) -> torch.Tensor:
        """Area-downsample an accumulated latent to scale ``k``'s length -> (B, C, L_k)."""
        return F.interpolate(fhat_BCN, size=self.scale_lengths[k], mode="area")

    # ----------------------------------------------------------------- quantisation
    def forward(
        self,
        latent_BCN: torch.Tensor,
        grid_lengths: torch.Tensor,
        perturb_rate: tuple[float, float] | None = None,
        generator: torch.Generator | None = None,
        collect: bool = False,
    ) -> QuantizerOutput:
        """Coarse-to-fine residual quantisation in fp32 (Gumbel choice in train mode).

        ``perturb_rate=(lo, hi)``: per scale one rate gamma ~ U(lo, hi); each valid code is replaced with
        probability gamma by a uniformly random different code for the residual update (labels stay clean).
        ``collect``: also return the valid pooled residuals and their ids for :meth:`ema_update`."""
        f = latent_BCN.float()
        B, C, N = f.shape
        grid_lengths = torch.as_tensor(grid_lengths, device=f.device).long().view(-1)
        grid_mask = length_mask(grid_lengths, N).unsqueeze(1).float()  # B 1 N
        vls = self.valid_lengths(grid_lengths)
        K = self.n_codes
        r = f * grid_mask
        fhat = torch.zeros_like(f)
        labels, used_ids, contexts, contribs, gammas, commits = [], [], [], [], [], []
        xs, cs = [], []
        denom = grid_mask.sum() * N  # the reference's normalisation (see the module doc)
        for k, L in enumerate(self.scale_lengths):
            tok_mask = length_mask(vls[k], L)
            contexts.append(None if k == 0 else self.coarse_context(fhat, k))
            rk = F.interpolate(r * grid_mask, size=L, mode="area")  # B C L
            flat = rk.transpose(1, 2).reshape(-1, C)
            ids = self.nearest(flat, self.training).view(B, L)
            if collect:
                sel = tok_mask.reshape(-1)
                xs.append(flat.detach()[sel])
                cs.append(ids.reshape(-1)[sel])
            used = ids
            gamma = 0.0
            if perturb_rate is not None and perturb_rate[1] > 0:
                lo, hi = float(perturb_rate[0]), float(perturb_rate[1])
                dev = generator.device if generator is not None else torch.device("cpu")
                gamma = lo + (hi - lo) * torch.rand((), generator=generator, device=dev).item()
                hit = (torch.rand((B, L), generator=generator, device=dev) < gamma).to(ids.device) & tok_mask
                shift = torch.randint(1, K, (B, L), generator=generator, device=dev).to(ids.device)
                used = torch.where(hit, (ids + shift) % K, ids)
            contrib = self.upsample(used, tok_mask)
            r = r - contrib
            fhat = fhat + contrib
            labels.append(ids.masked_fill(~tok_mask, -1))
            used_ids.append(used.masked_fill(~tok_mask, -1))
            contribs.append(contrib)
            gammas.append(gamma)
            commits.append(((f - fhat.detach()).pow(2) * grid_mask).sum() / denom)
        return QuantizerOutput(
            labels=labels, perturbed_ids=used_ids, contexts=contexts, contributions=contribs, gammas=gammas, fhat=fhat,
            commit=torch.stack(commits).mean(), commit_per_scale=commits,
            residuals=torch.cat(xs) if collect else None, residual_ids=torch.cat(cs) if collect else None,
        )

    # ----------------------------------------------------------------- codebook learning (EMA)
    @torch.no_grad()
    def init_codebook(self, x_MC: torch.Tensor) -> None:
        """Initialise from data vectors (tiled with small noise when there are fewer than codes). Under DDP the
        codebook of the first rank that has vectors is broadcast; without any vector anywhere nothing changes
        (the next batch initialises it)."""
        K, C = self.codebook.shape
        src = _first_rank_with_rows(x_MC.shape[0], self.codebook.device)
        if src < 0:
            return
        if x_MC.shape[0] > 0:
            if x_MC.shape[0] < K:
                reps = math.ceil(K / x_MC.shape[0])
                x_MC = x_MC.repeat(reps, 1)
                x_MC = x_MC + torch.randn_like(x_MC) * (0.01 / math.sqrt(C))
            idx = torch.randperm(x_MC.shape[0], device=x_MC.device)[:K]
            init = x_MC[idx].float()
        else:  # this rank has no vector: it receives the source rank's
            init = torch.zeros(K, C, device=self.codebook.device)
        if _dist_on():
            dist.broadcast(init, src=src)
        self.codebook.copy_(init)
        self.ema_sum.copy_(init)
        self.ema_count.fill_(1.0)
        self.codebook_initialized.fill_(True)

    @torch.no_grad()
    def ema_update(self, x_MC: torch.Tensor, ids_M: torch.Tensor) -> None:
        """EMA update from valid residuals (counts and sums all-reduced under DDP); codes whose EMA count fell
        below the threshold are reset to random current residuals when the batch has enough assignments.

        Under DDP every rank takes part in the same collectives whatever its local batch holds: whether to reset
        depends only on all-reduced values, and the new codes come from the first rank that has residuals (a rank
        with none receives them), so a rank whose batch has no valid position never leaves the others waiting."""
        K, C = self.codebook.shape
        mu = self.ema_decay
        x = x_MC.float()
        counts = torch.bincount(ids_M, minlength=K).float()
        sums = torch.zeros(K, C, device=x.device).index_add_(0, ids_M, x)
        if _dist_on():
            dist.all_reduce(counts)
            dist.all_reduce(sums)
        self.ema_count.mul_(mu).add_(counts, alpha=1 - mu)
        self.ema_sum.mul_(mu).add_(sums, alpha=1 - mu)
        self.codebook.copy_(self.ema_sum / self.ema_count.clamp(min=1e-12).unsqueeze(1))
        dead = self.ema_count < self.dead_code_threshold
        enough = counts.sum().item() > self.reset_min_assign_factor * K
        n_dead = int(dead.sum().item())
        if n_dead and enough:  # the same on every rank (all-reduced counts, identical EMA buffers)
            src = _first_rank_with_rows(x.shape[0], x.device)
            if x.shape[0] > 0:
                new = x[torch.randint(0, x.shape[0], (n_dead,), device=x.device)]
            else:
                new = torch.zeros(n_dead, C, device=x.device)
            if _dist_on():
                dist.broadcast(new, src=src)
            self.codebook[dead] = new
            self.ema_sum[dead] = new
            self.ema_count[dead] = 1.0
        self.last_dead_reset = n_dead if enough else 0


@torch.no_grad()
def code_stats(ids_list: list[torch.Tensor], n_codes: int) -> dict[str, list[float]]:
    """Per-scale perplexity and usage (fraction of codes used) over the valid ids."""
    ppl, usage = [], []
    for ids in ids_list:
        v = ids[ids >= 0]
        if v.numel() == 0:
            ppl.append(0.0)
            usage.append(0.0)
            continue
        p = torch.bincount(v, minlength=n_codes).float() / v.numel()
        nz = p[p > 0]
        ppl.append(float(torch.exp(-(nz * nz.log()).sum())))
        usage.append(float((p > 0).float().mean()))
    return {"perplexity": ppl, "usage": usage}


__all__ = ["MultiScaleQuantizer", "QuantizerOutput", "code_stats"]
