"""Whether a text names a genre: the ML-100K genre names plus a small synonym table.

Genres and text are compared as normalised token sequences on word boundaries (the tokeniser of
:mod:`recbench.metrics.titles`), so "Sci-Fi" matches "sci fi" and "SCI-FI", and "Film-Noir" matches
"film noir". The synonyms cover the usual ways a description names a genre; they are deliberately
few, so that a hit means the genre was named rather than hinted at. "wars" is left out of "War" so
that "Star Wars" does not name the genre.
"""

from __future__ import annotations

from recbench.metrics.titles import normalise_text, tokenize

# Normalised genre name -> phrases that name it (each normalised, matched as whole token sequences).
GENRE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "action": ("action",),
    "adventure": ("adventure", "adventures", "adventurous"),
    "animation": ("animation", "animated", "cartoon", "cartoons"),
    "childrens": ("children", "childrens", "child", "kids", "kid", "family"),
    "comedy": ("comedy", "comedies", "comedic"),
    "crime": ("crime", "crimes", "criminal", "criminals"),
    "documentary": ("documentary", "documentaries"),
    "drama": ("drama", "dramas", "dramatic"),
    "fantasy": ("fantasy", "fantasies", "fantastical"),
    "film noir": ("film noir", "noir"),
    "horror": ("horror",),
    "musical": ("musical", "musicals"),
    "mystery": ("mystery", "mysteries", "mysterious"),
    "romance": ("romance", "romances", "romantic"),
    "sci fi": ("sci fi", "scifi", "science fiction"),
    "thriller": ("thriller", "thrillers"),
    "war": ("war", "wartime"),
    "western": ("western", "westerns"),
}


def genre_phrases(genre: str) -> list[tuple[str, ...]]:
    """Token sequences that name ``genre``: its synonyms, or its own name when it has none."""
    key = normalise_text(genre)
    phrases = GENRE_SYNONYMS.get(key, (key,))
    return [tuple(p.split()) for p in phrases if p]


def names_genre(text: str, genre: str) -> bool:
    """Whether ``text`` names ``genre`` (whole words, any synonym)."""
    return genre_hits(text, [genre]) == [True]


def genre_hits(text: str, genres: list[str]) -> list[bool]:
    """For each genre, whether ``text`` names it; the text is tokenised once."""
    words = [t.norm for t in tokenize(text)]
    phrases = [genre_phrases(g) for g in genres]
    lengths = {len(p) for ps in phrases for p in ps}
    grams = {tuple(words[i : i + n]) for n in lengths for i in range(len(words) - n + 1)}
    return [any(p in grams for p in ps) for ps in phrases]
