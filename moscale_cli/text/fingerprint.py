"""A cheap, stable identity for a local text-encoder folder: the hash of its weights and configuration.

The folder's identity is the SHA-256 over the names and SHA-256s of the files that decide its outputs
(weights, ``config.json``, tokenizer files, sentence-transformers module configs; not READMEs nor ONNX
or OpenVINO exports). Hashing 90 MB of weights on every run would cost about a second, so each file's
hash is memoised in memory and, given ``memo_dir``, on disk under the file's real path, size and
modification time: a changed file is hashed again, an unchanged one costs a ``stat``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from moscale_cli.errors import MoScaleError

_SUFFIXES = {".json", ".txt", ".safetensors", ".bin", ".model", ".pt", ".pth"}
_SKIP_DIRS = {"onnx", "openvino"}
_MEMO: dict[tuple[str, int, int], str] = {}
_VERSION = "moscale-encoder-fingerprint-v1"


def identity_files(folder: str | os.PathLike) -> list[Path]:
    """The files of ``folder`` (and its first-level module folders) that decide the encoder's output."""
    folder = Path(folder)
    out = []
    for p in sorted(folder.iterdir()):
        if p.name.startswith("."):
            continue
        if p.is_dir() and p.name not in _SKIP_DIRS:
            out += [q for q in sorted(p.iterdir()) if q.is_file() and q.suffix in _SUFFIXES and not q.name.startswith(".")]
        elif p.is_file() and p.suffix in _SUFFIXES:
            out.append(p)
    return out


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: str | os.PathLike, memo_dir: str | os.PathLike | None = None) -> str:
    """SHA-256 of a file, memoised by (real path, size, mtime_ns) in memory and in ``memo_dir``."""
    real = os.path.realpath(path)
    st = os.stat(real)
    key = (real, st.st_size, st.st_mtime_ns)
    if key in _MEMO:
        return _MEMO[key]
    memo_file = None
    if memo_dir is not None:
        memo_file = Path(memo_dir) / f"{hashlib.sha1(real.encode('utf-8')).hexdigest()[:24]}.json"
        with contextlib.suppress(OSError, ValueError, TypeError):
            d = json.loads(memo_file.read_text(encoding="utf-8"))
            if [d.get("path"), d.get("size"), d.get("mtime_ns")] == list(key) and len(str(d.get("sha256", ""))) == 64:
                _MEMO[key] = str(d["sha256"])
                return _MEMO[key]
    digest = _hash_file(Path(real))
    if os.stat(real).st_mtime_ns == st.st_mtime_ns:  # not modified while we read it
        _MEMO[key] = digest
        if memo_file is not None:
            with contextlib.suppress(OSError, MoScaleError):  # a read-only cache folder: just do not memoise
                from moscale_cli.utils.atomic import write_text_atomic

                memo_file.parent.mkdir(parents=True, exist_ok=True)
                record = {"path": real, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
                write_text_atomic(memo_file, json.dumps(record))
    return digest


def folder_fingerprint(folder: str | os.PathLike, memo_dir: str | os.PathLike | None = None) -> str:
    """SHA-256 identity of an encoder folder (see the module docstring)."""
    folder = Path(folder)
    h = hashlib.sha256(_VERSION.encode())
    for p in identity_files(folder):
        h.update(f"\n{p.relative_to(folder).as_posix()}\t{file_sha256(p, memo_dir)}".encode())
    return h.hexdigest()
