"""BVH archives (``.tar.gz``, ``.tgz``, ``.tar``, ``.zip``) read in place by ``moscale data import-bvh``.

Two passes over the archive, member by member, never unpacking it:

1. :meth:`BvhArchive.scan` lists the BVH members and copies the small files the import reads beside them
   (caption sidecars ``.txt``, label ``.json``, label tables under ``cfg/``, licence files) into a hidden
   folder that mirrors the archive's layout, so captions, labels and the licence resolve exactly as for a
   folder (the BVH files themselves are named there but not written);
2. :meth:`BvhArchive.members` streams the BVH members' bytes, one at a time, to the converting workers.

Member names are checked before anything is written: absolute names, ``..`` components, drive letters and
backslashes are refused (listed as skipped, never written), and only regular files are read (links and
devices are skipped). A damaged archive is a :class:`DatasetError`; the import then leaves no output.
"""

from __future__ import annotations

import os
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from moscale_cli.errors import DatasetError

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
SIDE_SUFFIXES = (".txt", ".json")  # caption sidecars, label indices, label tables (cfg/*_label.txt)
SMALL_FILE_LIMIT = 16 * 1024 * 1024  # a sidecar larger than this is not a sidecar: skipped
_ERRORS = (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError)


def is_archive(path: str | os.PathLike) -> bool:
    name = Path(path).name.lower()
    return any(name.endswith(s) for s in ARCHIVE_SUFFIXES)


def safe_member_name(name: str) -> PurePosixPath | None:
    """The member's relative path, or None when it is unsafe (absolute, ``..``, a drive or a backslash)."""
    if not name or "\\" in name or "\x00" in name:
        return None
    p = PurePosixPath(name)
    if p.is_absolute() or any(part == ".." for part in p.parts) or (p.parts and ":" in p.parts[0]):
        return None
    parts = [q for q in p.parts if q not in (".", "")]
    return PurePosixPath(*parts) if parts else None


def _wanted_side_file(rel: PurePosixPath) -> bool:
    name = rel.name.lower()
    return name.startswith("license") or rel.suffix.lower() in SIDE_SUFFIXES


@dataclass
class BvhArchive:
    """An archive of BVH files and what :meth:`scan` found in it."""

    path: Path
    bvh: list[PurePosixPath] = field(default_factory=list)  # members, in archive order
    unsafe: list[str] = field(default_factory=list)  # member names refused (path traversal, links)

    @property
    def kind(self) -> str:
        return "zip" if self.path.name.lower().endswith(".zip") else "tar"

    def _damaged(self, e: BaseException) -> DatasetError:
        return DatasetError(f"archive {self.path} is damaged or not a {self.kind} archive ({type(e).__name__}: {e})")

    def _tar_members(self) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo]]:
        with tarfile.open(self.path, mode="r|*") as tf:  # a stream: one member after the other
            for m in tf:
                yield tf, m

    def scan(self, tree: Path) -> None:
        """Pass 1: list the BVH members, refuse unsafe names, copy the small side files under ``tree``."""
        if not self.path.is_file():
            raise DatasetError(f"BVH archive {self.path} does not exist")
        tree = Path(tree)
        try:
            if self.kind == "zip":
                with zipfile.ZipFile(self.path) as zf:
                    for info in zf.infolist():
                        if info.is_dir():
                            continue
                        rel = self._check(info.filename, regular=not _zip_is_link(info))
                        if rel is None:
                            continue
                        if rel.suffix.lower() == ".bvh":
                            self.bvh.append(rel)
                        elif _wanted_side_file(rel) and info.file_size <= SMALL_FILE_LIMIT:
                            _write_small(tree / rel, zf.read(info))
            else:
                for tf, m in self._tar_members():
                    if m.isdir():
                        continue
                    rel = self._check(m.name, regular=m.isfile())
                    if rel is None:
                        continue
                    if rel.suffix.lower() == ".bvh":
                        self.bvh.append(rel)
                    elif _wanted_side_file(rel) and m.size <= SMALL_FILE_LIMIT:
                        f = tf.extractfile(m)
                        if f is not None:
                            _write_small(tree / rel, f.read())
        except DatasetError:
            raise
        except _ERRORS as e:
            raise self._damaged(e) from None
        if not self.bvh:
            raise DatasetError(f"no .bvh files in {self.path}")

    def _check(self, name: str, regular: bool) -> PurePosixPath | None:
        rel = safe_member_name(name)
        if rel is None:
            self.unsafe.append(f"{name}: unsafe member name (absolute or '..'), not read")
            return None
        if not regular:
            if rel.suffix.lower() == ".bvh":
                self.unsafe.append(f"{name}: not a regular file (a link or device), not read")
            return None
        return rel

    def members(self) -> Iterator[tuple[PurePosixPath, bytes]]:
        """Pass 2: (relative path, bytes) of every BVH member found by :meth:`scan`, in archive order."""
        wanted = set(self.bvh)
        try:
            if self.kind == "zip":
                with zipfile.ZipFile(self.path) as zf:
                    for info in zf.infolist():
                        rel = safe_member_name(info.filename)
                        if rel in wanted and not info.is_dir():
                            yield rel, zf.read(info)
            else:
                for tf, m in self._tar_members():
                    rel = safe_member_name(m.name)
                    if rel in wanted and m.isfile():
                        f = tf.extractfile(m)
                        if f is not None:
                            yield rel, f.read()
        except _ERRORS as e:
            raise self._damaged(e) from None


def _zip_is_link(info: zipfile.ZipInfo) -> bool:
    mode = (info.external_attr >> 16) & 0o170000
    return mode not in (0, 0o100000)  # 0: no Unix mode recorded (a plain file); else only S_IFREG


def _write_small(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


__all__ = ["ARCHIVE_SUFFIXES", "BvhArchive", "is_archive", "safe_member_name"]
