"""Golden values of the item and genre metrics on hand-made outputs."""

from __future__ import annotations

import pytest

from recbench.errors import ConfigError
from recbench.metrics.genres import genre_hits, names_genre
from recbench.metrics.items import GenreHit, HitAt1, ItemPrecision, ItemRecall, RecoveredItems, Top1Agreement

from .conftest import sample


@pytest.fixture()
def samples():
    return [
        # A numbered list: three targets named (Heat on a line of its own), plus one non-target.
        sample(
            "1. The Usual Suspects (1995)\n2. Se7en (1995)\n3. Toy Story (1995)\n4. Heat",
            [2, 3, 6, 7],
            rec_top1=1,
        ),
        # The repeated catalogue title: names item 10 as well as item 9.
        sample("Chasing Amy (1997)", [10], rec_top1=9),
        # "ran" is a verb here; Star Wars is named, first in the text but not the first target.
        sample("He ran away from Star Wars fans.", [8, 8, 6], rec_top1=6),
        # Nothing named.
        sample("No idea, sorry.", [5], rec_top1=1),
        # A window with one item at two positions: each position counts.
        sample("Star Wars (1977)", [6, 6, 2], rec_top1=2),
    ]


def test_recovered_items_counts_named_target_positions(samples, ctx):
    assert RecoveredItems().per_sample(samples, ctx) == [3.0, 1.0, 1.0, 0.0, 2.0]


def test_item_recall_divides_by_window_length(samples, ctx):
    assert ItemRecall().per_sample(samples, ctx) == [
        0.75,
        1.0,
        pytest.approx(1 / 3),
        0.0,
        pytest.approx(2 / 3),
    ]


def test_item_precision_is_share_of_distinct_named_titles_that_are_targets(samples, ctx):
    assert ItemPrecision().per_sample(samples, ctx) == [0.75, 1.0, 1.0, 0.0, 1.0]


def test_item_precision_counts_a_repeated_mention_once(ctx):
    out = ItemPrecision().per_sample([sample("Toy Story, Toy Story, Heat (1995)", [1])], ctx)
    assert out == [0.5]


def test_hit_at_1_checks_first_named_title_against_first_target(samples, ctx):
    assert HitAt1().per_sample(samples, ctx) == [1.0, 1.0, 0.0, 0.0, 1.0]


def test_hit_at_1_uses_the_earliest_mention_not_any_mention(ctx):
    out = HitAt1().per_sample([sample("Toy Story (1995), or maybe Star Wars (1977)", [6])], ctx)
    assert out == [0.0]


def test_top1_agreement_checks_first_named_title_against_recommender_top1(samples, ctx):
    assert Top1Agreement().per_sample(samples, ctx) == [0.0, 1.0, 1.0, 0.0, 0.0]


def test_top1_agreement_without_rec_top1_is_a_config_error_naming_the_metric(ctx):
    with pytest.raises(ConfigError, match="top1_agreement.*'s'.*rec_top1"):
        Top1Agreement().per_sample([sample("Toy Story", [1])], ctx)


@pytest.mark.parametrize("metric", [ItemRecall(), HitAt1()])
def test_metrics_that_divide_by_or_index_targets_refuse_empty_targets(metric, ctx):
    with pytest.raises(ConfigError, match=metric.name):
        metric.per_sample([sample("Toy Story", [])], ctx)


def test_recovered_items_and_precision_accept_empty_targets(ctx):
    samples = [sample("Toy Story", [])]
    assert RecoveredItems().per_sample(samples, ctx) == [0.0]
    assert ItemPrecision().per_sample(samples, ctx) == [0.0]


def test_genre_hit_is_share_of_target_genres_named(ctx):
    samples = [
        sample(
            "A science fiction adventure for kids, in the style of Star Wars.",
            [],
            target_genres=["Sci-Fi", "Children's", "Film-Noir", "War"],
        ),
        sample("A COMEDY-drama.", [], target_genres=["Comedy", "Drama"]),
        sample("Pure sci-fi and film noir", [], target_genres=["Sci-Fi", "Film-Noir"]),
        sample("Horrible, just horrible.", [], target_genres=["Horror"]),
        sample("A family film about war.", [], target_genres=["Children's", "War", "Western"]),
    ]
    assert GenreHit().per_sample(samples, ctx) == [0.5, 1.0, 1.0, 0.0, pytest.approx(2 / 3)]


def test_genre_hit_without_target_genres_is_a_config_error(ctx):
    with pytest.raises(ConfigError, match="genre_hit"):
        GenreHit().per_sample([sample("drama", [1])], ctx)


@pytest.mark.parametrize(
    ("text", "genre", "named"),
    [
        ("sci fi", "Sci-Fi", True),
        ("SCIFI", "Sci-Fi", True),
        ("Science-Fiction", "sci-fi", True),
        ("science", "Sci-Fi", False),
        ("children", "Children's", True),
        ("for the whole family", "Children's", True),
        ("kidnapping", "Children's", False),
        ("dramatic", "Drama", True),
        ("melodrama", "Drama", False),
        ("Star Wars", "War", False),
        ("noir", "Film-Noir", True),
        ("a Bollywood musical", "Bollywood", True),
    ],
)
def test_genre_synonyms_match_whole_words_only(text, genre, named):
    assert names_genre(text, genre) is named


def test_genre_hits_keeps_order_of_genres():
    assert genre_hits("a western with some romance", ["Romance", "Horror", "Western"]) == [True, False, True]
