"""A window's taste from item metadata only (main genres, era), and the metrics that score a description.

``description`` v2 asks the interpreter to say what the user likes without naming the window's items.
Its reference and its metrics come from the items' metadata, never from their titles:

* **main genres** of a window: every genre (``unknown`` left out) carried by at least
  :data:`GENRE_SHARE` (40%) of the window's items that have a genre; when none reaches that share, the
  genres with the highest count (all of them when tied). Listed by share, then by name.
* **era**: the decade of the window's median release year (the upper median of the items that have a
  year, as ``sorted(years)[n // 2]``), e.g. 1990 for "the 1990s"; none when no item has a year.

The metrics parse the answer, whatever its wording:

* the genres it names (:func:`named_genres`): every genre of the catalogue, matched on whole words
  after normalising case, punctuation and hyphens, with the synonyms and plurals of
  :mod:`recbench.metrics.genres` ("sci-fi", "Sci-Fi", "science fiction"; "comedies", "thrillers");
* the decades it names (:func:`named_decades`): "1990s", "1990's", "'90s", "90s", "mid-90s",
  "nineties" (a bare year such as a title's "(1995)" names no decade).

``genre_precision`` = |named ∩ main| / |named| (0 when none is named), ``genre_recall`` =
|named ∩ main| / |main|, ``genre_f1`` their harmonic mean (0 when either is 0); ``era_accuracy`` =
1 / |decades named| when the window's decade is among them, else 0 (naming every decade earns little).
Template words ("films from the") name no genre and no decade: they score 0.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from recbench.data.base import Item
from recbench.metrics.base import Metric, MetricContext, Sample
from recbench.metrics.genres import genre_hits

GENRE_SHARE = 0.4  # a main genre is carried by at least this share of the window's items
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Taste:
    """A window's taste: each genre's share of its items, its main genres, its decade."""

    shares: dict[str, float]
    main_genres: tuple[str, ...]
    decade: int | None

    def genres_text(self) -> str:
        """ "Drama", "Drama and Comedy", "Drama, Comedy and Romance"; "all kinds of" when none."""
        names = list(self.main_genres)
        if not names:
            return "all kinds of"
        return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"

    def era_text(self) -> str:
        """ "the 1990s"; "all eras" when no item has a year."""
        return f"the {self.decade}s" if self.decade is not None else "all eras"


def window_taste(items: Sequence[Item]) -> Taste:
    """The taste of a window of catalogue items (see the module doc for the exact rules)."""
    with_genre = [[g for g in item.genres if g != UNKNOWN] for item in items]
    with_genre = [gs for gs in with_genre if gs]
    counts = Counter(g for gs in with_genre for g in dict.fromkeys(gs))
    shares = {g: c / len(with_genre) for g, c in counts.items()}
    main = [g for g, s in shares.items() if s >= GENRE_SHARE - 1e-12]
    if not main and counts:
        top = max(counts.values())
        main = [g for g, c in counts.items() if c == top]
    main.sort(key=lambda g: (-shares[g], g))
    years = sorted(item.year for item in items if item.year)
    decade = years[len(years) // 2] // 10 * 10 if years else None
    return Taste(shares, tuple(main), decade)


def taste_fields(item_ids: Sequence[int], data) -> dict[str, str]:
    """The task template fields a taste fills: ``main_genres`` and ``era`` (``data``: a SequenceData)."""
    taste = window_taste([data.items[i - 1] for i in item_ids])
    return {"main_genres": taste.genres_text(), "era": taste.era_text()}


# --- parsing an answer ------------------------------------------------------------------------------

_WORD_DECADES = {
    "twenties": 1920, "thirties": 1930, "forties": 1940, "fifties": 1950, "sixties": 1960,
    "seventies": 1970, "eighties": 1980, "nineties": 1990, "noughties": 2000, "aughts": 2000,
}  # fmt: skip
_FULL = re.compile(r"(?<![\d])(1[0-9]|20)(\d)0\s?['’]?s\b", re.IGNORECASE)  # 1990s, 1990's, 2000s
_SHORT = re.compile(r"(?<![\w'’‘])['’‘]?(\d)0\s?['’]?s\b", re.IGNORECASE)  # '90s, 90s, 90's, mid-90s
_WORDS = re.compile(r"\b(" + "|".join(_WORD_DECADES) + r")\b", re.IGNORECASE)


def named_decades(text: str) -> set[int]:
    """The decades ``text`` names ("1990s", "'90s", "90's", "nineties" -> 1990); a bare year names none.

    A two-digit decade is read in the 20th century ("'20s" -> 1920), except "00s" (2000).
    """
    found = {int(m.group(1) + m.group(2) + "0") for m in _FULL.finditer(text)}
    for m in _SHORT.finditer(text):
        digit = int(m.group(1))
        found.add(2000 if digit == 0 else 1900 + 10 * digit)
    found |= {_WORD_DECADES[m.group(1).lower()] for m in _WORDS.finditer(text)}
    return found


def catalog_genres(catalog: Sequence[Item]) -> list[str]:
    """Every genre of the catalogue (``unknown`` left out), sorted."""
    return sorted({g for item in catalog for g in item.genres if g != UNKNOWN})


def named_genres(text: str, genres: Sequence[str]) -> set[str]:
    """The genres among ``genres`` that ``text`` names (whole words, synonyms and plurals)."""
    return {g for g, hit in zip(genres, genre_hits(text, list(genres)), strict=True) if hit}


# --- metrics ----------------------------------------------------------------------------------------


def genre_scores(named: set[str], main: set[str]) -> tuple[float, float, float]:
    """(precision, recall, F1) of the named genres against the main genres."""
    right = len(named & main)
    precision = right / len(named) if named else 0.0
    recall = right / len(main) if main else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else 0.0
    return precision, recall, f1


class _GenreMetric(Metric):
    needs = ("window_genres",)
    part = 0  # index into genre_scores

    def per_sample(self, samples: list[Sample], ctx: MetricContext) -> list[float]:
        genres = catalog_genres(ctx.catalog)
        out = []
        for s in samples:
            self.require(s, "target_items")
            main = set(window_taste([ctx.catalog[i - 1] for i in s.target_items]).main_genres)
            out.append(genre_scores(named_genres(s.output, genres), main)[self.part])
        return out


class GenrePrecision(_GenreMetric):
    """Share of the genres the answer names that are main genres of the window (0 when it names none)."""

    name = "genre_precision"
    part = 0


class GenreRecall(_GenreMetric):
    """Share of the window's main genres that the answer names."""

    name = "genre_recall"
    part = 1


class GenreF1(_GenreMetric):
    """Harmonic mean of genre_precision and genre_recall (0 when either is 0)."""

    name = "genre_f1"
    part = 2


class EraAccuracy(Metric):
    """1 / (decades named) when the window's median decade is among them, else 0."""

    name = "era_accuracy"
    needs = ("window_era",)

    def per_sample(self, samples: list[Sample], ctx: MetricContext) -> list[float]:
        out = []
        for s in samples:
            self.require(s, "target_items")
            decade = window_taste([ctx.catalog[i - 1] for i in s.target_items]).decade
            named = named_decades(s.output)
            out.append(1.0 / len(named) if decade is not None and decade in named else 0.0)
        return out
