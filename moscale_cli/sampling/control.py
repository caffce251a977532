"""Spatial control: joints reach given positions at given frames, at inference time, without retraining.

The targets (:class:`ControlTargets`) are joint positions in the generated motion's frame (the joints
``recover_from_ric`` gives: metres, Y up, the first frame's pelvis above the origin facing +Z), per motion
(row), per frame, per joint and per coordinate (a coordinate may be left free). Two steps reach them:

1. **Logit optimisation** (:class:`ControlHook`, a logit hook of the one refinement loop of
   ``sampling/sampler.py``, so it runs on either runner and with the locked tokens of an edit): at the passes
   of the chosen scales, the guided logits of the positions the pass re-draws are optimised for a few Adam
   steps. The positions' code vectors are the *expectation* of the codebook under ``softmax(logits)``
   (differentiable expectation sampling), the other positions keep their codes; that scale's soft
   contribution is added to the latent of the finished scales, decoded by the tokenizer's decoder,
   de-normalised (and blended with the kept frames of an edit), turned into joints (``recover_from_ric``,
   differentiable) and compared with the targets. The optimised logits replace the guided ones for the
   confidence and the draw, so the loop's sampling, top-p and re-masking stay as they are.
2. **Latent refinement** (:func:`refine_latent`): the sampled latent (the sum of the scales' code vectors)
   gets a continuous offset, optimised through the same decoder for a few more steps, limited to the latent
   positions the motion may change (all of a generation; the re-generated tokens of an edit). Discrete codes
   bring the motion near the targets; this brings it onto them.

:func:`controlled_sample` runs both around :func:`~moscale_cli.sampling.sampler.sample`. ``docs/method.md``
says what is taken from MaskControl and what differs for a next-scale model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from moscale_cli.config import ConfigBase
from moscale_cli.errors import ConfigError
from moscale_cli.models.generator import MoScaleTransformer
from moscale_cli.models.layers import length_mask
from moscale_cli.models.tokenizer import MSTokenizer
from moscale_cli.motion.features import recover_from_ric
from moscale_cli.motion.normalize import Normalizer
from moscale_cli.sampling.config import SamplingConfig
from moscale_cli.sampling.draw import Seeds
from moscale_cli.sampling.sampler import EditSpec, Lengths, RefinePass, SampleResult, ScaleRunner, sample
from moscale_cli.sampling.targets import JOINTS, ControlTargets

if TYPE_CHECKING:
    from moscale_cli.text.features import TextFeatures


@dataclass
class ControlConfig(ConfigBase):
    """How hard and where the control optimises (see the module doc and docs/method.md)."""

    scales: tuple[int, ...] = (0, 1, 2, 3)  # scales whose passes optimise their logits (negative = from the finest)
    steps: int = 2  # Adam steps on the logits per pass
    lr: float = 1.0  # on logits
    draft: bool = True  # decode a coarse scale with the finer scales of an unconstrained draft (else without them)
    refine_steps: int = 400  # at most this many Adam steps on the latent offset after sampling (0 = none)
    refine_lr: float = 0.1
    refine_tol: float = 0.002  # m: the refinement stops once every row's RMS distance of joints to targets is
    refine_pelvis_tol: float = 0.03  # below this, and that of its pelvis (which the root correction then meets) this

    def __post_init__(self) -> None:
        self.scales = tuple(int(s) for s in self.scales)
        if self.steps < 0 or self.refine_steps < 0:
            raise ConfigError("control: steps and refine_steps must be >= 0")
        if self.lr <= 0 or self.refine_lr <= 0 or self.refine_tol < 0 or self.refine_pelvis_tol < 0:
            raise ConfigError("control: learning rates must be positive and tolerances >= 0")

    def scale_set(self, n_scales: int) -> set[int]:
        out = set()
        for s in self.scales:
            if not -n_scales <= s < n_scales:
                raise ConfigError(f"control: scale {s} does not exist (the model has {n_scales} scales)")
            out.add(s % n_scales)
        return out


class JointObjective:
    """Differentiable latent -> joints -> squared distance to the targets, per row.

    The pelvis is measured as decoded (its targets are met afterwards by the root correction, whose
    translation the objective keeps small that way); every other joint where the root correction will put it
    (``sampling/targets.py``)."""

    def __init__(self, tokenizer: MSTokenizer, normalizer: Normalizer, targets: ControlTargets) -> None:
        self.tok = tokenizer
        self.norm = normalizer
        self.t = targets
        m = targets.mask.any(-1)  # (B, T, J) constrained joint-frames
        self.count = m.flatten(1).sum(1).clamp(min=1).float()
        self.pelvis_count = m[:, :, 0].sum(1).float()
        self.other_count = m[:, :, 1:].flatten(1).sum(1).float()
        self.pelvis = bool(targets.mask[:, :, 0].any())

    def features(self, fhat_BCN: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, D) de-normalised features of a latent, as the caller will put the motion together."""
        feats = self.norm.denormalize(self.tok.decode_latent(fhat_BCN, lengths).float())[:, : self.t.frames]
        if self.t.base is not None:
            w = self.t.weight.unsqueeze(-1)
            feats = (1.0 - w) * self.t.base + w * feats
        return feats

    def terms(self, fhat_BCN: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B,) summed squared distances (m^2) of the pelvis targets and of the other joints' targets."""
        feats = self.features(fhat_BCN, lengths)
        joints = recover_from_ric(feats, JOINTS)
        raw = self.t.to_target_frame(joints, feats)
        if self.pelvis:
            moved = self.t.to_target_frame(joints + self.t.correction(joints, feats).unsqueeze(2), feats)
            raw = torch.cat([raw[:, :, :1], moved[:, :, 1:]], dim=2)
        d = ((raw - self.t.positions) * self.t.mask).square()
        return d[:, :, 0].flatten(1).sum(1), d[:, :, 1:].flatten(1).sum(1)

    def loss(self, fhat_BCN: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B,) mean squared distance (m^2) over each row's constrained joint-frames (free coordinates ignored)."""
        pelvis, other = self.terms(fhat_BCN, lengths)
        return (pelvis + other) / self.count

    def close(self, pelvis: torch.Tensor, other: torch.Tensor, pelvis_tol: float, tol: float) -> bool:
        """Every row's RMS pelvis distance within ``pelvis_tol`` and its other joints' within ``tol`` (m)."""
        p_ok = pelvis <= pelvis_tol**2 * self.pelvis_count
        o_ok = other <= tol**2 * self.other_count
        return bool((p_ok & o_ok).all())


