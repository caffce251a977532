"""Plain-text progress for output that is not a terminal, and the thread count that follows the load."""

from __future__ import annotations

import pytest
import torch

from moscale_cli.utils.console import PlainProgress, progress
from moscale_cli.utils.device import ThreadGovernor, read_cpu_busy, threads_for_idle


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_plain_progress_lines_are_rate_limited_and_end_with_the_total():
    clock, lines = Clock(), []
    bar = PlainProgress(lines.append, every_s=10.0, clock=clock)
    task = bar.add_task("encoding captions", total=1000)
    for _ in range(99):  # 99 updates within the first 5 s: nothing yet
        clock.t += 0.05
        bar.advance(task, 1)
    assert lines == []
    clock.t = 10.0
    bar.advance(task, 101)  # 200 done at 10 s
    assert lines == ["encoding captions: 200/1000 (20 %), 10 s, about 40 s left"]
    clock.t = 15.0
    bar.advance(task, 100)
    assert len(lines) == 1  # within 10 s of the last line
    clock.t = 70.0
    bar.update(task, completed=1000, description="encoded")
    assert lines[-1] == "encoded: 1000/1000 (100 %), 1 min 10 s" and len(lines) == 2
    bar.advance(task, 5)
    assert len(lines) == 2  # a finished task says nothing more


def test_plain_progress_interval_grows_with_the_run_and_transient_short_work_is_silent():
    clock, lines = Clock(), []
    bar = PlainProgress(lines.append, every_s=10.0, max_every_s=60.0, clock=clock)
    task = bar.add_task("train", total=None)
    for t in range(1, 3601):  # an hour, one update a second
        clock.t = float(t)
        bar.update(task, completed=t)
    assert 55 <= len(lines) <= 80  # about one line a minute once the run is long, not 360
    quiet: list[str] = []
    short = PlainProgress(quiet.append, transient=True, clock=clock)
    s = short.add_task("generating", total=4)
    short.advance(s, 4)
    assert quiet == []  # finished before the first line: like a transient bar, nothing stays
    stopped = PlainProgress(quiet.append, clock=clock)
    s = stopped.add_task("x", total=2)
    stopped.stop()
    stopped.advance(s, 2)
    assert quiet == []


def test_progress_writes_plain_lines_when_stderr_is_not_a_terminal(capsys):
    from moscale_cli.utils.console import STATE

    STATE.quiet = False
    with progress() as bar:  # pytest captures stderr: not a terminal
        assert isinstance(bar, PlainProgress)
        t = bar.add_task("work", total=3)
        bar.advance(t, 3)
    assert "work: 3/3 (100 %)" in capsys.readouterr().err


@pytest.mark.parametrize(("idle", "current", "want"), [
    (1.9, 1, 2), (1.8, 1, 2), (1.7, 1, 1),  # a second thread needs 0.75 of a free core
    (1.6, 2, 2), (1.5, 2, 2), (1.4, 2, 1),  # and is dropped below half a free core
    (0.2, 2, 1), (7.9, 1, 4), (3.6, 8, 4),  # within [1, max_threads]
])
def test_threads_for_idle_has_a_band_against_flapping(idle, current, want):
    assert threads_for_idle(idle, current, max_threads=4) == want


class FakeLoad:
    """/proc/stat and this process's CPU time, driven by the test: ``others`` cores busy elsewhere."""

    def __init__(self, clock: Clock, cpus: int = 2) -> None:
        self.clock, self.cpus, self.busy, self.own, self.others = clock, cpus, 0.0, 0.0, 0.0

    def run(self, seconds: float, own_threads: int) -> None:
        """Every runnable thread gets an equal share of the cores when there are more threads than cores."""
        share = min(1.0, self.cpus / (own_threads + self.others))
        self.clock.t += seconds
        self.own += seconds * own_threads * share
        self.busy += seconds * (own_threads + self.others) * share


