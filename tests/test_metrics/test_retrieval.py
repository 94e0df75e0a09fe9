"""Retrieval hit@k: ranking by cosine, deterministic ties, repeated titles, and real MiniLM."""

from __future__ import annotations

import math

import pytest

from recbench.errors import ConfigError
from recbench.metrics.base import MetricContext
from recbench.metrics.retrieval import RetrievalHitAt5, RetrievalHitAt10, target_ranks
from recbench.metrics.titles import natural_title

from .conftest import FakeEmbedder, sample


def angled_ctx(catalog) -> MetricContext:
    """Item i sits at angle 0.1 * i; the output "probe" at angle 0, so items rank by id."""
    vectors = {
        natural_title(it.title): [math.cos(0.1 * i), math.sin(0.1 * i)] for i, it in enumerate(catalog, 1)
    }
    # Items 9 and 10 share a title, hence a vector: the one at angle 0.9 is the later dict entry (item 10).
    return MetricContext(catalog, embedder=FakeEmbedder(vectors, default=[1.0, 0.0]))


def test_rank_orders_items_by_cosine_to_the_output(catalog):
    ctx = angled_ctx(catalog)
    assert target_ranks([sample("probe", [1]), sample("probe", [5]), sample("probe", [6])], ctx) == [0, 4, 5]


def test_hit_at_k_boundaries(catalog):
    ctx = angled_ctx(catalog)
    # Item 10 shares item 9's title, so item 9 is not counted ahead of it: rank 8, not 9.
    samples = [sample("probe", [t]) for t in (5, 6, 10, 11)]
    assert target_ranks(samples, ctx) == [4, 5, 8, 10]
    assert RetrievalHitAt5().per_sample(samples, ctx) == [1.0, 0.0, 0.0, 0.0]
    assert RetrievalHitAt10().per_sample(samples, ctx) == [1.0, 1.0, 1.0, 0.0]


def test_ties_go_to_the_smaller_item_id_and_repeated_titles_do_not_count_ahead(catalog):
    ctx = MetricContext(catalog, embedder=FakeEmbedder({}, default=[1.0, 0.0]))  # every item ties
    ranks = target_ranks([sample("x", [1]), sample("x", [4]), sample("x", [9]), sample("x", [10])], ctx)
    assert ranks == [0, 3, 8, 8]


def test_catalogue_is_embedded_once_per_context(catalog):
    ctx = angled_ctx(catalog)
    target_ranks([sample("probe", [1])], ctx)
    target_ranks([sample("probe", [2])], ctx)
    assert ctx.embedder.calls == 3  # catalogue once, outputs once per call


@pytest.mark.parametrize("targets", [[], [0], [99]])
def test_missing_or_out_of_range_target_is_a_config_error(catalog, targets):
    ctx = angled_ctx(catalog)
    with pytest.raises(ConfigError, match="retrieval"):
        RetrievalHitAt5().per_sample([sample("probe", targets)], ctx)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("output", "target"),
    [("The Usual Suspects (1995)", 2), ("Star Wars (1977)", 6), ("Les Misérables (1995)", 4)],
)
def test_exact_title_is_retrieved_at_rank_1_with_real_minilm(real_ctx, output, target):
    assert target_ranks([sample(output, [target])], real_ctx) == [0]
    assert RetrievalHitAt5().per_sample([sample(output, [target])], real_ctx) == [1.0]
