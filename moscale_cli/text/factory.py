"""One shared text encoder per (name, window, device), with the prompt-embedding cache on.

Building an encoder is cheap on the light path (it reads JSON files; weights load on the first prompt
that is not cached) but takes seconds on the sentence-transformers path, so encoders are shared.
"""

from __future__ import annotations

import threading

import torch

from moscale_cli.text.encoder import TextEncoder

_ENCODERS: dict[tuple[str, int, str], TextEncoder] = {}
_LOCK = threading.Lock()


def get_text_encoder(name: str | None, max_tokens: int, device: torch.device | str) -> TextEncoder:
    """A shared :class:`TextEncoder` (light path when possible, prompt cache per ``MOSCALE_CACHE``)."""
    key = (str(name or ""), int(max_tokens), str(device))
    with _LOCK:
        enc = _ENCODERS.get(key)
        if enc is None:
            enc = TextEncoder(name, device=device, max_tokens=max_tokens, cache=True)
            _ENCODERS[key] = enc
        return enc


def clear_text_encoders() -> None:
    """Forget the shared encoders (tests; freeing memory)."""
    with _LOCK:
        _ENCODERS.clear()
