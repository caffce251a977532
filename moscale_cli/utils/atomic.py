"""Write files atomically: write to a temporary name in the same folder, then rename into place.

A crash (or SIGKILL) in the middle of a write never leaves a partial file under the final name. The
temporary names carry the writing process's id and host (``.NAME.<pid>-<host>.<random>.tmp.EXT``,
:func:`temp_name`), so that the leftovers of a killed run are recognised: the first write into a folder
removes the ones whose process is gone (:func:`remove_stale`), and so do the dataset and model writers for
their staging folders. A write keeps the mode of the file it replaces, and writes through a symbolic link to
the file it points to (the link stays a link); missing parent folders are created.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import stat
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from moscale_cli.errors import MoScaleError

LEGACY_MAX_AGE_S = 3600.0  # leftovers of older versions (no pid in the name) are removed after an hour


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _host_tag() -> str:
    return f"{zlib.crc32(socket.gethostname().encode()) & 0xFFFFFF:06x}"


_HOST = _host_tag()


def temp_name(name: str) -> str:
    """The prefix of a temporary entry beside ``name`` (``.NAME.<pid>-<host>.``), see :func:`remove_stale`."""
    return f".{name}.{os.getpid()}-{_HOST}."


# .NAME.<pid>-<host>.<random>.(tmp[.ext] | partial | old | ...)
_TAGGED = re.compile(r"^\..+\.(?P<pid>\d+)-(?P<host>[0-9a-f]{6})\.[A-Za-z0-9_]+\.[A-Za-z0-9_.-]+$")
# older versions: mkstemp/mkdtemp names (.NAME.xxxxxxxx.tmp.ext, .NAME.xxxxxxxx.partial), synth's .NAME.partial-PID,
# replace_dir's .NAME.old-PID and the model writer's .NAME.tmp-HEX / .NAME.old-HEX
_LEGACY = re.compile(
    r"^\..+\.(?:[a-z0-9_]{8}\.(?:tmp(?:\.[A-Za-z0-9]+)?|partial)|(?:partial|old)-(?P<pid>\d+)|(?:tmp|old)-[0-9a-f]{8})$"
)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def is_stale(entry: Path) -> bool:
    """True for a temporary file or folder of a moscale writer whose process is gone (this host), or an
    older version's leftover more than an hour old."""
    m = _TAGGED.match(entry.name)
    if m:
        return m["host"] == _HOST and not _pid_alive(int(m["pid"]))
    m = _LEGACY.match(entry.name)
    if m:
        if m["pid"] is not None and not _pid_alive(int(m["pid"])):
            return True
        try:
            return time.time() - entry.lstat().st_mtime > LEGACY_MAX_AGE_S
        except OSError:
            return False
    return False


def remove_stale(folder: str | os.PathLike) -> list[Path]:
    """Remove the leftovers of killed writers in ``folder`` (see :func:`is_stale`); returns what was removed."""
    removed: list[Path] = []
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(".")]
    except OSError:
        return removed
    for e in entries:
        p = Path(e.path)
        if not is_stale(p):
            continue
        try:
            if e.is_dir(follow_symlinks=False):
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
        except OSError:
            pass
    return removed


_SWEPT: set[str] = set()


def sweep_once(folder: str | os.PathLike) -> None:
    """:func:`remove_stale` on ``folder`` the first time this process writes there."""
    key = os.path.realpath(folder)
    if key not in _SWEPT:
        _SWEPT.add(key)
        remove_stale(key)


def ensure_parent(path: str | os.PathLike) -> Path:
    """Create the missing parent folders of ``path``; return the parent. One-line errors when a file is in
    the way or the folder is not writable."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        for anc in (parent, *parent.parents):
            if anc.exists() and not anc.is_dir():
                raise MoScaleError(f"cannot write {path}: {anc} is a file, not a folder")
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise MoScaleError(f"cannot write {path}: cannot create folder {parent} ({e.strerror or e})") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise MoScaleError(f"cannot write {path}: folder {parent} is not writable")
    return parent


def check_creatable(path: str | os.PathLike) -> None:
    """Before any work: ``path`` can be written, its folder existing and writable or creatable (the nearest
    existing folder above it writable, no file in the way). One-line :class:`MoScaleError` otherwise."""
    path = Path(path)
    anc = path.parent if str(path.parent) else Path(".")
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise MoScaleError(f"cannot write {path}: {anc} is a file, not a folder")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise MoScaleError(f"cannot write {path}: folder {anc} is not writable")


def write_target(path: str | os.PathLike) -> Path:
    """The file a write to ``path`` replaces: ``path`` itself, or the file a symbolic link points to."""
    path = Path(path)
    if path.is_symlink():
        return Path(os.path.realpath(path))
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed to ``path``, on error removed.

    ``suffix`` keeps a file extension on the temporary name (some writers pick the format from it). A
    symbolic link at ``path`` is written through (its target is replaced); the mode of a replaced file is
    kept (new files get the usual ``0666 & ~umask``)."""
    path = write_target(path)
    parent = ensure_parent(path)
    sweep_once(parent)
    sfx = path.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=temp_name(path.name), suffix=f".tmp{sfx}", dir=parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if not tmp_path.exists():
            raise MoScaleError(f"writing {path} produced no output")
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except OSError:
            mode = 0o666 & ~_umask()  # mkstemp makes 0600 files; give the usual permissions
        os.chmod(tmp_path, mode)
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


def temp_dir(beside: str | os.PathLike, kind: str = "partial") -> Path:
    """A new hidden folder beside ``beside`` (``.NAME.<pid>-<host>.<random>.<kind>``), for building a folder
    that is then moved into place with :func:`replace_dir`; stale ones of killed runs are removed first."""
    beside = Path(beside)
    parent = ensure_parent(beside)
    remove_stale(parent)
    path = Path(tempfile.mkdtemp(prefix=temp_name(beside.name), suffix=f".{kind}", dir=parent))
    os.chmod(path, 0o777 & ~_umask())  # mkdtemp makes 0700 folders; the finished folder gets the usual mode
    return path


def replace_dir(staging: str | os.PathLike, final: str | os.PathLike, trash: str | os.PathLike | None = None) -> None:
    """Move the finished folder ``staging`` to ``final``, replacing an existing ``final``.

    The old ``final`` is first renamed to ``trash`` (default ``.{name}.<pid>-<host>.<random>.old`` beside it;
    a stale one is removed) and deleted after the new folder is in place, so ``final`` is never a half-written
    folder."""
    final = Path(final)
    if trash is None:
        trash = final.with_name(f"{temp_name(final.name)}{os.urandom(4).hex()}.old")
    trash = Path(trash)
    if trash.exists():
        shutil.rmtree(trash, ignore_errors=True)
    if final.exists():
        os.replace(final, trash)
    os.replace(staging, final)
    if trash.exists():
        shutil.rmtree(trash, ignore_errors=True)
