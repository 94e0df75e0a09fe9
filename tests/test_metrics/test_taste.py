"""description v2: a window's taste from metadata, answers parsed for genres and decades (golden values)."""

from __future__ import annotations

import pytest

from recbench import registry
from recbench.data.base import Item
from recbench.metrics.base import MetricContext, Sample
from recbench.metrics.taste import (
    Taste,
    catalog_genres,
    genre_scores,
    named_decades,
    named_genres,
    window_taste,
)

# A hand-made catalogue: the window is items 1-5; 6 and 7 give the catalogue more genres.
CATALOG = [
    Item("1", "Harbour Lights (1994)", ("Drama",), 1994),
    Item("2", "Two Rivers (1995)", ("Drama", "Romance"), 1995),
    Item("3", "Paper Moon Walk (1989)", ("Comedy", "Romance"), 1989),
    Item("4", "Glass Engine (1996)", ("Drama",), 1996),
    Item("5", "Far Signal (1975)", ("Sci-Fi",), 1975),
    Item("6", "Night Run (1991)", ("Action", "Thriller"), 1991),
    Item("7", "Cellar (1980)", ("Horror",), 1980),
]
WINDOW = [1, 2, 3, 4, 5]
METRICS = ("genre_precision", "genre_recall", "genre_f1", "era_accuracy")


def scores(output: str, window=WINDOW) -> tuple[float, ...]:
    sample = Sample("s", "description", "p", "t", output, list(window))
    ctx = MetricContext(CATALOG)
    return tuple(round(registry.metrics.get(m)().per_sample([sample], ctx)[0], 4) for m in METRICS)


def test_window_taste_main_genres_and_median_decade():
    taste = window_taste([CATALOG[i - 1] for i in WINDOW])
    # Drama 3/5, Romance 2/5 reach 40%; Comedy and Sci-Fi 1/5 do not
    assert taste.main_genres == ("Drama", "Romance")
    assert taste.shares == {"Drama": 0.6, "Romance": 0.4, "Comedy": 0.2, "Sci-Fi": 0.2}
    assert taste.decade == 1990  # years 1975, 1989, 1994, 1995, 1996: median 1994
    assert (taste.genres_text(), taste.era_text()) == ("Drama and Romance", "the 1990s")


def test_window_taste_fallback_ties_unknown_and_no_year():
    # no genre reaches 40% of 3 items with genres: the most common (all tied at 1) are main
    items = [CATALOG[4], CATALOG[5], CATALOG[6], Item("8", "Lost (1920)", ("unknown",), None)]
    taste = window_taste(items)
    assert taste.main_genres == ("Action", "Horror", "Sci-Fi", "Thriller")
    assert taste.decade == 1980  # years 1975, 1980, 1991 (the item without a year is left out)
    assert taste.genres_text() == "Action, Horror, Sci-Fi and Thriller"
    none = window_taste([Item("9", "Blank", (), None)])
    assert (none.main_genres, none.decade) == ((), None)
    assert (none.genres_text(), none.era_text()) == ("all kinds of", "all eras")


@pytest.mark.parametrize(
    ("text", "decades"),
    [
        ("the 1990s", {1990}),
        ("1990's movies", {1990}),
        ("'90s and 80s", {1980, 1990}),
        ("’70s", {1970}),
        ("mid-90s", {1990}),
        ("90's", {1990}),
        ("the NINETIES", {1990}),
        ("fifties and sixties", {1950, 1960}),
        ("1950s-1960s", {1950, 1960}),
        ("2000s", {2000}),
        ("the 00s", {2000}),
        ("Heat (1995), Fargo (1996)", set()),  # a bare year (a title's) names no decade
        ("top 100 films", set()),
    ],
)
def test_named_decades(text, decades):
    assert named_decades(text) == decades


@pytest.mark.parametrize(
    ("text", "genres"),
    [
        ("sci-fi", {"Sci-Fi"}),
        ("SCI-FI and Sci Fi", {"Sci-Fi"}),
        ("science fiction", {"Sci-Fi"}),
        ("romantic comedies", {"Romance", "Comedy"}),
        ("Dramas and thrillers", {"Drama", "Thriller"}),
        ("Star Wars", set()),
        ("films from the", set()),
    ],
)
def test_named_genres(text, genres):
    assert named_genres(text, catalog_genres(CATALOG)) == genres


def test_genre_scores():
    assert genre_scores({"Drama"}, {"Drama", "Romance"}) == (1.0, 0.5, pytest.approx(2 / 3))
    assert genre_scores(set(), {"Drama"}) == (0.0, 0.0, 0.0)
    assert genre_scores({"Horror"}, {"Drama"}) == (0.0, 0.0, 0.0)


def test_golden_answers():
    """A correct answer scores 1; template words 0; the titles 0; naming everything little."""
    assert scores("Romantic dramas from the nineties.") == (1.0, 1.0, 1.0, 1.0)
    assert scores("Drama and Romance films from the 1990s.") == (1.0, 1.0, 1.0, 1.0)
    assert scores("films from the.") == (0.0, 0.0, 0.0, 0.0)  # template words alone
    titles = ", ".join(CATALOG[i - 1].title for i in WINDOW)  # what an item-recovery probe names
    assert scores(titles) == (0.0, 0.0, 0.0, 0.0)
    everything = (
        ", ".join(catalog_genres(CATALOG)) + " from the " + ", ".join(f"{d}s" for d in range(1920, 2000, 10))
    )
    # 7 genres named, 2 right: precision 2/7, recall 1, F1 4/9; 8 decades named: 1/8
    assert scores(everything) == (0.2857, 1.0, 0.4444, 0.125)
    # one right genre of two and the right era (what a majority-style answer gives): precision 1, recall 1/2
    assert scores("Drama films from the 1990s.") == (1.0, 0.5, 0.6667, 1.0)
    assert scores("Drama films from the 1980s and 1990s.") == (1.0, 0.5, 0.6667, 0.5)
    assert scores("Comedy films from the 1970s.") == (0.0, 0.0, 0.0, 0.0)


def test_the_metrics_need_the_task_inputs(tmp_path):
    from recbench.errors import ConfigError
    from recbench.tasks import load_task, tasks_dir

    text = (tasks_dir() / "description.yaml").read_text()
    path = tmp_path / "odd.yaml"
    path.write_text(text.replace("window_era, ", ""))
    with pytest.raises(ConfigError, match="metric era_accuracy needs input"):
        load_task(str(path))


def test_taste_is_a_value():
    assert Taste({}, ("Drama",), 1990).genres_text() == "Drama"
