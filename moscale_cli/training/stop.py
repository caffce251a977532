"""Stops that wait for the end of a training step.

A Ctrl-C, SIGTERM or SIGHUP during training is recorded instead of raised: the trainer finishes the step it is
in, writes a checkpoint of that step and then raises the stop (``KeyboardInterrupt`` or
:class:`~moscale_cli.errors.Terminated`), so ``--resume`` goes on exactly where the run was stopped and no step
is lost. A second signal while the first one waits raises at once (the user insists; the last checkpoint
stays). Outside the main thread nothing changes (signal handlers can only be set there).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType

from moscale_cli.errors import Terminated

_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


class DeferredStop:
    """Context manager: while inside, the stop signals set :attr:`signum` (the first one) instead of raising."""

    def __init__(self, on_request: Callable[[int], None] | None = None) -> None:
        self.signum: int | None = None
        self.on_request = on_request  # called once, with the signal, when the first stop arrives
        self._old: dict[int, object] = {}
        self._pid = os.getpid()

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if os.getpid() != self._pid:  # a forked worker (DataLoader): the signal does what it did before
            signal.signal(signum, self._old.get(signum, signal.SIG_DFL))  # type: ignore[arg-type]
            os.kill(os.getpid(), signum)
            return
        if self.signum is not None:  # a second stop: do not wait any longer
            self.raise_stop(signum)
        self.signum = signum
        if self.on_request is not None:
            self.on_request(signum)

    @staticmethod
    def raise_stop(signum: int) -> None:
        """Raise the stop a signal asks for: KeyboardInterrupt for SIGINT, else Terminated."""
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated(signum)

    def __enter__(self) -> DeferredStop:
        self._pid = os.getpid()
        if threading.current_thread() is threading.main_thread():
            for name in _SIGNALS:
                sig = getattr(signal, name, None)
                if sig is not None:
                    self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)  # type: ignore[arg-type]
        self._old.clear()
