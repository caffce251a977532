"""Build tiny random-weight model directories (shared by tests/pipeline and tests/cli through load_builder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

TEXT_WINDOW = 16


def build_tiny_model_dir(path: Path, with_length: bool = True, seed: int = 0) -> Path:
    from moscale_cli.model_dir import save_model_dir
    from moscale_cli.models.generator import GeneratorConfig, MoScaleTransformer
    from moscale_cli.models.length import LengthConfig, LengthEstimator
    from moscale_cli.models.tokenizer import MSTokenizer, TokenizerConfig
    from moscale_cli.motion.normalize import Normalizer

    torch.manual_seed(seed)
    tok = MSTokenizer(TokenizerConfig.preset("tiny"))
    with torch.no_grad():  # an untrained codebook is all zeros: give it random codes so samples differ
        tok.codebook.normal_()
        tok.codebook_initialized.fill_(True)
    gen = MoScaleTransformer(GeneratorConfig.preset("tiny", tokenizer=tok, text_len=TEXT_WINDOW))
    length = LengthEstimator(LengthConfig(text_dim=384, hidden=32)) if with_length else None
    rng = np.random.default_rng(seed)
    norm = Normalizer(rng.normal(0, 0.1, 263).astype(np.float32), rng.uniform(0.5, 1.5, 263).astype(np.float32))
    return save_model_dir(
        path, tok, gen, norm, "sentence-transformers/all-MiniLM-L6-v2", length=length,
        text_max_tokens=TEXT_WINDOW, text_dim=384, name="tiny-random", training={"data": "none (random weights)"},
    )


