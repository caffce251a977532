"""The Python API: ``MoScalePipeline.from_pretrained(...).generate(prompts, ...)``.

The way of one prompt: text -> :class:`~moscale_cli.text.encoder.TextEncoder` -> next-scale sampler
(generator + tokenizer decoder, normalised feature space) -> de-normalise with the model's statistics ->
``recover_from_ric`` -> joints (T, 22, 3). ``edit``, ``inbetween``, ``extend`` and ``compose`` run the
tasks of ``pipeline/editing.py`` and ``pipeline/compose.py`` on the same object. Every task takes one
:class:`~moscale_cli.sampling.config.SamplingConfig`; None (or ``SamplingConfig()``) = the model's recommended
settings: the guidance its directory records (else the reference's g = 5) and the reference's other defaults.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from moscale_cli.errors import CheckpointError, UsageError
from moscale_cli.pipeline.defaults import DEFAULT_BLEND
from moscale_cli.pipeline.results import EditedMotion, GeneratedMotion
from moscale_cli.sampling.config import SamplingConfig

if TYPE_CHECKING:
    from moscale_cli.model_dir import LoadedModel
    from moscale_cli.pipeline.constraints import Constraints
    from moscale_cli.pipeline.sources import SourceLike
    from moscale_cli.sampling.control import ControlConfig
    from moscale_cli.sampling.fast import StaticRunner
    from moscale_cli.sampling.targets import ControlTargets
    from moscale_cli.text.encoder import TextEncoder
    from moscale_cli.text.features import TextFeatures


class LengthAdjustedWarning(UserWarning):
    """A requested length was not a multiple of the model's unit and was rounded down."""


def _as_list(x: Any, n: int, what: str) -> list[Any]:
    if x is None or isinstance(x, (int, float)):
        return [x] * n
    xs = list(x)
    if len(xs) != n:
        raise UsageError(f"got {len(xs)} {what} values for {n} prompt(s)")
    return xs


def _finished(motions: list[Any], postprocess: bool) -> list[Any]:
    """The motions as the tasks return them: post-processed (``pipeline/postprocess.py``) unless switched off;
    the joints of a motion's spatial constraints (``targets``) are pinned on them."""
    if not postprocess:
        return motions
    from moscale_cli.pipeline.constraints import pins_of
    from moscale_cli.pipeline.postprocess import postprocess_motion

    return [postprocess_motion(m, pins=None if m.targets is None else pins_of(m.targets)) for m in motions]


