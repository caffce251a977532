"""The light BERT path against sentence-transformers, its folder checks, and what it imports."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import warnings

import pytest
import torch

from moscale_cli.errors import ConfigError
from moscale_cli.text.encoder import TextEncoder
from moscale_cli.text.light import inspect_folder, map_checkpoint_key

_WORDS = ["a", "person", "walks", "forward", "then", "turns", "left", "right", "jumps", "twice", "waves", "slowly",
          "quickly", "sits", "down", "on", "chair", "kicks", "with", "the", "foot", "hand", "spins", "around"]
_ODD = ["café", "naïve", "Straße", "舞う", "跳跃", "يمشي", "🙂", "🕺💃", "e\u0301", "zero\u200bwidth", "ﬁne", "Ωmega",
        "ÀÉÎÕÜ", "tab\tsep", "new\nline", "nul\x00char", "[CLS]", "[SEP]", "[PAD]", "##ing", "<unk>"]
_PUNCT = [".", ",", "!", "?", "...", ";", ":", "-", "—", "'", '"', "(", ")", "/", "&", "#", "%"]


def make_captions(n: int = 300, seed: int = 0) -> list[str]:
    """A procedural caption mix: empty/blank, single words, long sentences beyond the window, punctuation,
    digits, case and whitespace variants and non-ASCII text."""
    rng = random.Random(seed)
    caps = ["", " ", "\t\n", "a", "A", "hi", "!!!", "42", "3.14159", "😀", "舞う", "café"]
    while len(caps) < n:
        kind = rng.randrange(6)
        words = [rng.choice(_WORDS) for _ in range(rng.randint(1, 12 if kind else 60))]
        if kind == 1:
            words = [w + rng.choice(_PUNCT) if rng.random() < 0.4 else w for w in words]
        elif kind == 2:
            words.insert(rng.randrange(len(words) + 1), str(rng.randint(0, 10 ** rng.randint(1, 9))))
        elif kind == 3:
            words.insert(rng.randrange(len(words) + 1), rng.choice(_ODD))
        elif kind == 4:
            words = [w.upper() if rng.random() < 0.3 else w.capitalize() for w in words]
        sep = rng.choice([" ", " ", "  ", " \t"])
        caps.append(sep.join(words) + (rng.choice(_PUNCT) if rng.random() < 0.5 else ""))
    return caps[:n]


@pytest.mark.slow
def test_light_matches_sentence_transformers(st_encoder):
    caps = make_captions(300)
    assert sum(c.strip() == "" for c in caps) >= 2
    light = TextEncoder(max_tokens=32)
    assert light.backend == "light" and light.dim == st_encoder.dim == 384
    counts = light.count_tokens(caps)
    assert counts == st_encoder.count_tokens(caps)
    assert max(counts) > 32 and min(counts) == 2  # truncated ones and empty ones are in the set
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = light.encode(caps, batch_size=64)  # several batches of different padded lengths
        b = st_encoder.encode(caps)
    assert torch.equal(a.mask_BS, b.mask_BS)
    assert a.truncated == b.truncated and any(a.truncated)
    tok_err = float((a.tokens_BSE - b.tokens_BSE).abs().max())
    pooled_err = float((a.pooled_BE - b.pooled_BE).abs().max())
    assert tok_err <= 1e-5 and pooled_err <= 1e-5, (tok_err, pooled_err)
    assert torch.count_nonzero(a.tokens_BSE[~a.mask_BS]) == 0


def test_light_is_the_default_and_lazy(text_encoder, default_model_dir):
    enc = TextEncoder(max_tokens=16)
    assert enc.backend == "light" and enc.dim == 384
    assert enc._backend._model is None and enc._backend._tokenizer is None  # building reads JSON only
    f = enc.encode(["a person walks forward"])
    assert f.tokens_BSE.shape == (1, 16, 384) and f.tokens_BSE.dtype == torch.float32
    ids = enc.tokenizer(["a person walks forward"], add_special_tokens=True)["input_ids"]
    assert len(ids[0]) == enc.count_tokens(["a person walks forward"])[0] == int(f.mask_BS.sum())


def test_no_transformers_import(default_model_dir):
    code = (
        "import sys\n"
        "from moscale_cli.text.encoder import TextEncoder\n"
        "enc = TextEncoder()\n"
        "f = enc.encode(['a person walks forward'])\n"
        "assert enc.backend == 'light' and f.tokens_BSE.shape == (1, 32, 384)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('transformers', 'sentence_transformers')))\n"
    )
    env = {**os.environ, "MOSCALE_CACHE": "off", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_checkpoint_key_mapping():
    assert map_checkpoint_key("embeddings.word_embeddings.weight") == "word.weight"
    assert map_checkpoint_key("bert.embeddings.LayerNorm.gamma") == "emb_norm.weight"
    assert map_checkpoint_key("encoder.layer.3.attention.self.query.bias") == "layers.3.q.bias"
    assert map_checkpoint_key("encoder.layer.10.output.LayerNorm.beta") == "layers.10.ff_norm.bias"
    assert map_checkpoint_key("encoder.layer.0.attention.output.dense.weight") == "layers.0.attn_out.weight"
    assert map_checkpoint_key("pooler.dense.weight") is None
    assert map_checkpoint_key("embeddings.position_ids") is None
    assert map_checkpoint_key("encoder.layer.x.output.dense.weight") is None


@pytest.mark.parametrize(
    ("drop", "config", "files", "reason"),
    [
        (("tokenizer.json",), None, None, "no tokenizer.json"),
        (("model.safetensors",), None, None, "no model.safetensors"),
        ((), {"model_type": "roberta"}, None, "not bert"),
        ((), {"position_embedding_type": "relative_key"}, None, "relative"),
        ((), {"hidden_act": "mish"}, None, "activation"),
        ((), None, {"1_Pooling/config.json": {"pooling_mode_cls_token": True}}, "pooling"),
        ((), None, {"modules.json": [{"idx": 0, "path": "", "type": "sentence_transformers.models.Transformer"},
                                     {"idx": 1, "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                                     {"idx": 2, "path": "2_Dense", "type": "sentence_transformers.models.Dense"}]},
         "modules"),
    ],
)
def test_folders_the_light_path_refuses(model_copy, drop, config, files, reason):
    folder = model_copy(drop=drop, config=config, files=files)
    spec, why = inspect_folder(folder)
    assert spec is None and reason in why
    with pytest.raises(ConfigError, match="cannot use the light path"):
        TextEncoder(str(folder), backend="light")


def test_modules_without_normalize_give_unnormalised_pooled(model_copy, text_encoder):
    modules = json.loads((model_copy("a") / "modules.json").read_text())[:2]
    folder = model_copy("b", files={"modules.json": modules})
    spec, _ = inspect_folder(folder)
    assert spec is not None and not spec.normalize
    enc = TextEncoder(str(folder), max_tokens=16)
    f, ref = enc.encode(["a person jumps"]), text_encoder.encode(["a person jumps"])
    assert torch.allclose(f.tokens_BSE, ref.tokens_BSE, atol=1e-6)
    mean = f.tokens_BSE[0, f.mask_BS[0]].mean(0)
    assert torch.allclose(f.pooled_BE[0], mean, atol=1e-6)
    assert abs(float(mean.norm()) - 1.0) > 1e-2


def test_weights_that_do_not_fit_the_config(model_copy):
    enc = TextEncoder(str(model_copy(config={"intermediate_size": 1024})), max_tokens=16)
    with pytest.raises(ConfigError, match="do not fit"):
        enc.encode(["a person walks"])


def test_window_beyond_positions_and_unknown_backend(model_copy):
    with pytest.raises(ConfigError, match="positions"):
        TextEncoder(str(model_copy(config={"max_position_embeddings": 8})), max_tokens=16)
    with pytest.raises(ConfigError, match="backend"):
        TextEncoder(max_tokens=16, backend="onnx")


@pytest.mark.slow
def test_folder_without_tokenizer_json_falls_back(model_copy, text_encoder, monkeypatch):
    enc = TextEncoder(str(model_copy(drop=("tokenizer.json",))), max_tokens=16)
    assert enc.backend == "sentence-transformers"
    caps = ["a person walks forward", "someone waves twice"]
    f, ref = enc.encode(caps), text_encoder.encode(caps)
    assert torch.equal(f.mask_BS, ref.mask_BS)
    assert torch.allclose(f.tokens_BSE, ref.tokens_BSE, atol=1e-5)
    monkeypatch.setenv("MOSCALE_TEXT_BACKEND", "sentence-transformers")
    assert TextEncoder(max_tokens=16).backend == "sentence-transformers"


def test_bert_padding_does_not_leak():
    from moscale_cli.text.bert import BertConfig, BertEncoder

    torch.manual_seed(0)
    m = BertEncoder(BertConfig(vocab_size=50, hidden_size=16, num_layers=2, num_heads=4, intermediate_size=32, max_positions=12))
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.3)
    ids = torch.randint(1, 50, (1, 5))
    alone = m(ids, torch.ones(1, 5, dtype=torch.bool))
    padded_ids = torch.cat([ids, torch.randint(0, 50, (1, 4))], dim=1)
    mask = torch.tensor([[True] * 5 + [False] * 4])
    padded = m(padded_ids, mask)
    assert torch.allclose(padded[:, :5], alone, atol=1e-5)
    assert not torch.allclose(m(padded_ids, torch.ones_like(mask))[:, :5], alone, atol=1e-3)  # the mask matters
    with pytest.raises(ValueError, match="positions"):
        m(torch.zeros(1, 13, dtype=torch.long), torch.ones(1, 13, dtype=torch.bool))
