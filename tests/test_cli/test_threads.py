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


def test_set_threads_uses_the_given_count_or_the_automatic_one(monkeypatch):
    before = torch.get_num_threads()
    try:
        assert set_threads(1) == 1
        monkeypatch.setattr("recbench.cli.common.auto_threads", lambda: 1)
        assert set_threads(None) == 1
    finally:
        torch.set_num_threads(before)
