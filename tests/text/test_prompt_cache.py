"""The prompt-embedding cache: location, exact round trips, encoder isolation, corruption, concurrency."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import torch

from moscale_cli.text.encoder import PromptTruncatedWarning, TextEncoder
from moscale_cli.text.features import TextFeatures
from moscale_cli.text.fingerprint import _MEMO, file_sha256, folder_fingerprint
from moscale_cli.text.prompt_cache import PromptEmbeddingCache, default_cache_root

PROMPTS = ["a person walks forward", "someone waves", "", "café 舞う 🙂", "a person walks forward"]
LONG = " ".join(["a person walks forward then turns around"] * 4)


def _entries(root: Path) -> list[Path]:
    return sorted((root / "prompts").rglob("*.safetensors")) if (root / "prompts").exists() else []


def _same(a: TextFeatures, b: TextFeatures) -> bool:
    return torch.equal(a.tokens_BSE, b.tokens_BSE) and torch.equal(a.mask_BS, b.mask_BS) and torch.equal(a.pooled_BE, b.pooled_BE)


def test_cache_location(monkeypatch, tmp_path):
    monkeypatch.setenv("MOSCALE_CACHE", str(tmp_path / "here"))
    assert default_cache_root() == tmp_path / "here"
    for off in ("off", "OFF", "0", "false", "no", "none"):
        monkeypatch.setenv("MOSCALE_CACHE", off)
        assert default_cache_root() is None and PromptEmbeddingCache.from_env() is None
    monkeypatch.delenv("MOSCALE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_root() == tmp_path / "xdg" / "moscale"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_root() == tmp_path / "home" / ".cache" / "moscale"


def test_cached_features_equal_computed_exactly(tmp_path):
    pc = PromptEmbeddingCache(tmp_path)
    enc = TextEncoder(max_tokens=16, cache=pc)
    uniq = list(dict.fromkeys(PROMPTS))
    computed = enc.encode(uniq, cache=False)
    assert _entries(tmp_path) == []
    cold = enc.encode(PROMPTS)
    assert (pc.hits, pc.misses) == (0, 4) and len(_entries(tmp_path)) == 4
    assert _same(cold.index([0, 1, 2, 3]), computed) and _same(cold.index([4]), computed.index([0]))
    # a fresh encoder on the same cache serves everything from disk: no tokenizer, no weights
    enc2 = TextEncoder(max_tokens=16, cache=PromptEmbeddingCache(tmp_path))
    warm = enc2.encode(PROMPTS)
    assert _same(warm, cold) and warm.truncated == cold.truncated == [False] * 5
    assert enc2._backend._model is None and enc2._backend._tokenizer is None
    assert (enc2.prompt_cache.hits, enc2.prompt_cache.misses) == (4, 0)


def test_only_missing_prompts_are_encoded_in_one_batch(tmp_path, monkeypatch):
    enc = TextEncoder(max_tokens=16, cache=tmp_path)
    enc.encode(["someone waves"])
    calls: list[list[str]] = []
    real = enc._backend.forward

    def spy(texts, max_tokens):
        calls.append(list(texts))
        return real(texts, max_tokens)

    monkeypatch.setattr(enc._backend, "forward", spy)
    f = enc.encode(["a jump", "someone waves", "a kick", "a jump", "a spin"])
    assert calls == [["a jump", "a kick", "a spin"]]
    assert f.tokens_BSE.shape == (5, 16, 384) and torch.equal(f.tokens_BSE[0], f.tokens_BSE[3])
    calls.clear()
    enc.encode(["a kick", "a spin"])
    assert calls == []


def test_truncation_is_remembered(tmp_path):
    enc = TextEncoder(max_tokens=8, cache=tmp_path)
    with pytest.warns(PromptTruncatedWarning, match="prompt 1"):
        first = enc.encode(["a jump", LONG])
    enc2 = TextEncoder(max_tokens=8, cache=tmp_path)
    with pytest.warns(PromptTruncatedWarning, match=r"prompt 1: \d+ tokens"):
        again = enc2.encode(["a jump", LONG])
    assert again.truncated == first.truncated == [False, True] and _same(again, first)
    assert enc2._backend._model is None


def test_window_and_encoder_never_share_entries(tmp_path, model_copy):
    pc = PromptEmbeddingCache(tmp_path)
    TextEncoder(max_tokens=16, cache=pc).encode(["a person jumps"])
    other_window = TextEncoder(max_tokens=12, cache=pc)
    other_window.encode(["a person jumps"])
    # same weights, another config: another fingerprint, another folder
    other = TextEncoder(str(model_copy(config={"layer_norm_eps": 1e-6})), max_tokens=16, cache=pc)
    assert other.fingerprint != TextEncoder(max_tokens=16, cache=pc).fingerprint
    other.encode(["a person jumps"])
    assert (pc.hits, pc.misses) == (0, 3)
    assert len({p.parent.parent for p in _entries(tmp_path)}) == 2


def test_corrupt_or_mismatching_entries_are_recomputed(tmp_path):
    pc = PromptEmbeddingCache(tmp_path)
    enc = TextEncoder(max_tokens=16, cache=pc)
    ref = enc.encode(["a person jumps"])  # alone, so that a recomputation runs the very same batch
    enc.encode(["someone waves"])
    path = pc.entry_path(enc.fingerprint, 16, "a person jumps")
    good = path.read_bytes()
    flipped = bytearray(good)
    flipped[-5] ^= 0xFF  # a bit error in the tensor data: only the checksum sees it
    other = pc.entry_path(enc.fingerprint, 16, "someone waves").read_bytes()
    for bad in (b"", b"garbage", good[: len(good) // 2], bytes(flipped), other):
        path.write_bytes(bad)
        misses = pc.misses
        f = enc.encode(["a person jumps"])
        assert pc.misses == misses + 1, bad[:20]
        assert _same(f, ref.index([0]))
        e = pc.load(enc.fingerprint, 16, 384, "a person jumps")  # rewritten
        assert e is not None and torch.equal(e.pooled_E, ref.pooled_BE[0])
    # an entry of another window or encoder stored under this name is not trusted either
    assert pc.load(enc.fingerprint, 16, 384, "a person jumps") is not None
    assert pc.load("0" * 64, 16, 384, "a person jumps") is None
    assert pc.load(enc.fingerprint, 12, 384, "a person jumps") is None
    pc.save(enc.fingerprint[:20] + "x" * 44, 16, "a person jumps", ref.tokens_BSE[0, :5], ref.pooled_BE[0], 5)
    assert pc.entry_path(enc.fingerprint, 16, "a person jumps") == path
    assert pc.load(enc.fingerprint, 16, 384, "a person jumps") is None
    assert _same(enc.encode(["a person jumps"]), ref.index([0]))
    assert pc.load(enc.fingerprint, 16, 384, "a person jumps") is not None


def test_odd_texts_round_trip(tmp_path):
    pc = PromptEmbeddingCache(tmp_path)
    texts = ["", " ", "nul\x00char", 'line\nbreak "quoted" \\ back', "🙂" * 3000, "a", "A"]
    for i, t in enumerate(texts):
        assert pc.save("a" * 64, 16, t, torch.full((3, 4), float(i)), torch.full((4,), float(i)), 3)
    for i, t in enumerate(texts):
        e = pc.load("a" * 64, 16, 4, t)
        assert e is not None and float(e.pooled_E[0]) == i
    assert not pc.save("a" * 64, 16, "lone \ud800 surrogate", torch.zeros(3, 4), torch.zeros(4), 3)  # skipped, no crash


def test_turning_the_cache_off(monkeypatch, tmp_path):
    monkeypatch.setenv("MOSCALE_CACHE", "off")
    enc = TextEncoder(max_tokens=16, cache=True)
    assert enc.prompt_cache is None
    enc.encode(["a person jumps"])
    monkeypatch.setenv("MOSCALE_CACHE", str(tmp_path))
    assert enc.prompt_cache is not None and enc.prompt_cache.root == tmp_path
    enc.encode(["a person jumps"])
    assert len(_entries(tmp_path)) == 1
    enc.encode(["a person sits"], cache=False)
    assert len(_entries(tmp_path)) == 1
    assert TextEncoder(max_tokens=16).prompt_cache is None  # off unless asked for


def test_unwritable_cache_never_fails_a_run(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    enc = TextEncoder(max_tokens=16, cache=blocker)
    f = enc.encode(["a person jumps"])
    g = enc.encode(["a person jumps"])
    assert _same(f, g) and enc.prompt_cache.misses == 2


def test_file_hash_memo(tmp_path):
    f = tmp_path / "w.bin"
    f.write_bytes(b"abc")
    memo = tmp_path / "memo"
    h = file_sha256(f, memo)
    assert h == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    (rec,) = memo.glob("*.json")
    _MEMO.clear()
    rec.write_text(rec.read_text().replace(h, "f" * 64))
    assert file_sha256(f, memo) == "f" * 64  # trusted while path, size and mtime match (that is the point)
    f.write_bytes(b"abcd")
    os.utime(f, ns=(1, 1))
    assert file_sha256(f, memo) != h and file_sha256(f, memo) != "f" * 64
    rec.write_text("{broken")
    _MEMO.clear()
    assert file_sha256(f, memo) == file_sha256(f, None)
    d = tmp_path / "enc"
    (d / "1_Pooling").mkdir(parents=True)
    (d / "config.json").write_text("{}")
    (d / "README.md").write_text("x")
    fp = folder_fingerprint(d)
    (d / "README.md").write_text("y")
    assert folder_fingerprint(d) == fp
    (d / "1_Pooling" / "config.json").write_text("{}")
    assert folder_fingerprint(d) != fp


def _entry(i: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    return torch.full((3 + i % 4, 8), float(i)), torch.full((8,), float(-i)), 3 + i % 4


class _Trickle:
    """A file whose writes trickle out in small pieces, so that a write lasts long enough to be read half-done."""

    def __init__(self, f) -> None:
        self.f = f

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.f.close()

    def write(self, data: bytes) -> int:
        for j in range(0, len(data), 64):
            self.f.write(data[j : j + 64])
            self.f.flush()
            time.sleep(0.0002)
        return len(data)

    def __getattr__(self, name: str):
        return getattr(self.f, name)


def test_concurrent_writers(tmp_path, monkeypatch):
    """Two writers rewrite the same entries while reading them, started together and with slow writes so that
    writes and reads overlap: a reader must always find a whole entry, never a half-written file (an entry
    written in place instead of renamed into place fails this test)."""
    import moscale_cli.text.rows as rows

    pc = PromptEmbeddingCache(tmp_path)
    for i in range(10):  # every entry exists, whole, before anyone reads
        pc.save("f" * 64, 16, f"prompt {i}", *_entry(i))
    real_open = open
    monkeypatch.setattr(rows, "open", lambda path, mode="r", *a, **k: _Trickle(real_open(path, mode, *a, **k))
                        if "w" in mode else real_open(path, mode, *a, **k), raising=False)
    start = threading.Barrier(2, timeout=60)
    spans: dict[int, tuple[float, float]] = {}
    torn: list[str] = []

    def writer(me: int) -> None:
        mine = PromptEmbeddingCache(tmp_path)
        start.wait()
        t0 = time.perf_counter()
        for r in range(8):
            for i in range(10):
                mine.save("f" * 64, 16, f"prompt {i}", *_entry(i))
                j = (i + r + 5 * me) % 10
                e = mine.load("f" * 64, 16, 8, f"prompt {j}")
                if e is None or float(e.pooled_E[0]) != -float(j) or e.count != 3 + j % 4:
                    torn.append(f"prompt {j}")
        spans[me] = (t0, time.perf_counter())

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not torn, f"torn reads: {torn[:5]}"
    (a0, a1), (b0, b1) = spans[0], spans[1]
    assert min(a1, b1) - max(a0, b0) > 0.5 * min(a1 - a0, b1 - b0)  # the two writers really ran at the same time
    for i in range(10):
        e = pc.load("f" * 64, 16, 8, f"prompt {i}")
        assert e is not None and e.count == 3 + i % 4
        assert torch.equal(e.tokens_LE, torch.full((3 + i % 4, 8), float(i)))
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]  # no temporary files left


_ENCODE = textwrap.dedent(
    """
    import sys, torch
    from moscale_cli.text.encoder import TextEncoder
    enc = TextEncoder(max_tokens=16, cache=sys.argv[1])
    caps = [f"a person walks {i} steps then waves" for i in range(40)]
    f = enc.encode(caps)
    torch.save({"t": f.tokens_BSE, "p": f.pooled_BE}, sys.argv[2])
    """
)


@pytest.mark.slow
def test_two_processes_encode_into_one_cache(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    outs = [tmp_path / f"out{k}.pt" for k in range(2)]
    procs = [subprocess.Popen([sys.executable, "-c", _ENCODE, str(tmp_path / "c"), str(o)], stderr=subprocess.PIPE,
                              text=True, env=env) for o in outs]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    a, b = (torch.load(o, weights_only=True) for o in outs)
    assert torch.allclose(a["t"], b["t"], atol=1e-5) and torch.allclose(a["p"], b["p"], atol=1e-6)
    enc = TextEncoder(max_tokens=16, cache=tmp_path / "c")
    warm = enc.encode([f"a person walks {i} steps then waves" for i in range(40)])
    assert enc.prompt_cache.misses == 0 and enc._backend._model is None
    assert torch.allclose(warm.tokens_BSE, a["t"], atol=1e-5)
