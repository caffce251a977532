"""The one error family of moscale. The CLI prints these as one red line and exits non-zero."""

from __future__ import annotations


class MoScaleError(Exception):
    """Base class for every error a user can cause (bad input, missing files, bad configs)."""

    exit_code = 1


class UsageError(MoScaleError):
    """Wrong command-line usage (bad option values, conflicting options)."""

    exit_code = 2


class MotionFileError(MoScaleError):
    """A motion file (BVH, NPY, MP4 target) cannot be read or written."""


class DatasetError(MoScaleError):
    """A dataset directory is missing files or holds broken ones."""


class CheckpointError(MoScaleError):
    """A model directory or checkpoint is missing, corrupted or incompatible."""


class ConfigError(MoScaleError):
    """A configuration is invalid or does not match another one."""


class MoScaleWarning(UserWarning):
    """Base class of the warnings moscale gives about a user's input (the CLI prints them as one yellow line)."""


class Terminated(BaseException):  # noqa: N818 - not an error: a request to stop, like KeyboardInterrupt
    """The process received SIGTERM (or SIGHUP), raised by the CLI's signal handler: like Ctrl-C, every
    clean-up (``except BaseException`` / ``finally``) runs; the CLI exits with 128 + the signal number."""


_RECEIVED: list[int] = []  # stop signals the CLI's handler received in this run (see note_stop)


def note_stop(signum: int | None) -> None:
    """Record a stop signal the CLI received (``None`` clears the record at the start and end of a run): C code
    that calls back into Python (matplotlib's transforms, numpy conversions) can swallow the
    :class:`Terminated` its handler raised and fail with an error of its own, whose chain no longer shows it."""
    if signum is None:
        _RECEIVED.clear()
    else:
        _RECEIVED.append(int(signum))


def received_stop() -> int | None:
    """The first stop signal recorded by :func:`note_stop` in this run, else None."""
    return _RECEIVED[0] if _RECEIVED else None


def stop_request(e: BaseException) -> BaseException | None:
    """The Ctrl-C or SIGTERM behind ``e``, if one is in its ``__context__`` chain (a clean-up that failed while
    the stop was under way, e.g. ffmpeg rejecting the half-written frame of an interrupted render), else None:
    re-raise it, so a stop is reported as a stop and not as the clean-up's error. (A stop swallowed by C code
    leaves no chain; the CLI's ``main`` reports it from :func:`received_stop`.)"""
    seen: set[int] = set()
    ctx = e.__context__
    while ctx is not None and id(ctx) not in seen:
        if isinstance(ctx, (Terminated, KeyboardInterrupt)):
            return ctx
        seen.add(id(ctx))
        ctx = ctx.__context__
    return None