def _governor(load: FakeLoad, lines: list[str], **kw) -> ThreadGovernor:
    return ThreadGovernor(torch.device("cpu"), log=lines.append, every_s=10.0, env={}, clock=load.clock,
                          busy=lambda: load.busy, own=lambda: load.own, cpus=load.cpus, **kw)


def test_governor_follows_the_load_and_reports_each_change_once():
    torch.set_num_threads(2)  # restored after the test by conftest's guard
    clock, lines = Clock(), []
    load = FakeLoad(clock)
    g = _governor(load, lines, max_threads=2)
    assert g.active
    load.run(5, 2)
    assert g.tick() is None and lines == []  # not yet time to look
    load.run(5, 2)
    assert g.tick() is None and torch.get_num_threads() == 2  # quiet machine: keep both
    load.others = 1.0  # another process takes a core
    for _ in range(3):
        load.run(10, torch.get_num_threads())
        g.tick()
    assert torch.get_num_threads() == 1
    # sharing the cores with our two threads, the other process got 2/3 of one: enough to drop one thread
    assert lines == ["CPU threads 2 -> 1 (other processes used 0.7 of 2 cores)"]
    load.others = 0.0  # it finished
    load.run(10, 1)
    assert g.tick() == 2 and torch.get_num_threads() == 2
    assert len(lines) == 2 and g.changes == [(2, 1, pytest.approx(4 / 3)), (1, 2, pytest.approx(2.0))]


def test_governor_leaves_pinned_threads_and_other_devices_alone():
    clock = Clock()
    load = FakeLoad(clock)
    for kw in ({"env": {"OMP_NUM_THREADS": "2"}}, {"env": {"MKL_NUM_THREADS": "1"}}):
        g = ThreadGovernor(torch.device("cpu"), clock=clock, busy=lambda: load.busy, own=lambda: load.own, **kw)
        assert not g.active
    g = ThreadGovernor(torch.device("cpu"), pinned=1, env={}, clock=clock, busy=lambda: load.busy)
    assert not g.active and torch.get_num_threads() == 1
    assert not ThreadGovernor(torch.device("cuda"), env={}, clock=clock, busy=lambda: load.busy).active
    assert not ThreadGovernor(torch.device("cpu"), env={}, busy=lambda: None).active  # no /proc/stat
    load.others = 2.0
    clock.t = 100.0
    assert g.tick() is None and torch.get_num_threads() == 1


def test_read_cpu_busy_counts_only_our_cpus_and_not_idle_time(tmp_path):
    import os

    stat = tmp_path / "stat"
    stat.write_text("cpu  900 0 100 5000 40 0 0 0 0 0\n"
                    "cpu0 300 10 50 2000 20 5 5 10 0 0\n"
                    "cpu1 600 0 50 3000 20 0 0 0 0 0\n"
                    "intr 12345\n")
    hz = os.sysconf("SC_CLK_TCK")
    assert read_cpu_busy(str(stat), {0}) == pytest.approx((300 + 10 + 50 + 5 + 5 + 10) / hz)
    assert read_cpu_busy(str(stat), {0, 1}) == pytest.approx((380 + 650) / hz)
    assert read_cpu_busy(str(stat), {5}) is None
    assert read_cpu_busy(str(tmp_path / "missing"), {0}) is None


def test_governor_probes_the_machine_before_the_work_starts():
    torch.set_num_threads(2)
    clock, lines = Clock(), []
    load = FakeLoad(clock)
    load.others = 1.0

    def idle_wait(seconds: float) -> None:  # this process idle while it watches
        load.run(seconds, 0)

    g = ThreadGovernor(torch.device("cpu"), log=lines.append, env={}, clock=clock, busy=lambda: load.busy,
                       own=lambda: load.own, probe_s=0.5, sleep=idle_wait, max_threads=2, cpus=2)
    assert torch.get_num_threads() == 1 and g.changes == [(2, 1, pytest.approx(1.0))]
    assert lines == ["CPU threads 2 -> 1 (other processes used 1.0 of 2 cores)"]
