"""The eager KV-cache runner of the refinement loop (:func:`moscale_cli.sampling.sampler.sample`).

:class:`ScaleDecoder` is the inference state of a :class:`~moscale_cli.models.generator.MoScaleTransformer`
for one batch of text rows (method §4.2, §5). Per scale: :meth:`~ScaleDecoder.logits` once per refinement pass
with the current ids, then :meth:`~ScaleDecoder.commit` with the final ids. With ``use_cache`` the
keys/values of finished scales are kept per layer: the first pass of scale k feeds [scale k-1 (final ids),
scale k] and stores scale k-1's keys/values, later passes feed scale k only. This is exact because no
position attends to a later scale. The per-block AdaLN modulations and text keys/values are computed once.
Without ``use_cache`` every pass recomputes all finished scales (the reference for the cache).
"""

from __future__ import annotations

import torch

from moscale_cli.models.generator import KV, MoScaleTransformer, TextCond, TrunkCond
from moscale_cli.utils.device import autocast_context


class ScaleDecoder:
    """Eager runner with a growing KV cache (see the module doc); runs under bf16 autocast on CUDA when
    ``autocast`` is set."""

    fused_distributions = None  # the loop guides, hooks, filters and draws itself

    def __init__(self, model: MoScaleTransformer, use_cache: bool = True, autocast: bool = True) -> None:
        self.model = model
        self.use_cache = use_cache
        self.amp = autocast
        self.device = next(model.parameters()).device
        self.text: TextCond | None = None

    def autocast(self) -> torch.autocast:
        return autocast_context(self.device, enabled=self.amp)

    @torch.no_grad()
    def begin(self, tokens_RSD: torch.Tensor, mask_RS: torch.Tensor, drop_R: torch.Tensor | None = None) -> None:
        """Start a batch: the text rows (rows with ``drop_R`` use the null text); forgets any earlier batch."""
        with self.autocast():
            self.text = self.model.prepare_text(tokens_RSD, mask_RS, drop_R)
            self.cond: TrunkCond = self.model.trunk.condition(self.text)
        self.done_x: list[torch.Tensor] = []  # block inputs of finished scales (no-cache mode)
        self.cache: list[KV] | None = None
        self.pending: torch.Tensor | None = None  # finished scale whose keys/values are not cached yet
        self.n_done = 0

    def _check(self, k: int, what: str) -> TextCond:
        if self.text is None:
            raise ValueError("call begin() with the text rows first")
        if k != self.n_done:
            raise ValueError(f"scale {k} {what} but {self.n_done} scales are finished")
        return self.text

    @torch.no_grad()
    def logits(self, k: int, ids_RL: torch.Tensor, context_RCL: torch.Tensor | None) -> torch.Tensor:
        """Logits (R, L_k, K) of scale ``k`` given the current ids of scale ``k`` (finished scales < k)."""
        text = self._check(k, "requested")
        m = self.model
        with self.autocast():
            x = m.embed_scale(k, ids_RL, context_RCL, text)
            L = x.shape[1]
            start = m.offsets[k]
            if not self.use_cache:
                xx = torch.cat([*self.done_x, x], dim=1) if self.done_x else x
                return m.trunk(xx, 0, text, m.attn_mask, cond=self.cond)[0][:, -L:]
            if self.pending is None:
                return m.trunk(x, start, text, None, self.cache, self.cond)[0]
            n_prev = self.pending.shape[1]
            xx = torch.cat([self.pending, x], dim=1)
            out, kv = m.trunk(xx, start - n_prev, text, m.attn_mask, self.cache, self.cond)
            new = [(kk[:, :, :n_prev], vv[:, :, :n_prev]) for kk, vv in kv]
            if self.cache is None:
                self.cache = new
            else:
                self.cache = [(torch.cat([c[0], n[0]], 2), torch.cat([c[1], n[1]], 2)) for c, n in zip(self.cache, new, strict=True)]
            self.pending = None
            return out[:, -L:]

    @torch.no_grad()
    def commit(self, k: int, ids_RL: torch.Tensor, context_RCL: torch.Tensor | None) -> None:
        """Finish scale ``k`` with its final ids (they feed the token stream of all later scales)."""
        text = self._check(k, "committed")
        with self.autocast():
            x = self.model.embed_scale(k, ids_RL, context_RCL, text)
        if self.use_cache:
            self.pending = x
        else:
            self.done_x.append(x)
        self.n_done += 1


__all__ = ["ScaleDecoder"]
