"""Text-motion evaluators: the official T2M evaluator layout and our own contrastive evaluator.

Official layout (eval-protocol.md §3): three modules whose parameter names and shapes are exactly the
ones stored in ``checkpoints/{t2m,kit}/text_mot_match/model/finest.tar``, so that its state dicts load
without renaming. Our evaluator keeps the same motion side (movement conv encoder + motion BiGRU) and
replaces the GloVe/POS text side with a small transformer over our ``TextEncoder`` token features; it
produces the same 512-d co-embedding. Plain nn.Modules, no file I/O (loading lives in
``moscale_cli.evaluation.evaluators``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from moscale_cli.config import ConfigBase

# Constants of the official evaluator (models/t2m_eval_wrapper.py in the reference code).
DIM_WORD = 300
DIM_POS_OHOT = 15
DIM_TEXT_HIDDEN = 512
DIM_MOTION_HIDDEN = 1024
DIM_COEMB = 512
DIM_MOVEMENT_HIDDEN = 512
DIM_MOVEMENT_LATENT = 512
UNIT_LENGTH = 4
MAX_TEXT_LEN = 20
MAX_MOTION_LENGTH = 196
N_CONTACT_DIMS = 4


class MovementConvEncoder(nn.Module):
    """Two strided convolutions (T -> T/4) over features without the 4 foot-contact dims."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int, dropout: float = 0.2) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv1d(input_size, hidden_size, 4, 2, 1),
            nn.Dropout(dropout),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv1d(hidden_size, output_size, 4, 2, 1),
            nn.Dropout(dropout),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.out_net = nn.Linear(output_size, output_size)

    def forward(self, x_BTD: torch.Tensor) -> torch.Tensor:
        h = self.main(x_BTD.permute(0, 2, 1)).permute(0, 2, 1)
        return self.out_net(h)


