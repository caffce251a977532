"""The output files of a command, checked before any work and reported after it.

:class:`Outputs` is what every file-writing command (``generate``, ``edit``, ``inbetween``, ``compose``,
``convert``, ``render``) does with its ``-o`` files:

- before any work: each file has a known extension and a writable (or creatable) folder; a read-only file is
  refused unless ``--force``; a file that is one of the command's inputs (the source motion, a mask, a
  mapping, a prompt file; symlinks and hard links included) is refused unless ``--backup``, which copies the
  input to ``NAME.bak`` before it is replaced;
- after the work: "overwrote X" for every output that existed before the command started (a file the command
  did not just make).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from moscale_cli.errors import MoScaleError, UsageError

FORCE_HELP = "Replace read-only output files (they keep their mode)."
BACKUP_HELP = "Allow an output to replace an input file, keeping the input as NAME.bak first."


class Outputs:
    """See the module doc. ``paths``: every file the command will write; ``inputs``: the files it reads."""

    def __init__(
        self,
        paths: Sequence[str | os.PathLike],
        inputs: Iterable[str | os.PathLike | None] = (),
        force: bool = False,
        backup: bool = False,
        check_extension: bool = True,
    ) -> None:
        self.paths = [Path(p) for p in paths]
        self.inputs = [Path(p) for p in inputs if p is not None]
        self.force = force
        self.backup = backup
        self.check_extension = check_extension
        self.existed: list[Path] = []
        self.backups: list[tuple[Path, Path]] = []  # (input, its backup)
        self._replaces_input: list[Path] = []

    def check(self) -> Outputs:
        """The checks before any work (one-line :class:`UsageError`); returns ``self``."""
        from moscale_cli.io.files import check_output_path
        from moscale_cli.utils.paths import same_file

        if not self.paths:
            raise UsageError("give at least one output file with -o (e.g. -o out.bvh)")
        for o in self.paths:
            if self.check_extension:
                try:
                    check_output_path(o, self.force)
                except MoScaleError as e:
                    raise UsageError(f"output {o}: {e}") from None
            hit = next((i for i in self.inputs if same_file(o, i)), None)
            if hit is not None:
                if not self.backup:
                    raise UsageError(
                        f"output {o} is the input {hit}: the command would overwrite its own input "
                        "(choose another output, or pass --backup to keep the input as "
                        f"{hit.name}.bak and replace it)"
                    )
                self._replaces_input.append(hit)
            if (o.exists() or o.is_symlink()) and o not in self.existed:
                self.existed.append(o)
        return self

    def before_write(self) -> None:
        """With ``--backup``: copy every input that an output replaces to its backup name (once)."""
        from moscale_cli.utils.paths import backup_path

        done = {i for i, _ in self.backups}
        for src in self._replaces_input:
            if src in done:
                continue
            dst = backup_path(src)
            shutil.copy2(os.path.realpath(src), dst)
            self.backups.append((src, dst))
            done.add(src)

    def report(self) -> None:
        """The lines after the writes: backups kept and files overwritten."""
        from moscale_cli.utils.console import info

        for src, dst in self.backups:
            info(f"kept the input {src} as {dst}")
        for p in self.existed:
            info(f"overwrote {p}")


__all__ = ["BACKUP_HELP", "FORCE_HELP", "Outputs"]
