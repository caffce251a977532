"""Where outputs may go: an output never is, contains or lies inside one of the command's inputs.

Paths are compared after resolving symbolic links and ``..`` (and, for two existing files, by device and
inode, so a hard link counts as the same file). Used by every command that reads and writes files
(``data import-bvh``/``merge``, ``edit``, ``inbetween``, ``convert``, the ``train-*`` commands).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from moscale_cli.errors import UsageError


def _real(p: str | os.PathLike) -> Path:
    return Path(os.path.realpath(os.path.expanduser(os.fspath(p))))


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when ``a`` and ``b`` name the same file or folder (symlinks and hard links included)."""
    ra, rb = _real(a), _real(b)
    if ra == rb:
        return True
    try:
        return os.path.samefile(ra, rb)
    except OSError:  # one of them does not exist
        return False


def is_inside(inner: str | os.PathLike, outer: str | os.PathLike) -> bool:
    """True when ``inner`` lies strictly inside the folder ``outer`` (after resolving links)."""
    ri, ro = _real(inner), _real(outer)
    return ri != ro and ro in ri.parents


def overlap(output: str | os.PathLike, source: str | os.PathLike) -> str | None:
    """How ``output`` overlaps ``source`` ("is", "contains", "lies inside"), or None."""
    if same_file(output, source):
        return "is"
    if is_inside(source, output):
        return "contains"
    if is_inside(output, source):
        return "lies inside"
    return None


def check_not_input(
    output: str | os.PathLike,
    inputs: Iterable[str | os.PathLike | None],
    what: str = "the output",
    hint: str = "choose another output",
) -> None:
    """Refuse (one :class:`UsageError` line) an output that is, contains or lies inside one of ``inputs``."""
    for src in inputs:
        if src is None:
            continue
        how = overlap(output, src)
        if how is not None:
            where = "the input" if how == "is" else f"the input {src}"
            raise UsageError(f"{what} {output} {how} {where}: the command would destroy its own input; {hint}")


def backup_path(path: str | os.PathLike) -> Path:
    """A free name for a backup of ``path``: ``NAME.bak``, else ``NAME.bak1``, ``NAME.bak2``, ..."""
    path = Path(path)
    cand = path.with_name(path.name + ".bak")
    k = 1
    while cand.exists() or cand.is_symlink():
        cand = path.with_name(f"{path.name}.bak{k}")
        k += 1
    return cand


__all__ = ["backup_path", "check_not_input", "is_inside", "overlap", "same_file"]
