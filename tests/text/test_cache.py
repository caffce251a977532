"""The training caption cache: memory, one file per (encoder weights, caption set), corruption, concurrency."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

import moscale_cli.text.cache as cache_mod
from moscale_cli.text.cache import cached_text_fn, caption_set_key, default_caption_cache_dir
from moscale_cli.text.encoder import TextEncoder
from moscale_cli.text.rows import caption_key, read_rows


class CountingEncoder:
    """Wraps the real encoder and counts the captions it is asked to encode."""

    def __init__(self, enc: TextEncoder) -> None:
        self.enc = enc
        self.max_tokens = enc.max_tokens
        self.dim = enc.dim
        self.device = enc.device
        self.name = enc.name
        self.model_id = enc.model_id
        self.fingerprint = enc.fingerprint
        self.seen: list[str] = []

    def encode(self, captions, warn=True, cache=True):
        self.seen.extend(captions)
        return self.enc.encode(captions, warn=warn, cache=cache)


CAPS = ["a person walks forward", "a person jumps", "someone waves", "a person walks forward"]


def _files(root: Path) -> list[Path]:
    return sorted(root.rglob("captions-*.safetensors"))


def test_memory_cache_matches_encoder(text_encoder):
    enc = CountingEncoder(text_encoder)
    fn = cached_text_fn(enc, None, dtype=torch.float32)
    f = fn(CAPS)
    ref = text_encoder.encode(CAPS)
    assert f.tokens_BSE.shape == (4, enc.max_tokens, enc.dim)
    assert torch.equal(f.mask_BS, ref.mask_BS)
    assert torch.allclose(f.tokens_BSE, ref.tokens_BSE, atol=1e-5)
    assert torch.allclose(f.pooled_BE, ref.pooled_BE, atol=1e-6)
    assert sorted(enc.seen) == sorted(set(CAPS))  # duplicates encoded once
    fn(["someone waves", "a person jumps"])
    assert len(enc.seen) == 3  # served from memory


def test_one_file_per_caption_set_shared_by_later_runs(text_encoder, tmp_path):
    enc = CountingEncoder(text_encoder)
    fn = cached_text_fn(enc, tmp_path)
    assert fn.precompute(CAPS, batch_size=2) == 3
    (path,) = _files(tmp_path)
    assert path.name == f"captions-{caption_set_key(CAPS)}.safetensors" and path == fn.set_path(reversed(CAPS))
    first = fn(CAPS)
    # another run (another process, another run folder) on the same data and encoder reads the file
    enc2 = CountingEncoder(text_encoder)
    fn2 = cached_text_fn(enc2, tmp_path)
    assert len(fn2) == 0 and fn2.precompute(list(reversed(CAPS))) == 0 and len(fn2) == 3
    second = fn2(CAPS)
    assert enc2.seen == []
    assert torch.equal(first.tokens_BSE, second.tokens_BSE) and torch.equal(first.pooled_BE, second.pooled_BE)
    ref = text_encoder.encode(CAPS)
    assert torch.allclose(second.pooled_BE, ref.pooled_BE, atol=2e-3)  # float16 storage
    # another data set is another file
    assert cached_text_fn(CountingEncoder(text_encoder), tmp_path).precompute(CAPS + ["a person sits"]) == 4
    assert len(_files(tmp_path)) == 2


def test_replaced_encoder_weights_are_never_served_old_embeddings(tmp_path, model_copy):
    """Bug: the cache was keyed by the encoder's name and window, so new weights in the same folder (same name)
    were served the embeddings of the old ones. It is keyed by the weights' fingerprint now."""
    from safetensors.torch import load_file, save_file

    folder = model_copy("enc")
    old = cached_text_fn(TextEncoder(str(folder), max_tokens=16), tmp_path / "c", dtype=torch.float32)
    old_fp = old.encoder.fingerprint
    assert old.precompute(CAPS) == 3
    weights = folder / "model.safetensors"
    state = load_file(str(weights))
    weights.unlink()  # a symlink to the bundled model: replace it with other weights, same folder, same name
    g = torch.Generator().manual_seed(0)
    save_file({k: v + 0.02 * torch.randn(v.shape, generator=g) if v.is_floating_point() else v for k, v in state.items()},
              str(weights))
    new_enc = TextEncoder(str(folder), max_tokens=16)
    assert new_enc.name == old.encoder.name and new_enc.fingerprint != old_fp
    new = cached_text_fn(new_enc, tmp_path / "c", dtype=torch.float32)
    assert new.precompute(CAPS) == 3  # nothing served from the old weights' file
    got, want = new(CAPS), new_enc.encode(CAPS, cache=False)
    assert torch.allclose(got.pooled_BE, want.pooled_BE, atol=1e-6)
    assert not torch.allclose(got.pooled_BE, old(CAPS).pooled_BE, atol=1e-3)
    assert len(_files(tmp_path / "c")) == 2


