"""Write files atomically: write to a temporary name in the same folder, then rename into place.

A crash (or SIGKILL) in the middle of a write never leaves a partial file under the final name.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from moscale_cli.errors import MoScaleError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _check_parent(path: Path) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise MoScaleError(f"cannot write {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise MoScaleError(f"cannot write {path}: folder {parent} is not writable")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed to ``path``, on error removed.

    ``suffix`` keeps a file extension on the temporary name (some writers pick the format from it).
    """
    path = Path(path)
    _check_parent(path)
    sfx = path.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{sfx}", dir=path.parent or ".")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if not tmp_path.exists():
            raise MoScaleError(f"writing {path} produced no output")
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def replace_dir(staging: str | os.PathLike, final: str | os.PathLike, trash: str | os.PathLike | None = None) -> None:
    """Move the finished folder ``staging`` to ``final``, replacing an existing ``final``.

    The old ``final`` is first renamed to ``trash`` (default ``.{name}.old-{pid}`` beside it; a stale one is
    removed) and deleted after the new folder is in place, so ``final`` is never a half-written folder."""
    final = Path(final)
    trash = Path(trash) if trash is not None else final.with_name(f".{final.name}.old-{os.getpid()}")
    if trash.exists():
        shutil.rmtree(trash, ignore_errors=True)
    if final.exists():
        os.replace(final, trash)
    os.replace(staging, final)
    if trash.exists():
        shutil.rmtree(trash, ignore_errors=True)
