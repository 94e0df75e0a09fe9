"""Round-trip faithfulness and the recommender-belief metrics: golden values on hand-made samples."""

from __future__ import annotations

import math

import pytest

from recbench.errors import ConfigError
from recbench.metrics.base import MetricContext, RoundTrip, Sample
from recbench.metrics.items import Top10Agreement, TrueNextHitAt1
from recbench.metrics.roundtrip import (
    RoundTripOverlapAt10,
    RoundTripTop1RR,
    answer_items,
    retrieved_items,
    title_items,
)
from recbench.metrics.titles import natural_title

from .conftest import FakeEmbedder, sample

TOP10 = [1, 2, 3, 4, 5, 6, 7, 8, 11, 12]


def trip(items, top10, rank) -> RoundTrip:
    return RoundTrip(list(items), list(top10), rank)


def test_overlap_and_reciprocal_rank_golden_values(ctx):
    samples = [
        # the answer leads to exactly the window's top-10 (another order): overlap 1, top-1 at rank 2
        sample("", [1], rec_top10=TOP10, roundtrip=trip([3], [2, 1, 3, 4, 5, 6, 7, 8, 11, 12], 2)),
        # the same ten in the same order: both 1
        sample("", [1], rec_top10=TOP10, roundtrip=trip([3], TOP10, 1)),
        # three of ten shared; the window's top-1 ranks 40th
        sample("", [1], rec_top10=TOP10, roundtrip=trip([9], [2, 3, 4, 13, 14, 15, 16, 17, 18, 9], 40)),
        # an empty answer: nothing fed back, both 0
        sample("", [1], rec_top10=TOP10, roundtrip=trip([], [], None)),
    ]
    assert RoundTripOverlapAt10().per_sample(samples, ctx) == [1.0, 1.0, pytest.approx(0.3), 0.0]
    assert RoundTripTop1RR().per_sample(samples, ctx) == [0.5, 1.0, pytest.approx(1 / 40), 0.0]


def test_overlap_divides_by_the_size_of_the_windows_top_list(ctx):
    # a catalogue with fewer than 10 candidates outside the window gives shorter lists
    s = sample("", [1], rec_top10=[4, 5, 6, 7], roundtrip=trip([1], [5, 4, 9, 10], 2))
    assert RoundTripOverlapAt10().per_sample([s], ctx) == [0.5]


@pytest.mark.parametrize("metric", [RoundTripOverlapAt10, RoundTripTop1RR])
@pytest.mark.parametrize("missing", ["rec_top10", "roundtrip"])
def test_a_sample_without_its_inputs_is_a_config_error_naming_the_metric(ctx, metric, missing):
    fields = {"rec_top10": TOP10, "roundtrip": trip([], [], None)}
    fields.pop(missing)
    with pytest.raises(ConfigError, match=rf"{metric.name}.*'s'.*{missing}"):
        metric().per_sample([sample("", [1], **fields)], ctx)


def test_the_metrics_declare_the_inputs_they_read():
    assert RoundTripOverlapAt10.needs == RoundTripTop1RR.needs == ("rec_top10", "roundtrip")
    assert Top10Agreement.needs == ("rec_top10",)
    assert TrueNextHitAt1.needs == ("next_item",)


def test_top10_agreement_and_true_next_hit(ctx):
    samples = [
        sample("Heat (1995), then Ran", [7], rec_top10=[9, 7], next_item=7),  # first named: Heat
        sample("Ran (1985)", [8], rec_top10=[9, 7], next_item=7),  # named, not in the top-10
        sample("Chasing Amy (1997)", [10], rec_top10=[10, 1], next_item=9),  # a repeated title: both ids
        sample("no idea", [1], rec_top10=[1], next_item=1),  # names nothing
    ]
    assert Top10Agreement().per_sample(samples, ctx) == [1.0, 0.0, 1.0, 0.0]
    assert TrueNextHitAt1().per_sample(samples, ctx) == [1.0, 0.0, 1.0, 0.0]


def test_title_items_in_reading_order_once_each_a_repeated_title_as_its_smallest_id(ctx):
    text = "Heat (1995), Toy Story, Chasing Amy (1997) and Heat again; nothing else."
    assert title_items(text, ctx) == [7, 1, 9]
    assert title_items("", ctx) == []
    assert answer_items([text, ""], "titles", ctx, k=3) == [[7, 1, 9], []]


def angled_ctx(catalog) -> MetricContext:
    """Item i sits at angle 0.1 * i; the text "probe" at angle 0.35 (between items 3 and 4)."""
    vectors = {
        natural_title(it.title): [math.cos(0.1 * i), math.sin(0.1 * i)] for i, it in enumerate(catalog, 1)
    }
    vectors["probe"] = [math.cos(0.35), math.sin(0.35)]
    return MetricContext(catalog, embedder=FakeEmbedder(vectors, default=[1.0, 0.0]))


def test_retrieval_maps_free_text_to_the_nearest_titles_best_last(catalog):
    ctx = angled_ctx(catalog)
    # nearest first: 3 and 4 tie at 0.05 (the smaller id first), then 2, then 5; the sequence ends with the best
    assert retrieved_items(["probe"], ctx, k=4) == [[5, 2, 4, 3]]
    assert answer_items(["probe", "  "], "retrieval", ctx, k=2) == [[4, 3], []]


def test_samples_round_trip_through_json_and_omit_undeclared_inputs():
    plain = Sample("i", "t", "p", "x", "o", [1])
    assert set(plain.to_dict()) == {
        "id", "task", "prompt", "target", "output", "target_items", "rec_top1", "target_genres", "scores",
    }  # fmt: skip
    full = Sample("i", "t", "p", "x", "o", [1], rec_top1=2, rec_top10=[2, 3], next_item=4,
                  roundtrip=trip([5], [3, 2], 2))  # fmt: skip
    assert Sample.from_dict(full.to_dict()) == full
    assert full.to_dict()["roundtrip"] == {"items": [5], "top10": [3, 2], "top1_rank": 2}
    with pytest.raises(ConfigError, match="malformed field"):
        Sample.from_dict({**full.to_dict(), "roundtrip": {"items": [5]}})