def _bigru_last(gru: nn.GRU, h0: torch.Tensor, x_BTH: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Run a bidirectional GRU over padded sequences; return [forward_last, backward_last] (B, 2H)."""
    lens = lengths.detach().to("cpu", torch.int64).clamp(min=1)
    packed = pack_padded_sequence(x_BTH, lens, batch_first=True, enforce_sorted=False)
    _, h_n = gru(packed, h0.repeat(1, x_BTH.shape[0], 1).contiguous())
    return torch.cat([h_n[0], h_n[1]], dim=-1)


def _output_net(hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(hidden * 2, hidden), nn.LayerNorm(hidden), nn.LeakyReLU(0.2, inplace=True), nn.Linear(hidden, out))


class TextEncoderBiGRUCo(nn.Module):
    """GloVe word vectors + POS one-hots -> BiGRU -> co-embedding (official layout)."""

    def __init__(self, word_size: int, pos_size: int, hidden_size: int, output_size: int) -> None:
        super().__init__()
        self.pos_emb = nn.Linear(pos_size, word_size)
        self.input_emb = nn.Linear(word_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True, bidirectional=True)
        self.output_net = _output_net(hidden_size, output_size)
        self.hidden = nn.Parameter(torch.randn(2, 1, hidden_size))

    def forward(self, word_embs: torch.Tensor, pos_onehot: torch.Tensor, cap_lens: torch.Tensor) -> torch.Tensor:
        x = self.input_emb(word_embs + self.pos_emb(pos_onehot))
        return self.output_net(_bigru_last(self.gru, self.hidden, x, cap_lens))


class MotionEncoderBiGRUCo(nn.Module):
    """Movement latents (B, T/4, 512) -> BiGRU -> co-embedding (official layout)."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int) -> None:
        super().__init__()
        self.input_emb = nn.Linear(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True, bidirectional=True)
        self.output_net = _output_net(hidden_size, output_size)
        self.hidden = nn.Parameter(torch.randn(2, 1, hidden_size))

    def forward(self, movements_BTH: torch.Tensor, m_lens: torch.Tensor) -> torch.Tensor:
        x = self.input_emb(movements_BTH)
        return self.output_net(_bigru_last(self.gru, self.hidden, x, m_lens))


def length_sort_permutation(m_lens: torch.Tensor) -> torch.Tensor:
    """Indices that sort motion lengths in descending order (ties keep input order)."""
    return torch.argsort(m_lens.detach().to("cpu"), descending=True, stable=True)


class _MotionSide(nn.Module):
    """Shared motion path: movement conv encoder on features without contacts, then the motion BiGRU."""

    movement_encoder: MovementConvEncoder
    motion_encoder: MotionEncoderBiGRUCo
    unit_length: int = UNIT_LENGTH

    def motion_embeddings_unsorted(self, motions_BTD: torch.Tensor, m_lens: torch.Tensor) -> torch.Tensor:
        """Motion co-embeddings in input order (motions normalised with the evaluator stats)."""
        movements = self.movement_encoder(motions_BTD[..., :-N_CONTACT_DIMS])
        lens = torch.div(m_lens.to(torch.int64), self.unit_length, rounding_mode="floor")
        return self._post(self.motion_encoder(movements, lens))

    def _post(self, emb: torch.Tensor) -> torch.Tensor:
        return emb

    @torch.no_grad()
    def get_motion_embeddings(self, motions_BTD: torch.Tensor, m_lens: torch.Tensor) -> torch.Tensor:
        """Motion embeddings in **length-sorted** order (descending), as the reference code returns them."""
        idx = length_sort_permutation(m_lens).to(motions_BTD.device)
        return self.motion_embeddings_unsorted(motions_BTD[idx], m_lens.to(motions_BTD.device)[idx])

    @torch.no_grad()
    def _co_embeddings(
        self, text: tuple[torch.Tensor, ...], motions_BTD: torch.Tensor, m_lens: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(text_emb, motion_emb), both permuted by the descending length order of ``m_lens`` (pairs aligned);
        ``text`` are the arguments of the subclass's ``text_embeddings_unsorted``."""
        idx = length_sort_permutation(m_lens).to(motions_BTD.device)
        motion_emb = self.motion_embeddings_unsorted(motions_BTD[idx], m_lens.to(motions_BTD.device)[idx])
        text_emb = self.text_embeddings_unsorted(*text)[idx]
        return text_emb, motion_emb


class OfficialEvaluator(_MotionSide):
    """The T2M text-motion matching evaluator (HumanML3D: dim_pose 263, KIT: 251)."""

    def __init__(self, dim_pose: int = 263) -> None:
        super().__init__()
        self.dim_pose = dim_pose
        self.movement_encoder = MovementConvEncoder(dim_pose - N_CONTACT_DIMS, DIM_MOVEMENT_HIDDEN, DIM_MOVEMENT_LATENT)
        self.text_encoder = TextEncoderBiGRUCo(DIM_WORD, DIM_POS_OHOT, DIM_TEXT_HIDDEN, DIM_COEMB)
        self.motion_encoder = MotionEncoderBiGRUCo(DIM_MOVEMENT_LATENT, DIM_MOTION_HIDDEN, DIM_COEMB)

    def text_embeddings_unsorted(self, word_embs: torch.Tensor, pos_onehot: torch.Tensor, cap_lens: torch.Tensor) -> torch.Tensor:
        return self.text_encoder(word_embs, pos_onehot, cap_lens)

    @torch.no_grad()
    def get_co_embeddings(
        self,
        word_embs: torch.Tensor,
        pos_onehot: torch.Tensor,
        cap_lens: torch.Tensor,
        motions_BTD: torch.Tensor,
        m_lens: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(text_emb, motion_emb), both permuted by the descending length order of ``m_lens`` (pairs aligned)."""
        return self._co_embeddings((word_embs, pos_onehot, cap_lens), motions_BTD, m_lens)


# ----------------------------------------------------------------------------------------------
# Our evaluator
# ----------------------------------------------------------------------------------------------


@dataclass
class EvaluatorConfig(ConfigBase):
    """Our contrastive evaluator. ``preset("base")`` keeps the official motion-side sizes."""

    feature_dim: int = 263
    text_dim: int = 384  # width of the TextEncoder token features (all-MiniLM-L6-v2: 384)
    text_encoder: str = ""  # name/path of the TextEncoder the text side was trained on
    text_max_tokens: int = 32  # its window
    movement_hidden: int = DIM_MOVEMENT_HIDDEN
    movement_latent: int = DIM_MOVEMENT_LATENT
    motion_hidden: int = DIM_MOTION_HIDDEN
    text_hidden: int = 512
    text_layers: int = 2
    text_heads: int = 8
    coemb_dim: int = DIM_COEMB
    dropout: float = 0.1
    movement_dropout: float = 0.2
    embed_scale: float = 4.0  # embeddings are L2-normalised then scaled by this (Euclidean ranking = cosine ranking)
    temperature_init: float = 0.07
    unit_length: int = UNIT_LENGTH

    @classmethod
    def preset(cls, name: str, **overrides) -> EvaluatorConfig:
        presets = {
            "tiny": dict(movement_hidden=64, movement_latent=64, motion_hidden=64, text_hidden=64, text_layers=1, text_heads=4, coemb_dim=64),
            "small": dict(movement_hidden=256, movement_latent=256, motion_hidden=512, text_hidden=256, text_layers=2, text_heads=4, coemb_dim=512),
            "base": dict(),
        }
        if name not in presets:
            from moscale_cli.errors import ConfigError

            raise ConfigError(f"unknown evaluator preset '{name}' (choose from {', '.join(presets)})")
        return cls(**{**presets[name], **overrides})


class TransformerTextSide(nn.Module):
    """Token features (B,S,E) + mask -> transformer layers -> attention pooling (+ pooled vector) -> co-embedding."""

    def __init__(self, cfg: EvaluatorConfig) -> None:
        super().__init__()
        h = cfg.text_hidden
        self.in_proj = nn.Linear(cfg.text_dim, h)
        self.pooled_proj = nn.Linear(cfg.text_dim, h)
        layer = nn.TransformerEncoderLayer(h, cfg.text_heads, 4 * h, cfg.dropout, activation="gelu", batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, cfg.text_layers, enable_nested_tensor=False)
        self.attn_score = nn.Linear(h, 1)
        self.norm = nn.LayerNorm(h)
        self.output_net = nn.Sequential(nn.Linear(2 * h, h), nn.LayerNorm(h), nn.LeakyReLU(0.2), nn.Linear(h, cfg.coemb_dim))

    def forward(self, tokens_BSE: torch.Tensor, mask_BS: torch.Tensor, pooled_BE: torch.Tensor) -> torch.Tensor:
        mask = mask_BS.bool()
        x = self.layers(self.in_proj(tokens_BSE), src_key_padding_mask=~mask)
        x = self.norm(x)
        score = self.attn_score(x).squeeze(-1).masked_fill(~mask, float("-inf"))
        w = torch.softmax(score, dim=-1).nan_to_num(0.0)
        att = torch.einsum("bs,bsh->bh", w, x)
        return self.output_net(torch.cat([att, self.pooled_proj(pooled_BE)], dim=-1))


class MoScaleEvaluator(_MotionSide):
    """Our evaluator: official-style motion side + transformer text side over TextEncoder features."""

    def __init__(self, cfg: EvaluatorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.unit_length = cfg.unit_length
        self.movement_encoder = MovementConvEncoder(
            cfg.feature_dim - N_CONTACT_DIMS, cfg.movement_hidden, cfg.movement_latent, dropout=cfg.movement_dropout
        )
        self.motion_encoder = MotionEncoderBiGRUCo(cfg.movement_latent, cfg.motion_hidden, cfg.coemb_dim)
        self.text_encoder = TransformerTextSide(cfg)
        self.log_temperature = nn.Parameter(torch.tensor(float(torch.log(torch.tensor(cfg.temperature_init)))))

    def _post(self, emb: torch.Tensor) -> torch.Tensor:
        return F.normalize(emb.float(), dim=-1) * self.cfg.embed_scale

    def text_embeddings_unsorted(self, tokens_BSE: torch.Tensor, mask_BS: torch.Tensor, pooled_BE: torch.Tensor) -> torch.Tensor:
        return self._post(self.text_encoder(tokens_BSE, mask_BS, pooled_BE))

    @torch.no_grad()
    def get_co_embeddings(
        self,
        tokens_BSE: torch.Tensor,
        mask_BS: torch.Tensor,
        pooled_BE: torch.Tensor,
        motions_BTD: torch.Tensor,
        m_lens: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(text_emb, motion_emb), both permuted by the descending length order of ``m_lens``."""
        return self._co_embeddings((tokens_BSE, mask_BS, pooled_BE), motions_BTD, m_lens)

    def forward(
        self, tokens_BSE: torch.Tensor, mask_BS: torch.Tensor, pooled_BE: torch.Tensor, motions_BTD: torch.Tensor, m_lens: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training path: (text_emb, motion_emb, temperature) in input order."""
        t = self.text_embeddings_unsorted(tokens_BSE, mask_BS, pooled_BE)
        m = self.motion_embeddings_unsorted(motions_BTD, m_lens)
        return t, m, self.temperature()

    def temperature(self) -> torch.Tensor:
        return self.log_temperature.exp().clamp(min=0.01, max=1.0)


def info_nce(
    text_emb: torch.Tensor, motion_emb: torch.Tensor, temperature: torch.Tensor, same_BB: torch.Tensor | None = None
) -> tuple[torch.Tensor, dict[str, float]]:
    """Symmetric InfoNCE. ``same_BB`` (bool) marks pairs known to match (e.g. identical captions); they are
    removed from the negatives of each row/column."""
    t = F.normalize(text_emb.float(), dim=-1)
    m = F.normalize(motion_emb.float(), dim=-1)
    logits = t @ m.t() / temperature
    if same_BB is not None:
        eye = torch.eye(len(t), dtype=torch.bool, device=t.device)
        logits = logits.masked_fill(same_BB.to(t.device) & ~eye, float("-inf"))
    target = torch.arange(len(t), device=t.device)
    loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))
    with torch.no_grad():
        acc = (logits.argmax(dim=1) == target).float().mean().item()
    return loss, {"acc_t2m": acc, "temperature": float(temperature.detach())}