class _Adam:
    """Adam (Kingma & Ba) on one tensor, without torch.optim (whose first use imports torch._dynamo: seconds)."""

    def __init__(self, x: torch.Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.x, self.lr, self.b1, self.b2, self.eps = x, lr, betas[0], betas[1], eps
        self.m = torch.zeros_like(x)
        self.v = torch.zeros_like(x)
        self.t = 0

    def step(self, loss: torch.Tensor) -> None:
        (g,) = torch.autograd.grad(loss, [self.x])
        self.t += 1
        self.m.mul_(self.b1).add_(g, alpha=1 - self.b1)
        self.v.mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
        mh = self.m / (1 - self.b1**self.t)
        vh = self.v / (1 - self.b2**self.t)
        with torch.no_grad():
            self.x.sub_(self.lr * mh / (vh.sqrt() + self.eps))


class ControlHook:
    """The logit hook of logit optimisation (module doc, step 1). Call it with a :class:`RefinePass`."""

    def __init__(self, tokenizer: MSTokenizer, normalizer: Normalizer, targets: ControlTargets,
                 cfg: ControlConfig | None = None, finer: list[torch.Tensor] | None = None) -> None:
        self.tok = tokenizer
        self.norm = normalizer
        self.cfg = cfg or ControlConfig()
        self.targets = targets
        self.finer = finer  # per scale k: (B, C, N) latent of the scales finer than k, added when decoding
        self.scales = self.cfg.scale_set(len(tokenizer.scale_lengths))
        self._active = targets.active()

    def __call__(self, p: RefinePass) -> torch.Tensor | None:
        if p.k not in self.scales or self.cfg.steps == 0:
            return None
        rows = (self._active.to(p.redraw.device) & p.redraw.any(1)).nonzero().flatten()
        if rows.numel() == 0:
            return None
        out = p.logits.clone()
        out[rows] = self.optimise(p, rows)
        return out

    def optimise(self, p: RefinePass, rows: torch.Tensor) -> torch.Tensor:
        """Optimised logits (R, L, K) of ``rows``."""
        tok, cfg = self.tok, self.cfg
        q = tok.quantizer
        dev = p.logits.device
        tg = self.targets.rows(rows.cpu()).to(dev)
        obj = JointObjective(tok, self.norm, tg)
        lengths = p.lengths[rows]
        ids, redraw = p.ids[rows], p.redraw[rows]
        L = ids.shape[1]
        valid = length_mask(tok.valid_lengths(lengths)[p.k].to(dev), L)
        cb = q.codebook.detach().float()
        fixed = cb[ids.clamp(min=0)]
        base = torch.zeros(len(rows), cb.shape[1], q.n_grid, device=dev) if p.fhat is None else p.fhat[rows].float()
        if self.finer is not None:
            base = base + self.finer[p.k][rows].to(dev).float()
        with torch.enable_grad():
            z = p.logits[rows].detach().clone().requires_grad_(True)
            opt = _Adam(z, cfg.lr)
            for _ in range(cfg.steps):
                soft = torch.softmax(z, dim=-1) @ cb
                emb = torch.where(redraw.unsqueeze(-1), soft, fixed)
                opt.step(obj.loss(base + q.upsample_embeddings(emb, valid), lengths).sum())
        return z.detach()


def refine_latent(tokenizer: MSTokenizer, normalizer: Normalizer, fhat_BCN: torch.Tensor, lengths: torch.Tensor,
                  targets: ControlTargets, cfg: ControlConfig | None = None,
                  editable_BN: torch.Tensor | None = None) -> torch.Tensor:
    """The latent with a continuous offset optimised towards the targets (module doc, step 2); rows without
    targets and latent positions outside ``editable_BN`` (B, N) bool stay as they are."""
    cfg = cfg or ControlConfig()
    out = fhat_BCN.detach().clone()
    active = targets.active().to(out.device)
    if cfg.refine_steps == 0 or not bool(active.any()):
        return out
    rows = active.nonzero().flatten()
    dev = out.device
    tg = targets.rows(rows.cpu()).to(dev)
    obj = JointObjective(tokenizer, normalizer, tg)
    lens = lengths[rows]
    grid = length_mask(lens // tokenizer.unit, out.shape[-1])
    if editable_BN is not None:
        grid = grid & editable_BN[rows].to(dev).bool()
    gmask = grid.unsqueeze(1).float()
    base = out[rows].float()
    with torch.enable_grad():
        delta = torch.zeros_like(base, requires_grad=True)
        opt = _Adam(delta, cfg.refine_lr)
        for _ in range(cfg.refine_steps):
            pelvis, other = obj.terms(base + delta * gmask, lens)
            if obj.close(pelvis.detach(), other.detach(), cfg.refine_pelvis_tol, cfg.refine_tol):
                break
            opt.step(((pelvis + other) / obj.count).sum())
    out[rows] = (base + delta.detach() * gmask).to(out.dtype)
    return out


def editable_latent(edit: EditSpec, n_grid: int) -> torch.Tensor:
    """(B, N) bool: latent positions an edit re-generates (its finest scale's edit mask on the grid)."""
    m = edit.edit_mask[-1].float().unsqueeze(1)
    return F.interpolate(m, size=n_grid, mode="nearest").squeeze(1) > 0.5


@torch.no_grad()
def controlled_sample(
    generator: MoScaleTransformer,
    tokenizer: MSTokenizer,
    normalizer: Normalizer,
    text_features: TextFeatures | None,
    lengths_frames: Lengths,
    targets: ControlTargets | None,
    cfg: SamplingConfig | None = None,
    control: ControlConfig | None = None,
    generator_seed: Seeds = 0,
    edit: EditSpec | None = None,
    batch_size: int | None = None,
    runner: ScaleRunner | None = None,
) -> SampleResult:
    """:func:`~moscale_cli.sampling.sampler.sample` with spatial control (module doc): the logit hook during
    sampling, then the latent refinement and the final decode. ``targets`` None (or without any target) is
    plain sampling."""
    if targets is None or not bool(targets.active().any()):
        return sample(generator, tokenizer, text_features, lengths_frames, cfg, generator_seed, edit=edit,
                      batch_size=batch_size, runner=runner)
    control = control or ControlConfig()
    dev = next(tokenizer.parameters()).device
    targets = targets.to(dev)
    finer = None
    if control.draft:
        seeds = generator_seed
        if isinstance(seeds, torch.Generator):
            seeds = [seeds]
        if not isinstance(seeds, int):
            seeds = [_copy(g) for g in seeds]
        d = sample(generator, tokenizer, text_features, lengths_frames, cfg, seeds, edit=edit, batch_size=batch_size,
                   runner=runner)
        parts = [tokenizer.ids_to_contribution(ids, k, d.lengths).float() for k, ids in enumerate(d.ids)]
        finer = [sum(parts[k + 1 :], torch.zeros_like(parts[0])) for k in range(len(parts))]
    hook = ControlHook(tokenizer, normalizer, targets, control, finer)
    res = sample(generator, tokenizer, text_features, lengths_frames, cfg, generator_seed, edit=edit,
                 batch_size=batch_size, hook=hook, runner=runner)
    editable = None if edit is None else editable_latent(edit, res.fhat.shape[-1])
    fhat = refine_latent(tokenizer, normalizer, res.fhat, res.lengths, targets, control, editable)
    feats = tokenizer.decode_latent(fhat, res.lengths).float()
    return SampleResult(ids=res.ids, feats=feats, lengths=res.lengths, fhat=fhat)


def _copy(g: torch.Generator) -> torch.Generator:
    c = torch.Generator(device=g.device)
    c.set_state(g.get_state())
    return c


__all__ = ["ControlConfig", "ControlHook", "JointObjective", "controlled_sample", "editable_latent", "refine_latent"]