def test_same_weights_elsewhere_share_the_cache_and_windows_do_not(text_encoder, tmp_path, model_copy):
    cached_text_fn(text_encoder, tmp_path).precompute(CAPS)
    copy = CountingEncoder(TextEncoder(str(model_copy("same")), max_tokens=16))
    assert copy.fingerprint == text_encoder.fingerprint
    fn = cached_text_fn(copy, tmp_path)
    assert fn.precompute(CAPS) == 0 and copy.seen == []
    other_window = CountingEncoder(TextEncoder(max_tokens=12))
    assert cached_text_fn(other_window, tmp_path).precompute(CAPS) == 3
    assert len({p.parent for p in _files(tmp_path)}) == 2


@pytest.mark.parametrize("damage", ["garbage", "truncated", "bit flip", "another set"])
def test_broken_or_foreign_set_file_is_encoded_again_and_rewritten(text_encoder, tmp_path, damage):
    fn = cached_text_fn(CountingEncoder(text_encoder), tmp_path)
    fn.precompute(CAPS)
    (path,) = _files(tmp_path)
    good = path.read_bytes()
    assert read_rows(path, text_encoder.dim) is not None
    if damage == "garbage":
        path.write_bytes(b"garbage")
    elif damage == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "bit flip":
        bad = bytearray(good)
        bad[-7] ^= 0x10  # in the tensor data: only the checksum sees it
        path.write_bytes(bytes(bad))
    else:  # a valid file of other captions under this set's name
        other = cached_text_fn(CountingEncoder(text_encoder), tmp_path / "other")
        other.precompute(["a person sits", "a person runs"])
        path.write_bytes(_files(tmp_path / "other")[0].read_bytes())
    enc = CountingEncoder(text_encoder)
    fn2 = cached_text_fn(enc, tmp_path)
    assert fn2.precompute(CAPS) == 3 and sorted(enc.seen) == sorted(set(CAPS))
    meta, keys, rows = read_rows(path, text_encoder.dim)  # rewritten, whole
    assert sorted(keys) == sorted(caption_key(c) for c in set(CAPS)) and meta["fingerprint"] == text_encoder.fingerprint
    enc3 = CountingEncoder(text_encoder)
    assert cached_text_fn(enc3, tmp_path).precompute(CAPS) == 0 and enc3.seen == []


def test_concurrent_writers_leave_one_good_file(text_encoder, tmp_path, monkeypatch):
    """Two runs encode the same data at the same time: both write the set file (forced to overlap at the
    write), neither fails, and the file that stays is whole and serves a third run."""
    barrier = threading.Barrier(2, timeout=60)
    real_write = cache_mod.write_rows

    def write_together(*args, **kwargs):
        barrier.wait()  # both writers are at the write before either renames its file into place
        return real_write(*args, **kwargs)

    monkeypatch.setattr(cache_mod, "write_rows", write_together)
    encs = [CountingEncoder(text_encoder) for _ in range(2)]
    errors: list[BaseException] = []

    def run(enc: CountingEncoder) -> None:
        try:
            assert cached_text_fn(enc, tmp_path).precompute(CAPS) == 3
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(e,)) for e in encs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and all(not t.is_alive() for t in threads)
    assert len(_files(tmp_path)) == 1
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]  # no temporary file left
    monkeypatch.setattr(cache_mod, "write_rows", real_write)
    third = CountingEncoder(text_encoder)
    assert cached_text_fn(third, tmp_path).precompute(CAPS) == 0 and third.seen == []


def test_default_folder_and_hub_names(monkeypatch, tmp_path):
    monkeypatch.setenv("MOSCALE_CACHE", str(tmp_path / "mc"))
    assert default_caption_cache_dir() == tmp_path / "mc" / "captions"
    monkeypatch.setenv("MOSCALE_CACHE", "off")
    assert default_caption_cache_dir() is None

    class HubEncoder(CountingEncoder):  # a hub name has no local folder, hence no fingerprint
        def __init__(self, enc: TextEncoder) -> None:
            super().__init__(enc)
            self.fingerprint = None

    enc = HubEncoder(TextEncoder(max_tokens=16))
    fn = cached_text_fn(enc, tmp_path / "c")
    assert fn.dir is None and fn.precompute(CAPS) == 3 and len(fn) == 3
    assert not (tmp_path / "c").exists()  # memory only: nothing keyed by a name on disk
