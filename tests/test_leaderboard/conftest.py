"""Synthetic submissions on the tiny dataset: real samples, scores computed as `recbench run` does."""

from __future__ import annotations

from pathlib import Path

import pytest

from recbench.data import load_dataset
from recbench.leaderboard.synthetic import make_run
from recbench.metrics.base import MetricContext
from tests.conftest import TINY

LABELS = {  # run id -> (label, kind, quality)
    "run-alpha": ("alpha + linear", "llm", 0.5),
    "run-zeta": ("zeta + mlp", "llm", 0.9),
    "run-pop": ("popular", "baseline", 0.3),
}


@pytest.fixture(scope="session")
def tiny():
    """The tiny dataset (absolute folder, so context_for can find it from any cwd) and its context."""
    data = load_dataset("csv", TINY.resolve())
    return data, MetricContext(data.items, seed=0)


@pytest.fixture
def make(tiny):
    """``make(folder, run_id, label=..., kind=..., quality=..., tasks=...)`` writes one valid run."""
    data, ctx = tiny

    def _make(folder: Path, run_id: str, label: str = "alpha + linear", **kwargs) -> Path:
        return make_run(folder, data, TINY.resolve(), run_id, label, ctx=ctx, **kwargs)

    return _make


@pytest.fixture
def submissions(tmp_path, make) -> Path:
    """A submissions tree of three runs (two LLM runs, one baseline) in <root>/<slug>/<run-id>."""
    from recbench.names import slugify

    root = tmp_path / "submissions"
    for run_id, (label, kind, quality) in LABELS.items():
        make(root / slugify(label) / run_id, run_id, label=label, kind=kind, quality=quality, n=8)
    return root
