"""--threads unset: the cores the machine has free now, at least one."""

from __future__ import annotations

import torch

from recbench.cli.common import auto_threads, set_threads


def test_auto_threads_leaves_busy_cores_alone():
    assert auto_threads(cores=2, load=0.1) == 2
    assert auto_threads(cores=2, load=0.6) == 1
    assert auto_threads(cores=2, load=9.1) == 1  # never below one
    assert auto_threads(cores=16, load=3.4) == 13
    assert auto_threads(cores=4, load=0.0) == 4


def test_busy_cores_are_measured_now_not_averaged(monkeypatch):
    from recbench.cli import common

    samples = iter([(100, 1000), (100 + 75, 1000 + 100)])  # 75% of all CPU time busy in between
    monkeypatch.setattr(common, "_cpu_times", lambda: next(samples))
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    monkeypatch.setattr("os.getloadavg", lambda: (9.0, 9.0, 9.0))  # a stale average is not used
    assert common.busy_cores(seconds=0) == 3.0
    monkeypatch.setattr(common, "_cpu_times", lambda: None)  # no /proc/stat: the load average
    assert common.busy_cores(seconds=0) == 9.0


def test_cpu_times_read_this_machine():
    from recbench.cli.common import _cpu_times

    times = _cpu_times()
    assert times is None or 0 <= times[0] <= times[1]


def test_set_threads_uses_the_given_count_or_the_automatic_one(monkeypatch):
    before = torch.get_num_threads()
    try:
        assert set_threads(1) == 1
        monkeypatch.setattr("recbench.cli.common.auto_threads", lambda: 1)
        assert set_threads(None) == 1
    finally:
        torch.set_num_threads(before)
