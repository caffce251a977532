"""A stop (SIGTERM) is reported as a stop even when code that called back into Python swallowed it and failed
with an error of its own (matplotlib: "Invalid affine transformation matrix" during an MP4 render)."""

from __future__ import annotations

import os
import signal

import pytest

from moscale_cli.cli import app, invoke
from moscale_cli.errors import MotionFileError, Terminated, received_stop


def _swallowing_render(signal_first: bool):
    def run_click(command, argv):
        swallowed = False
        if signal_first:
            try:
                os.kill(os.getpid(), signal.SIGTERM)  # the CLI's handler raises Terminated here
            except Terminated:
                swallowed = True  # what a C extension does: the stop is lost from the chain
            assert swallowed
        raise MotionFileError("rendering clip.mp4 failed: ValueError: Invalid affine transformation matrix")

    return run_click


@pytest.mark.parametrize("signal_first", [True, False])
def test_error_after_a_swallowed_stop_exits_as_terminated(monkeypatch, capsys, signal_first):
    monkeypatch.setattr(invoke, "run_click", _swallowing_render(signal_first))
    old = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as e:
        app.main(["convert", "x.bvh", "-o", "clip.mp4"])
    cap = capsys.readouterr()
    out = cap.out + cap.err
    if signal_first:
        assert e.value.code == 143 and "terminated" in out and "Invalid affine" not in out
    else:  # the same error with no stop is reported as it is
        assert e.value.code == MotionFileError.exit_code and "Invalid affine" in out and "terminated" not in out
    assert received_stop() is None  # the record does not outlive the run
    assert signal.getsignal(signal.SIGTERM) == old
