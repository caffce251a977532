"""The light text-encoder path: a sentence-transformers BERT folder run with ``tokenizers`` + plain torch.

A folder qualifies when it has ``tokenizer.json``, ``model.safetensors``, a BERT ``config.json`` with
absolute positions and a supported activation, and a sentence-transformers ``modules.json`` made of a
Transformer, a mean Pooling and optionally a Normalize module (the layout of all-MiniLM-L6-v2 and most
BERT sentence encoders). :func:`inspect_folder` reads only the small JSON files; ``tokenizers`` and the
weights are loaded on first use by :class:`LightBertBackend`. Outputs match sentence-transformers': the
token features are the last hidden state, the sentence vector their masked mean (L2-normalised when
the folder has a Normalize module).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from moscale_cli.errors import ConfigError
from moscale_cli.text.bert import SUPPORTED_ACTIVATIONS, BertConfig, BertEncoder

_TRANSFORMER = "sentence_transformers.models.Transformer"
_POOLING = "sentence_transformers.models.Pooling"
_NORMALIZE = "sentence_transformers.models.Normalize"
_MODULE_ALIASES = {  # newer sentence-transformers write the module types under other paths
    "sentence_transformers.base.modules.transformer.Transformer": _TRANSFORMER,
    "sentence_transformers.sentence_transformer.modules.pooling.Pooling": _POOLING,
    "sentence_transformers.base.modules.normalize.Normalize": _NORMALIZE,
}


@dataclass(frozen=True)
class LightSpec:
    """What the light path needs to know about a model folder (read from its JSON files only)."""

    folder: Path
    bert: BertConfig
    normalize: bool
    lowercase_input: bool  # sentence_bert_config.json's do_lower_case (lower-case before tokenising)
    tokenizer_overrides: dict[str, Any] = field(default_factory=dict)


def _read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def inspect_folder(folder: str | os.PathLike) -> tuple[LightSpec | None, str]:
    """``(spec, "")`` when the light path can run the folder, else ``(None, reason)``."""
    folder = Path(folder)
    if not folder.is_dir():
        return None, "not a local folder"
    for name in ("tokenizer.json", "model.safetensors", "config.json", "modules.json"):
        if not (folder / name).is_file():
            return None, f"no {name}"
    try:
        cfg = _read_json(folder / "config.json")
        modules = _read_json(folder / "modules.json")
        st_cfg = _read_json(folder / "sentence_bert_config.json") if (folder / "sentence_bert_config.json").is_file() else {}
        tok_cfg = _read_json(folder / "tokenizer_config.json") if (folder / "tokenizer_config.json").is_file() else {}
    except (OSError, ValueError) as e:
        return None, f"unreadable JSON: {e}"
    if cfg.get("model_type") != "bert":
        return None, f"model_type {cfg.get('model_type')!r} is not bert"
    if cfg.get("position_embedding_type", "absolute") != "absolute":
        return None, "relative position embeddings"
    if cfg.get("hidden_act", "gelu") not in SUPPORTED_ACTIVATIONS:
        return None, f"activation {cfg.get('hidden_act')!r}"
    kinds = [_MODULE_ALIASES.get(m.get("type", ""), m.get("type", "")) for m in sorted(modules, key=lambda m: m.get("idx", 0))]
    if kinds not in ([_TRANSFORMER, _POOLING], [_TRANSFORMER, _POOLING, _NORMALIZE]):
        return None, f"modules {kinds}"
    if modules[0].get("path", "") not in ("", "."):
        return None, "transformer module in a subfolder"
    pool_dir = folder / modules[1].get("path", "1_Pooling")
    try:
        pool = _read_json(pool_dir / "config.json")
    except (OSError, ValueError):
        return None, "no pooling config"
    modes = {k: v for k, v in pool.items() if k.startswith("pooling_mode") and v}
    if set(modes) != {"pooling_mode_mean_tokens"} or pool.get("include_prompt", True) is not True:
        return None, f"pooling {sorted(modes)}"
    if st_cfg.get("model_args") or st_cfg.get("tokenizer_args") or st_cfg.get("config_args"):
        return None, "extra transformer arguments"
    try:
        bert = BertConfig(
            vocab_size=int(cfg["vocab_size"]),
            hidden_size=int(cfg["hidden_size"]),
            num_layers=int(cfg["num_hidden_layers"]),
            num_heads=int(cfg["num_attention_heads"]),
            intermediate_size=int(cfg["intermediate_size"]),
            max_positions=int(cfg.get("max_position_embeddings", 512)),
            type_vocab_size=int(cfg.get("type_vocab_size", 2)),
            layer_norm_eps=float(cfg.get("layer_norm_eps", 1e-12)),
            hidden_act=str(cfg.get("hidden_act", "gelu")),
        )
    except (KeyError, TypeError, ValueError) as e:
        return None, f"config.json: {e}"
    if int(pool.get("word_embedding_dimension", bert.hidden_size)) != bert.hidden_size:
        return None, "pooling width differs from the hidden size"
    overrides = {k: tok_cfg[k] for k in ("do_lower_case", "strip_accents", "tokenize_chinese_chars") if k in tok_cfg}
    spec = LightSpec(folder, bert, normalize=len(kinds) == 3, lowercase_input=bool(st_cfg.get("do_lower_case", False)),
                     tokenizer_overrides=overrides)
    return spec, ""


class LightTokenizer:
    """A ``tokenizers.Tokenizer`` from ``tokenizer.json`` with the settings a BERT fast tokenizer applies.

    Calling it like a transformers tokenizer (``tok(texts, add_special_tokens=True, truncation=False)``)
    returns ``{"input_ids": [...], "attention_mask": [...]}`` lists; ``backend_tokenizer`` is the raw one.
    """

    def __init__(self, spec: LightSpec) -> None:
        from tokenizers import Tokenizer, normalizers

        tok = Tokenizer.from_file(str(spec.folder / "tokenizer.json"))
        tok.no_padding()
        tok.no_truncation()
        norm = json.loads(tok.to_str()).get("normalizer") or {}
        ov = spec.tokenizer_overrides
        if norm.get("type") == "BertNormalizer" and ov:
            # transformers' BertTokenizerFast rebuilds the normaliser from tokenizer_config.json when they differ
            want = {
                "lowercase": ov.get("do_lower_case", norm.get("lowercase", True)),
                "strip_accents": ov.get("strip_accents", norm.get("strip_accents")),
                "handle_chinese_chars": ov.get("tokenize_chinese_chars", norm.get("handle_chinese_chars", True)),
            }
            if any(norm.get(k) != v for k, v in want.items()):
                tok.normalizer = normalizers.BertNormalizer(clean_text=norm.get("clean_text", True), **want)
        self.backend_tokenizer = tok
        pad = tok.token_to_id("[PAD]")
        self.pad_id = 0 if pad is None else int(pad)

    def encode(self, texts: list[str], max_length: int | None = None) -> list[list[int]]:
        """Token ids with special tokens, cut to ``max_length`` (special tokens included) when given."""
        tok = self.backend_tokenizer
        if max_length is None:
            tok.no_truncation()
        else:
            tok.enable_truncation(max_length=int(max_length))
        try:
            return [e.ids for e in tok.encode_batch(list(texts), add_special_tokens=True)]
        finally:
            tok.no_truncation()

    def __call__(self, texts: list[str] | str, add_special_tokens: bool = True, truncation: bool = False,
                 max_length: int | None = None) -> dict[str, list[list[int]]]:
        if isinstance(texts, str):
            texts = [texts]
        tok = self.backend_tokenizer
        if truncation and max_length is not None:
            tok.enable_truncation(max_length=int(max_length))
        try:
            encs = tok.encode_batch(list(texts), add_special_tokens=add_special_tokens)
        finally:
            tok.no_truncation()
        return {"input_ids": [e.ids for e in encs], "attention_mask": [e.attention_mask for e in encs]}


# checkpoint parameter name (after the optional "bert." prefix) -> ours
_EMBEDDING_KEYS = {
    "embeddings.word_embeddings": "word",
    "embeddings.position_embeddings": "position",
    "embeddings.token_type_embeddings": "token_type",
    "embeddings.LayerNorm": "emb_norm",
}
_LAYER_KEYS = {
    "attention.self.query": "q",
    "attention.self.key": "k",
    "attention.self.value": "v",
    "attention.output.dense": "attn_out",
    "attention.output.LayerNorm": "attn_norm",
    "intermediate.dense": "ff_in",
    "output.dense": "ff_out",
    "output.LayerNorm": "ff_norm",
}
_LEAF = {"weight": "weight", "bias": "bias", "gamma": "weight", "beta": "bias"}


def map_checkpoint_key(key: str) -> str | None:
    """Our parameter name for a BERT checkpoint key; None for keys we do not use (pooler, position_ids)."""
    if key.startswith("bert."):
        key = key[5:]
    module, _, leaf = key.rpartition(".")
    if leaf not in _LEAF:
        return None
    if module in _EMBEDDING_KEYS:
        return f"{_EMBEDDING_KEYS[module]}.{_LEAF[leaf]}"
    if module.startswith("encoder.layer."):
        idx, _, rest = module[len("encoder.layer."):].partition(".")
        if idx.isdigit() and rest in _LAYER_KEYS:
            return f"layers.{idx}.{_LAYER_KEYS[rest]}.{_LEAF[leaf]}"
    return None


def load_bert(spec: LightSpec, device: torch.device) -> BertEncoder:
    """The encoder with the folder's ``model.safetensors`` weights (float32, eval mode, frozen)."""
    from safetensors.torch import load_file

    path = spec.folder / "model.safetensors"
    try:
        raw = load_file(str(path))
    except Exception as e:
        raise ConfigError(f"cannot read text encoder weights {path}: {type(e).__name__}: {e}") from None
    state = {}
    for k, v in raw.items():
        ours = map_checkpoint_key(k)
        if ours is not None:
            state[ours] = v.to(torch.float32)
    model = BertEncoder(spec.bert, device="meta")
    own = model.state_dict()  # once: building it for every key cost more than the rest of the loading
    want = set(own)
    missing, extra = sorted(want - set(state)), sorted(set(state) - want)
    bad = [k for k in want & set(state) if tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or extra or bad:
        what = f"missing {missing[:3]}" if missing else f"unexpected {extra[:3]}" if extra else f"wrong shape {bad[:3]}"
        raise ConfigError(f"text encoder weights {path} do not fit its config.json: {what}")
    model.load_state_dict(state, assign=True)
    model.eval().requires_grad_(False)
    return model.to(device)


class LightBertBackend:
    """Tokenise with ``tokenizers`` and run :class:`BertEncoder`; loads lazily on first use."""

    def __init__(self, spec: LightSpec, device: torch.device) -> None:
        self.spec = spec
        self.device = device
        self._tokenizer: LightTokenizer | None = None
        self._model: BertEncoder | None = None

    @property
    def tokenizer(self) -> LightTokenizer:
        if self._tokenizer is None:
            self._tokenizer = LightTokenizer(self.spec)
        return self._tokenizer

    @property
    def model(self) -> BertEncoder:
        if self._model is None:
            self._model = load_bert(self.spec, self.device)
        return self._model

    def _prepare(self, texts: list[str]) -> list[str]:
        texts = [t.strip() for t in texts]  # as sentence-transformers does
        return [t.lower() for t in texts] if self.spec.lowercase_input else texts

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(ids) for ids in self.tokenizer.encode(self._prepare(texts))]

    @torch.no_grad()
    def forward(self, texts: list[str], max_tokens: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(tokens (B,S,H), mask (B,S) bool, sentence vector (B,H))``, S = longest prompt after truncation."""
        ids = self.tokenizer.encode(self._prepare(texts), max_length=max_tokens)
        S = max(len(x) for x in ids)
        input_ids = torch.full((len(ids), S), self.tokenizer.pad_id, dtype=torch.long)
        mask = torch.zeros(len(ids), S, dtype=torch.bool)
        for i, x in enumerate(ids):
            input_ids[i, : len(x)] = torch.tensor(x, dtype=torch.long)
            mask[i, : len(x)] = True
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)
        tok = self.model(input_ids, mask)
        m = mask[..., None].to(tok.dtype)
        pooled = (tok * m).sum(1) / m.sum(1).clamp(min=1e-9)
        if self.spec.normalize:
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return tok, mask, pooled
