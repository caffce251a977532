"""Worker processes that never outlive their command.

:func:`worker_pool` is a ``multiprocessing`` pool (spawn) whose workers

- ignore Ctrl-C (the parent decides: on any exception, Ctrl-C or SIGTERM it terminates them and waits), and
- exit on their own as soon as the parent process is gone (a watchdog thread waits on the parent's sentinel),
  so a parent killed with SIGKILL leaves no worker behind, and with them the resource tracker ends too.

:func:`imap_bounded` runs a function over an iterable with at most ``max_pending`` tasks in flight, so that
tasks carrying data (BVH files read from an archive) are not all queued in memory at once.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.pool import Pool
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def _watch_parent() -> None:
    parent = mp.parent_process()
    if parent is None:
        return
    from multiprocessing.connection import wait

    try:
        wait([parent.sentinel])
    except OSError:
        pass
    os._exit(1)  # the parent is gone: stop now, whatever the worker is doing


def _init_worker(env: dict[str, str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.update(env)
    threading.Thread(target=_watch_parent, name="moscale-parent-watch", daemon=True).start()


@contextlib.contextmanager
def worker_pool(workers: int, env: dict[str, str] | None = None) -> Iterator[Pool]:
    """A spawn pool of ``workers`` processes (``env``: environment variables set in each worker, e.g. one
    thread per worker); closed and joined on success, terminated and joined on any exception."""
    ctx = mp.get_context("spawn")
    pool = ctx.Pool(workers, initializer=_init_worker, initargs=(dict(env or {}),))
    try:
        yield pool
    except BaseException:
        pool.terminate()
        pool.join()
        raise
    pool.close()
    pool.join()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def imap_bounded(pool: Pool, fn: Callable[[T], R], items: Iterable[T], max_pending: int) -> Iterator[R]:
    """``fn(item)`` for every item on ``pool``, results in completion order, at most ``max_pending`` tasks
    submitted and not yet collected (the iterable is consumed lazily). A task's exception is raised here."""
    results: queue.SimpleQueue[object] = queue.SimpleQueue()
    it = iter(items)
    pending = 0
    exhausted = False
    while True:
        while not exhausted and pending < max(1, max_pending):
            try:
                item = next(it)
            except StopIteration:
                exhausted = True
                break
            pool.apply_async(fn, (item,), callback=results.put, error_callback=lambda e: results.put(_Failed(e)))
            pending += 1
        if pending == 0:
            return
        while True:  # short waits: a signal handler (Ctrl-C, SIGTERM) runs between them
            try:
                r = results.get(timeout=0.2)
                break
            except queue.Empty:
                continue
        pending -= 1
        if isinstance(r, _Failed):
            raise r.error
        yield r  # type: ignore[misc]


__all__ = ["imap_bounded", "worker_pool"]