class MoScalePipeline:
    """A loaded model directory + text encoder, ready to generate.

    ``fast``: which runner the sampling loop uses for every task. None (the default): the eager KV-cache
    runner; ``"eager"``, ``"graphs"`` (CUDA) or ``"compile"``: the static-cache runner in that mode, with bf16
    weights on CUDA and float32 elsewhere; ``"auto"``: graphs on CUDA, eager elsewhere. On CPU (float32) both
    runners give the same motions."""

    def __init__(self, model: LoadedModel, text_encoder: TextEncoder | None = None, device: torch.device | str = "cpu",
                 fast: str | None = None) -> None:
        self.model = model
        self.device = torch.device(device)
        self.tokenizer = model.tokenizer
        self.generator = model.generator
        self.length_estimator = model.length
        self.normalizer = model.normalizer
        self.config = model.config
        self.fps = model.fps
        self.unit = model.unit
        self.min_frames = model.min_frames
        self.max_frames = model.max_frames
        self._text_encoder = text_encoder
        self.runner: StaticRunner | None = None
        if fast is not None:
            from moscale_cli.sampling.fast import StaticRunner, default_fast

            mode, precision = default_fast(self.device)
            self.runner = StaticRunner(self.generator, mode if fast == "auto" else fast, precision)
        gcfg = self.generator.cfg
        if text_encoder is not None:
            self._check_encoder(text_encoder)
        elif int(model.config["text_encoder"].get("dim") or gcfg.text_dim) != gcfg.text_dim:
            raise CheckpointError(f"{model.path}: text encoder width does not match the generator's text_dim {gcfg.text_dim}")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_pretrained(
        cls,
        path_or_hub_id: str | os.PathLike | None = None,
        device: str | torch.device = "auto",
        text_encoder: TextEncoder | None = None,
        fast: str | None = None,
    ) -> MoScalePipeline:
        """Load a model directory, a hub id (``org/name[@rev]``) or, with None, the installed default model
        (``fast``: the sampling runner, see the class doc)."""
        from moscale_cli.model_dir import load_model_dir, resolve_model
        from moscale_cli.utils.device import resolve_device

        dev = device if isinstance(device, torch.device) else resolve_device(str(device))
        path = resolve_model(path_or_hub_id)
        model = load_model_dir(path, device=dev)
        return cls(model, text_encoder=text_encoder, device=dev, fast=fast)

    def _check_encoder(self, enc: TextEncoder) -> None:
        gcfg = self.generator.cfg
        if int(enc.dim) != int(gcfg.text_dim):
            raise CheckpointError(
                f"text encoder {enc.name} gives {enc.dim}-dim features, the generator expects {gcfg.text_dim}"
            )
        if int(enc.max_tokens) > int(gcfg.text_len):
            raise CheckpointError(f"text encoder window {enc.max_tokens} exceeds the generator's text_len {gcfg.text_len}")

    @property
    def text_encoder(self) -> TextEncoder:
        if self._text_encoder is None:
            from moscale_cli.text.factory import get_text_encoder

            te = self.config["text_encoder"]
            enc = get_text_encoder(te["name"], int(te.get("max_tokens", 32)), self.device)
            self._check_encoder(enc)
            self._text_encoder = enc
        return self._text_encoder

    # ------------------------------------------------------------------ validation
    def check_length(self, frames: int | None = None, seconds: float | None = None) -> int | None:
        """Frames for a requested length (None = let the estimator choose); rounds down to the unit."""
        if frames is not None and seconds is not None:
            raise UsageError("give either frames or seconds, not both")
        if seconds is not None:
            if not math.isfinite(float(seconds)) or seconds <= 0:
                raise UsageError(f"length must be a positive number of seconds, got {seconds}")
            frames = int(round(float(seconds) * self.fps))
            what = f"{seconds:g} s = {frames} frames"
        elif frames is not None:
            frames = int(frames)
            what = f"{frames} frames"
        else:
            return None
        if frames < self.min_frames:
            raise UsageError(
                f"length {what} is shorter than the minimum of {self.min_frames} frames ({self.min_frames / self.fps:g} s)"
            )
        if frames > self.max_frames:
            raise UsageError(
                f"length {what} is longer than the maximum of {self.max_frames} frames ({self.max_frames / self.fps:g} s); "
                "use `moscale compose` for longer motions"
            )
        if frames % self.unit:
            new = frames - frames % self.unit
            warnings.warn(
                f"length {what} is not a multiple of {self.unit}; using {new} frames",
                LengthAdjustedWarning,
                stacklevel=3,
            )
            frames = new
        return frames

    def check_prompts(self, prompts: Sequence[str] | str | None, unconditional: bool) -> list[str]:
        if prompts is None:
            if not unconditional:
                raise UsageError("no prompt given (pass a text, or use unconditional generation)")
            return [""]
        if isinstance(prompts, str):
            prompts = [prompts]
        prompts = [str(p) for p in prompts]
        if not prompts:
            raise UsageError("no prompts given")
        if not unconditional:
            for i, p in enumerate(prompts):
                if not p.strip():
                    which = "the prompt" if len(prompts) == 1 else f"prompt {i + 1}"
                    raise UsageError(f"{which} is empty; give a text, or use --unconditional")
        return [p.strip() for p in prompts]

    def check_sampling(self, sampling: SamplingConfig | None = None) -> SamplingConfig:
        """``sampling`` (None = ``SamplingConfig()``) checked against this model (one refine count per scale), with
        what was left to the model (the guidance) taken from its directory's recommendation."""
        scfg = SamplingConfig() if sampling is None else sampling
        if not isinstance(scfg, SamplingConfig):
            raise UsageError(f"sampling must be a SamplingConfig, got {type(scfg).__name__}")
        scfg = scfg.for_model(self.config.get("sampling"))
        n = len(self.generator.scale_lengths)
        if len(scfg.refine_steps) != n:
            raise UsageError(
                f"refine steps {','.join(map(str, scfg.refine_steps))} must give one count for each of the model's {n} scales"
            )
        return scfg

    def encode_prompts(self, prompts: Sequence[str]) -> TextFeatures:
        """Text features on the pipeline's device, one row per prompt; each distinct prompt is encoded once."""
        uniq = list(dict.fromkeys(prompts))
        where = {p: j for j, p in enumerate(uniq)}
        return self.text_encoder.encode(uniq).index([where[p] for p in prompts]).to(self.device)

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def generate(
        self,
        prompts: Sequence[str] | str | None,
        frames: int | Sequence[int | None] | None = None,
        seconds: float | Sequence[float | None] | None = None,
        num_samples: int = 1,
        seed: int = 0,
        sampling: SamplingConfig | None = None,
        unconditional: bool = False,
        batch_size: int = 32,
        on_batch: Callable[[int], None] | None = None,
        postprocess: bool = True,
        constraints: Constraints | None = None,
        control: ControlConfig | None = None,
    ) -> list[GeneratedMotion]:
        """Generate ``num_samples`` motions per prompt (prompt-major order).

        ``frames``/``seconds``: one value or one per prompt (None = drawn from the length estimator).
        Motion r of the request (prompt-major) draws from its own random stream, seeded by (``seed``, r)
        (:func:`~moscale_cli.sampling.draw.row_seed`; the first motion uses ``seed`` itself), so the same
        arguments and ``seed`` give the same motions whatever ``batch_size``. ``postprocess``: rigid bones and
        clean foot contacts (``pipeline/postprocess.py``); False returns the joints as decoded.
        ``constraints``: joint targets every motion reaches (``pipeline/constraints.py``: the positions of its
        joints at given frames, in its own frame; a length left to the estimator grows to hold the last
        constrained frame; the post-process keeps the constrained joints on them); ``control``: how hard the
        sampler works at them (``sampling/control.py``).
        """
        prompts = self.check_prompts(prompts, unconditional)
        if num_samples < 1:
            raise UsageError(f"num_samples must be at least 1, got {num_samples}")
        if batch_size < 1:
            raise UsageError(f"batch_size must be at least 1, got {batch_size}")
        if frames is not None and seconds is not None:
            raise UsageError("give either frames or seconds, not both")
        n = len(prompts)
        fr = _as_list(frames, n, "frames")
        sec = _as_list(seconds, n, "seconds")
        lengths: list[int | None] = [self.check_length(f, s) for f, s in zip(fr, sec, strict=True)]
        scfg = self.check_sampling(sampling)

        rows = [(i, k) for i in range(n) for k in range(num_samples)]
        text = None if unconditional else self.encode_prompts([prompts[i] for i, _ in rows])
        row_frames = self._row_lengths(rows, lengths, text, seed)
        targets: dict[int, np.ndarray] = {}  # resolved constraints per motion length
        if constraints:
            from moscale_cli.pipeline.control import constrained_length

            row_frames = [f if lengths[i] is not None else constrained_length(constraints, f, self.unit, self.max_frames)
                          for f, (i, _) in zip(row_frames, rows, strict=True)]
            for f in sorted(set(row_frames)):
                targets[f] = constraints.resolve(f, origin=True)

        results: list[GeneratedMotion] = []
        for b0 in range(0, len(rows), batch_size):
            chunk = list(range(b0, min(b0 + batch_size, len(rows))))
            lens = torch.tensor([row_frames[r] for r in chunk], dtype=torch.long, device=self.device)
            tf = text.index(chunk) if text is not None else None
            ctl = None
            if targets:
                from moscale_cli.sampling.targets import ControlTargets

                ctl = ControlTargets.from_arrays([targets[row_frames[r]] for r in chunk], int(lens.max()))
            feats_BTD = self._sample(tf, lens, scfg, seed, b0, ctl, control)
            results += self._finish(feats_BTD, lens, [rows[r] for r in chunk], prompts, ctl)
            if on_batch is not None:
                on_batch(len(chunk))
        return _finished(results, postprocess)

    def _row_lengths(self, rows: list[tuple[int, int]], lengths: list[int | None], text: TextFeatures | None,
                     seed: int) -> list[int]:
        need = [r for r, (i, _) in enumerate(rows) if lengths[i] is None]
        out = [lengths[i] if lengths[i] is not None else 0 for i, _ in rows]
        if not need:
            return out  # type: ignore[return-value]
        if self.length_estimator is None:
            raise UsageError("this model has no length estimator; give the length (--seconds or --frames)")
        if text is None:
            raise UsageError("unconditional generation needs a length (--seconds or --frames)")
        gen = torch.Generator(device="cpu").manual_seed(int(seed) + 7919)
        pooled = text.pooled_BE[need].to(self.device)
        pred = self.length_estimator.predict(pooled, sample=True, generator=gen)
        pred = pred.clamp(self.min_frames, self.max_frames)
        for r, f in zip(need, pred.tolist(), strict=True):
            out[r] = int(f) - int(f) % self.unit
        return out

    def _sample(self, text: TextFeatures | None, lens: torch.Tensor, scfg: SamplingConfig, seed: int, first: int,
                targets: ControlTargets | None = None, control: ControlConfig | None = None) -> torch.Tensor:
        """Normalised features of request rows ``first ..`` (one per length), row r drawing from (seed, r);
        with ``targets``, under spatial control (``sampling/control.py``)."""
        from moscale_cli.sampling.draw import row_generators
        from moscale_cli.sampling.sampler import sample

        gens = row_generators(int(seed), len(lens), self.device, start=first)
        if targets is not None:
            from moscale_cli.sampling.control import controlled_sample

            out = controlled_sample(self.generator, self.tokenizer, self.normalizer, text, lens, targets, scfg, control,
                                    gens, batch_size=len(lens), runner=self.runner)
        else:
            out = sample(self.generator, self.tokenizer, text, lens, scfg, gens, batch_size=len(lens), runner=self.runner)
        return out.feats.float()

    def _finish(self, feats_BTD: torch.Tensor, lens: torch.Tensor, rows: list[tuple[int, int]], prompts: list[str],
                targets: ControlTargets | None = None) -> list[GeneratedMotion]:
        from moscale_cli.motion.features import recover_from_ric

        res = []
        for j, (i, k) in enumerate(rows):
            T = int(lens[j])
            f = feats_BTD[j, :T].detach().cpu().numpy().astype(np.float32)
            f = np.asarray(self.normalizer.denormalize(f), dtype=np.float32)
            tg = None
            if targets is not None:
                from moscale_cli.sampling.targets import correct_root

                f = correct_root(f, targets, j)
                tg = np.where(targets.mask[j, :T].cpu().numpy(), targets.positions[j, :T].cpu().numpy(), np.nan)
            joints = np.asarray(recover_from_ric(f, joints_num=22), dtype=np.float32)
            res.append(GeneratedMotion(prompts[i], joints, f, T, self.fps, sample_index=k, prompt_index=i, targets=tg))
        return res

    # ------------------------------------------------------------------ editing tasks (editing.py, compose.py)
    def edit(
        self,
        source: SourceLike,
        prompt: str | None,
        regions: Sequence[Sequence[float]] | np.ndarray | None = None,
        mask: Sequence[bool] | np.ndarray | None = None,
        frames: int | None = None,
        extend: str = "end",
        seed: int = 0,
        sampling: SamplingConfig | None = None,
        unconditional: bool = False,
        blend: int = DEFAULT_BLEND,
        postprocess: bool = True,
        constraints: Constraints | None = None,
        control: ControlConfig | None = None,
    ) -> EditedMotion:
        """Regenerate frame ``regions`` ``[(start, end), ...]`` (or a per-frame ``mask``, True = regenerate) of
        ``source`` (path, ``LoadedMotion``, joints or features) under ``prompt``; ``frames`` > the source length
        extends it at the ``extend`` end ("end", "start", "both"). Every other frame keeps the source exactly: its
        features for a features source; its joints, in its own space (placement, facing, bone lengths), for a
        joints or BVH source (``EditedMotion.space == "source"``; ``.features`` are then the model-space
        features). Frames count at 20 fps. Returns an ``EditedMotion`` (a ``GeneratedMotion`` with regions,
        boundaries, seams). ``postprocess``: clean the regenerated frames (rigid bones, foot contacts).
        ``constraints``: joint targets in the output's frame, on generated frames (``pipeline/control.py``)."""
        from moscale_cli.pipeline.editing import edit_motion

        m = edit_motion(self, source, prompt, regions=regions, mask=mask, frames=frames, extend=extend, seed=seed,
                        sampling=sampling, unconditional=unconditional, blend=blend, constraints=constraints,
                        control=control)
        return _finished([m], postprocess)[0]

    def extend(
        self,
        source: SourceLike,
        prompt: str | None,
        frames: int,
        at: str = "end",
        seed: int = 0,
        sampling: SamplingConfig | None = None,
        unconditional: bool = False,
        blend: int = DEFAULT_BLEND,
        postprocess: bool = True,
        constraints: Constraints | None = None,
        control: ControlConfig | None = None,
    ) -> EditedMotion:
        """Outpainting: ``source`` grown to ``frames`` frames, the new ones generated at the ``at`` end
        ("end", "start" or "both") under ``prompt``; the source's frames are kept."""
        return self.edit(source, prompt, frames=frames, extend=at, seed=seed, sampling=sampling,
                         unconditional=unconditional, blend=blend, postprocess=postprocess, constraints=constraints,
                         control=control)

    def inbetween(
        self,
        prompt: str | None,
        start: SourceLike | None = None,
        end: SourceLike | None = None,
        frames: int | None = None,
        source: SourceLike | None = None,
        keep_start: int = 0,
        keep_end: int = 0,
        seed: int = 0,
        sampling: SamplingConfig | None = None,
        unconditional: bool = False,
        blend: int = DEFAULT_BLEND,
        postprocess: bool = True,
        constraints: Constraints | None = None,
        control: ControlConfig | None = None,
    ) -> EditedMotion:
        """``start`` + ``frames`` generated frames + ``end``; or ``source`` keeping its first ``keep_start`` and
        last ``keep_end`` frames with the middle regenerated (``frames`` = total length). Joints/BVH motions: the
        result is in the space of ``source`` (or ``start``, else ``end``). Returns ``EditedMotion``.
        ``constraints``: joint targets in the output's frame, on generated frames (``pipeline/control.py``)."""
        from moscale_cli.pipeline.editing import inbetween_motion

        m = inbetween_motion(self, prompt, start=start, end=end, frames=frames, source=source,
                             keep_start=keep_start, keep_end=keep_end, seed=seed, sampling=sampling,
                             unconditional=unconditional, blend=blend, constraints=constraints, control=control)
        return _finished([m], postprocess)[0]

    def compose(
        self,
        segments: Sequence[tuple[str, int]],
        overlap: int = 20,
        seed: int = 0,
        sampling: SamplingConfig | None = None,
        unconditional: bool = False,
        blend: int = DEFAULT_BLEND,
        on_window: Callable[[int, int], None] | None = None,
        postprocess: bool = True,
        constraints: Constraints | None = None,
        control: ControlConfig | None = None,
    ) -> EditedMotion:
        """One continuous motion of any length from ``[(prompt, frames), ...]``; each window is conditioned on
        the last ``overlap`` frames of the previous one. Returns ``EditedMotion``. ``constraints``: joint targets
        over the whole motion, in its frame (``pipeline/control.py``)."""
        from moscale_cli.pipeline.compose import compose_motion

        m = compose_motion(self, segments, overlap=overlap, seed=seed, sampling=sampling,
                           unconditional=unconditional, blend=blend, on_window=on_window,
                           constraints=constraints, control=control)
        return _finished([m], postprocess)[0]
