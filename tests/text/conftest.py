"""Shared text-encoder fixtures: one light and one sentence-transformers encoder per session, copies of
the default model folder, and a per-test prompt cache folder (tests never touch the user's cache)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _private_prompt_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MOSCALE_CACHE", str(tmp_path_factory.mktemp("moscale-cache")))
    monkeypatch.delenv("MOSCALE_TEXT_BACKEND", raising=False)


@pytest.fixture(scope="session")
def text_encoder():
    from moscale_cli.text.encoder import TextEncoder

    return TextEncoder(max_tokens=16)


@pytest.fixture(scope="session")
def st_encoder():
    """The sentence-transformers reference for the default model (window 32)."""
    from moscale_cli.text.encoder import TextEncoder

    enc = TextEncoder(max_tokens=32, backend="sentence-transformers")
    assert enc.backend == "sentence-transformers"
    return enc


@pytest.fixture(scope="session")
def default_model_dir() -> Path:
    from moscale_cli.text.encoder import resolve_encoder_path

    return Path(resolve_encoder_path(None))


@pytest.fixture
def model_copy(tmp_path, default_model_dir) -> Callable[..., Path]:
    """``model_copy(name, drop=(), config={}, files={})``: a copy of the default model folder (weights
    symlinked) without the files in ``drop``, with ``config`` merged into config.json and ``files``
    (relative name -> JSON-able object) written over."""

    def make(name: str = "copy", drop: tuple[str, ...] = (), config: dict | None = None, files: dict | None = None) -> Path:
        dst = tmp_path / name
        shutil.copytree(default_model_dir, dst, ignore=shutil.ignore_patterns("model.safetensors", "README.md"))
        if "model.safetensors" not in drop:
            os.symlink(default_model_dir / "model.safetensors", dst / "model.safetensors")
        for rel in drop:
            p = dst / rel
            if p.is_file() or p.is_symlink():
                p.unlink()
        if config:
            cfg = json.loads((dst / "config.json").read_text())
            cfg.update(config)
            (dst / "config.json").write_text(json.dumps(cfg))
        for rel, obj in (files or {}).items():
            (dst / rel).write_text(json.dumps(obj))
        return dst

    return make
