"""Shared fixtures: an isolated cache per test session, the tiny dataset, no progress bars."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
TINY = FIXTURES / "tiny"

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Every test session writes its cache to a fresh temp folder (the real-asset tests share it)."""
    import torch

    from recbench import progress

    # Tiny models gain nothing from threads, and oversubscribed OpenMP threads spin on a busy
    # 2-core machine (a 10x slowdown was seen): one thread keeps the suite fast and steady.
    torch.set_num_threads(1)

    old = os.environ.get("RECBENCH_CACHE")
    os.environ["RECBENCH_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    progress.set_enabled(False)
    yield
    if old is None:
        os.environ.pop("RECBENCH_CACHE", None)
    else:
        os.environ["RECBENCH_CACHE"] = old


@pytest.fixture(autouse=True)
def _one_thread():
    """Back to one thread after every test: a CLI command run in-process without --threads takes the
    idle cores (2 here), and the next test's numbers would be computed with other reductions than the
    subprocesses it compares them with (a killed-and-resumed LoRA training differed that way)."""
    import torch

    yield
    torch.set_num_threads(1)


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """A cache folder of this test's own."""
    path = tmp_path / "cache"
    monkeypatch.setenv("RECBENCH_CACHE", str(path))
    return path


@pytest.fixture
def tiny_data():
    from recbench.data import load_dataset

    return load_dataset("csv", TINY)
