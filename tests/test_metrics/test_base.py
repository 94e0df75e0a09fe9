"""Data contracts, the bootstrap, score_samples and the registry entries."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recbench import registry
from recbench.errors import ConfigError, UnknownNameError
from recbench.metrics.base import Metric, MetricContext, Sample, Score, bootstrap_ci, score_samples

from .conftest import FakeEmbedder, sample

METRIC_NAMES = [
    "recovered_items",
    "item_recall",
    "item_precision",
    "hit_at_1",
    "top1_agreement",
    "genre_hit",
    "retrieval_hit_at_5",
    "retrieval_hit_at_10",
    "rouge1",
    "rouge2",
    "rougeL",
    "embedding_similarity",
]


@pytest.mark.parametrize("name", METRIC_NAMES)
def test_every_metric_name_resolves_to_a_metric_class_with_that_name_and_a_description(name):
    cls = registry.metrics.get(name)
    assert issubclass(cls, Metric)
    assert cls.name == name
    assert cls.higher_is_better is True
    assert registry.metrics.entry(name).description()


def test_registry_lists_every_metric():
    assert set(METRIC_NAMES) <= set(registry.metrics.names())


def test_sample_round_trips_through_json():
    s = Sample(
        "u1-w3", "next_item", "prompt", "Toy Story (1995)", "Toy Story", [1], 5, ["Comedy"], {"rouge1": 0.5}
    )
    back = Sample.from_dict(json.loads(json.dumps(s.to_dict())))
    assert back == s
    assert Sample.from_dict(sample("x", [2]).to_dict()) == sample("x", [2])


def test_sample_from_dict_names_a_missing_field():
    data = sample("x", [1]).to_dict()
    del data["output"]
    with pytest.raises(ConfigError, match="missing field.*output"):
        Sample.from_dict(data)


def test_sample_from_dict_names_an_unknown_field():
    data = {**sample("x", [1]).to_dict(), "outptu": "typo"}
    with pytest.raises(ConfigError, match="unknown field.*outptu"):
        Sample.from_dict(data)


def test_sample_from_dict_rejects_non_integer_item_ids():
    with pytest.raises(ConfigError, match="malformed"):
        Sample.from_dict({**sample("x", [1]).to_dict(), "target_items": ["one"]})


def test_bootstrap_is_deterministic_for_a_seed():
    values = [float(v) for v in np.random.default_rng(1).random(50)]
    assert bootstrap_ci(values, seed=3) == bootstrap_ci(values, seed=3)
    assert bootstrap_ci(values, seed=3) != bootstrap_ci(values, seed=4)


def test_bootstrap_brackets_the_mean_and_reports_n():
    values = [0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0]
    score = bootstrap_ci(values, seed=0)
    assert score.value == pytest.approx(0.7)
    assert score.low < 0.7 < score.high
    assert 0.0 <= score.low and score.high <= 1.0
    assert score.n == 10


def test_bootstrap_of_constant_values_has_zero_width():
    assert bootstrap_ci([0.25] * 7) == Score(0.25, 0.25, 0.25, 7)


def test_bootstrap_does_not_depend_on_memory_chunking():
    # 5000 values are resampled in chunks of 400 rows; the answer must equal a one-shot computation.
    values = np.random.default_rng(2).random(5000)
    rng = np.random.Generator(np.random.PCG64(9))
    means = values[rng.integers(0, 5000, size=(1000, 5000))].mean(axis=1)
    expected = np.percentile(means, [2.5, 97.5])
    score = bootstrap_ci(list(values), seed=9)
    assert (score.low, score.high) == pytest.approx(tuple(expected))


@pytest.mark.parametrize(("values", "message"), [([], "zero samples"), ([0.5, float("nan")], "non-finite")])
def test_bootstrap_refuses_empty_or_non_finite_values(values, message):
    with pytest.raises(ConfigError, match=message):
        bootstrap_ci(values)


def test_score_to_dict():
    assert Score(0.5, 0.25, 0.75, 4).to_dict() == {"value": 0.5, "low": 0.25, "high": 0.75, "n": 4}


def test_score_samples_fills_sample_scores_and_returns_summaries(ctx):
    samples = [
        sample("Toy Story (1995)", [1], target="Toy Story (1995)"),
        sample("Heat (1995)", [1], target="Toy Story (1995)"),
    ]
    result = score_samples(samples, ["hit_at_1", "rouge1", "hit_at_1"], ctx, seed=0)
    assert list(result) == ["hit_at_1", "rouge1"]
    assert [s.scores["hit_at_1"] for s in samples] == [1.0, 0.0]
    assert samples[0].scores["rouge1"] == 1.0
    assert result["hit_at_1"].value == 0.5 and result["hit_at_1"].n == 2


def test_score_samples_checks_every_name_before_scoring(ctx):
    samples = [sample("Toy Story", [1])]
    with pytest.raises(UnknownNameError, match="rougel.*did you mean 'rougeL'"):
        score_samples(samples, ["hit_at_1", "rougel"], ctx)
    assert samples[0].scores == {}


def test_context_builds_matcher_and_catalogue_embeddings_once(catalog):
    fake = FakeEmbedder({}, default=[1.0, 0.0])
    ctx = MetricContext(catalog, embedder=fake)
    assert ctx.matcher is ctx.matcher
    assert ctx.catalog_embeddings is ctx.catalog_embeddings
    assert ctx.catalog_embeddings.shape == (len(catalog), 2)
    assert fake.calls == 1
    assert ctx.title(2) == "Usual Suspects, The (1995)"
