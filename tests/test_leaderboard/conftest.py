"""Synthetic submissions on the tiny dataset: the real instances, scores computed as `validate` does."""

from __future__ import annotations

from pathlib import Path

import pytest

from recbench.data import load_dataset
from recbench.leaderboard.synthetic import make_run
from recbench.leaderboard.validate import validate_run
from tests.conftest import TINY

LABELS = {  # run id -> (label, kind, quality)
    "run-alpha": ("alpha + linear", "llm", 0.5),
    "run-zeta": ("zeta + mlp", "llm", 0.9),
    "run-pop": ("popular", "baseline", 0.3),
}
DATA_DIRS = (TINY.resolve(),)  # the tiny dataset is known to validate only when named


@pytest.fixture(scope="session")
def tiny():
    """The tiny dataset, read from its absolute folder."""
    return load_dataset("csv", TINY.resolve())


@pytest.fixture
def make(tiny):
    """``make(folder, run_id, label=..., kind=..., quality=..., tasks=..., n=...)`` writes one valid run."""

    def _make(folder: Path, run_id: str, label: str = "alpha + linear", **kwargs) -> Path:
        return make_run(folder, tiny, TINY.resolve(), run_id, label, **kwargs)

    return _make


def check(run: Path, **kwargs) -> list[str]:
    """``validate_run`` with the tiny dataset allowed (as `--data-dir tests/fixtures/tiny` would)."""
    return validate_run(run, data_dirs=DATA_DIRS, **kwargs)


@pytest.fixture
def submissions(tmp_path, make) -> Path:
    """A submissions tree of three runs (two LLM runs, one baseline) in <root>/<slug>/<run-id>."""
    from recbench.names import slugify

    root = tmp_path / "submissions"
    for run_id, (label, kind, quality) in LABELS.items():
        make(root / slugify(label) / run_id, run_id, label=label, kind=kind, quality=quality, n=8)
    return root
