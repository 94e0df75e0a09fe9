"""Shared fixtures: tiny-data instances with real (tiny SASRec) latents, and one pipeline run per baseline."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.conftest import TINY

BASELINES = ("random", "popular", "majority", "knn_probe", "linear_probe", "text_history")
TASKS = ("seq_recovery", "residual_id", "description", "next_item")
WINDOW = 4
TINY_RUN = dict(dataset="csv", data_dir=str(TINY), rec_epochs=2, window=WINDOW, limit=6, steps=0)


def run_baseline(name: str, out_dir, **extra) -> dict:
    from recbench.run import evaluate

    return evaluate("sasrec", "tiny-random", interpreter=name, out_dir=out_dir, **{**TINY_RUN, **extra})


@dataclass
class TinyInstances:
    data: object
    train: list
    test: dict  # task -> instances


@pytest.fixture(scope="session")
def tiny_instances() -> TinyInstances:
    """Instances of the four tasks on the tiny fixture, split by user, latents from a 2-epoch SASRec."""
    from recbench.data import load_dataset, make_windows, split_windows_by_user
    from recbench.recommenders.train import train_recommender
    from recbench.run.latents import attach_latents
    from recbench.run.stages import beliefs
    from recbench.tasks import build_instances, load_task

    data = load_dataset("csv", TINY)
    splits = split_windows_by_user(make_windows(data, WINDOW), seed=0)
    trained = train_recommender(data, "sasrec", epochs=2, seed=0)
    model = trained.model
    specs = [load_task(t) for t in TASKS]
    # the recommender's own top-1 / top-10 (next_item's target), as the runner computes them
    given = {split: beliefs(specs, splits[split], trained, WINDOW) for split in ("train", "test")}
    train = [i for s in specs for i in build_instances(s, splits["train"], data, given["train"])]
    test = {s.name: build_instances(s, splits["test"], data, given["test"]) for s in specs}
    attach_latents(model, train + [i for insts in test.values() for i in insts], WINDOW)
    return TinyInstances(data, train, test)


@pytest.fixture(scope="session")
def baseline_runs(tmp_path_factory) -> dict:
    """``{name: (results, run folder)}``: every baseline through ``recbench.evaluate`` once."""
    out = tmp_path_factory.mktemp("baseline-runs")
    runs = {}
    for name in BASELINES:
        results = run_baseline(name, out)
        runs[name] = (results, out / results["run_id"])
    return runs


def context(data):
    from recbench.interpreters.base import InterpreterContext

    return InterpreterContext(data, 64, WINDOW, "cpu", 0)


def mean_metric(metric: str, instances, outputs, data) -> float:
    """A task metric's mean over (instance, output) pairs, scored by the registered metric."""
    from recbench import registry
    from recbench.metrics.base import MetricContext
    from recbench.run.stages import sample_of

    samples = [sample_of(i, o) for i, o in zip(instances, outputs, strict=True)]
    values = registry.metrics.get(metric)().per_sample(samples, MetricContext(data.items))
    return sum(values) / len(values)
