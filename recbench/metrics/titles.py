"""Find catalogue titles in free text.

Titles and text go through one tokeniser (:func:`tokenize`), so matching is a lookup of normalised
token sequences in a dict: no title is ever turned into a regular expression, and punctuation in
titles ("Seven (Se7en)", "M*A*S*H", "Shall We Dance?") cannot break or bend the match.

Each catalogue title is registered under several token sequences (its *forms*):

* article order both ways: "Usual Suspects, The" and "The Usual Suspects"; with an article, also the
  core alone ("Usual Suspects") when the core has at least two tokens;
* for a title with a parenthesised alias, "Seven (Se7en)", the whole title, the main part ("Seven")
  and the alias ("Se7en");
* every form with its year appended ("usual suspects the 1995"), and, if the title is
  *distinctive*, without it.

Short-title rule: a title is distinctive when its core (article removed) has at least two tokens, or
one token of at least :data:`MIN_SINGLE_TOKEN_CHARS` characters ("Casablanca"). Other titles ("Heat",
"Ran", "M", "Kids", "The Game", "Scream") match only with their year ("Heat (1995)"), or when they
make up a whole line of the text, list marker and punctuation aside ("Heat", "2. Ran"): this keeps
"he ran away" or "the heat of the moment" from naming a film while an answer that is just a title
still counts.

Overlapping matches: the longest token span wins ("The Godfather: Part II" names Part II, not
"The Godfather"); among equals, the earlier one. A match can name several items: repeated catalogue
titles ("Chasing Amy (1997)" twice) and year-less mentions of remakes ("Sabrina") name all of them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from recbench.data.base import Item, display_title

# A year-less single-token title must be at least this long to match inside running text.
MIN_SINGLE_TOKEN_CHARS = 8

# Trailing articles that catalogues move behind a comma ("Misérables, Les"), lower case.
ARTICLES = (
    "the", "a", "an",  # English
    "le", "la", "les", "l'", "un", "une",  # French
    "il", "lo", "gli", "i",  # Italian
    "der", "die", "das", "den", "det", "dem", "ein", "eine",  # German, Scandinavian
    "el", "los", "las", "una",  # Spanish
    "o", "os", "as",  # Portuguese
    "de", "het",  # Dutch
)  # fmt: skip

# Placeholder titles of items that have no real title (ML-100K item 267 is "unkonwn").
PLACEHOLDER_TITLES = frozenset({"unknown", "unkonwn"})

_YEAR = re.compile(r"\s*\((\d{4})\)\s*$")
_ALIAS = re.compile(r"^(?P<main>.*\S)\s*\((?P<alias>[^()]+)\)$")
_ARTICLE = re.compile(
    r"^(?P<core>.*\S)\s*,\s*(?P<art>" + "|".join(re.escape(a) for a in ARTICLES) + r")$", re.IGNORECASE
)
# Acronyms spelt with dots or stars ("I.Q.", "M*A*S*H", "U.S.") are one token; otherwise a token is a
# run of letters and digits, apostrophes inside it dropped ("Schindler's" -> "schindlers"), and "&" is
# the word "and".
_TOKEN = re.compile(r"(?<![^\W_])(?:[^\W\d_][.*])+[^\W\d_](?![^\W_])[.*]?|&|[^\W_]+(?:['’ʼ][^\W_]+)*")
_DROP = re.compile(r"[.*'’ʼ]")
_WORD = re.compile(r"[^\W_]+")
_LIST_MARKER = re.compile(r"^\s*(?:[-*•+>]+|\(?\d{1,3}[.):])\s+")


@dataclass(frozen=True)
class Token:
    """One normalised token of a text and its character span in the original."""

    norm: str
    start: int
    end: int


@dataclass(frozen=True)
class Match:
    """A title found in a text: character span and every item id the words can name (ascending)."""

    start: int
    end: int
    item_ids: tuple[int, ...]


def _fold(word: str) -> list[str]:
    """Accents stripped (NFKD), case folded; a word can split in two ("½" becomes "1", "2")."""
    decomposed = unicodedata.normalize("NFKD", _DROP.sub("", word))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return _WORD.findall(plain)


def tokenize(text: str) -> list[Token]:
    """Normalised tokens of ``text`` with their spans; punctuation separates and is dropped."""
    out: list[Token] = []
    for m in _TOKEN.finditer(text):
        parts = ["and"] if m.group() == "&" else _fold(m.group())
        out.extend(Token(p, m.start(), m.end()) for p in parts)
    return out


def normalise_text(text: str) -> str:
    """Free text as space-separated normalised tokens (no article moving)."""
    return " ".join(t.norm for t in tokenize(text))


def split_title(title: str) -> tuple[str, str | None, int | None]:
    """ "Seven (Se7en) (1995)" -> ("Seven", "Se7en", 1995): main part, parenthesised alias, year."""
    title = title.strip()
    year = None
    m = _YEAR.search(title)
    if m and m.start() > 0:
        year = int(m.group(1))
        title = title[: m.start()]
    alias = None
    a = _ALIAS.match(title)
    if a:
        title, alias = a.group("main"), a.group("alias").strip()
    return title, alias, year


def split_article(part: str) -> tuple[str | None, str]:
    """ "Usual Suspects, The" -> ("The", "Usual Suspects"); no trailing article -> (None, part)."""
    m = _ARTICLE.match(part.strip())
    return (m.group("art"), m.group("core")) if m else (None, part.strip())


def _front(part: str) -> str:
    art, core = split_article(part)
    if art is None:
        return core
    return f"{art}{core}" if art.endswith("'") else f"{art} {core}"


def natural_title(title: str) -> str:
    """Display title with articles in front: "Usual Suspects, The (1995)" -> "The Usual Suspects (1995)"."""
    main, alias, year = split_title(title)
    text = _front(main) + (f" ({_front(alias)})" if alias else "")
    return text + (f" ({year})" if year is not None else "")


def normalise_title(title: str, keep_year: bool = True) -> str:
    """Canonical normalised title: accents stripped, case folded, article in front, punctuation gone.

    "Usual Suspects, The (1995)" -> "the usual suspects 1995"; with ``keep_year=False``,
    "the usual suspects".
    """
    main, alias, year = split_title(title)
    text = _front(main) + (f" {_front(alias)}" if alias else "")
    if keep_year and year is not None:
        text += f" {year}"
    return normalise_text(text)


def _norm(text: str) -> tuple[str, ...]:
    return tuple(t.norm for t in tokenize(text))


def _part_forms(part: str) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """(all forms, forms allowed year-less in running text) of one title part."""
    art, core = split_article(part)
    core_tokens = _norm(core)
    distinctive = len(core_tokens) >= 2 or (
        len(core_tokens) == 1 and len(core_tokens[0]) >= MIN_SINGLE_TOKEN_CHARS
    )
    if art is None:
        return [core_tokens], [core_tokens] if distinctive else []
    with_article = [_norm(_front(part)), _norm(part)]
    forms = [*with_article, core_tokens]
    free = (with_article if distinctive else []) + ([core_tokens] if len(core_tokens) >= 2 else [])
    return forms, free


def title_forms(title: str) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """Token sequences naming ``title``: (anywhere in text, only as a whole line). See the module doc."""
    main, alias, year = split_title(title)
    forms, free = _part_forms(main)
    if alias:
        alias_forms, alias_free = _part_forms(alias)
        # The whole "main (alias)" title has at least two tokens, so it is always distinctive.
        whole = [a + b for a in forms for b in alias_forms]
        free = free + alias_free + whole
        forms = forms + alias_forms + whole
    forms = [f for f in dict.fromkeys(forms) if f]
    anywhere = [f for f in dict.fromkeys(free) if f]
    if year is not None:
        anywhere += [f + (str(year),) for f in forms]
    return anywhere, forms


class TitleMatcher:
    """Every catalogue title mentioned in a text, by normalised token-sequence lookup."""

    def __init__(self, catalog: Sequence[Item]):
        self._anywhere: dict[tuple[str, ...], set[int]] = {}
        self._line: dict[tuple[str, ...], set[int]] = {}
        for item_id, item in enumerate(catalog, start=1):
            if normalise_text(item.title) in PLACEHOLDER_TITLES or not item.title.strip():
                continue
            anywhere, line = title_forms(display_title(item.title, item.year))
            for key in anywhere:
                self._anywhere.setdefault(key, set()).add(item_id)
            for key in line:
                self._line.setdefault(key, set()).add(item_id)
        self._ids = {k: tuple(sorted(v)) for k, v in self._anywhere.items()}
        self._line_ids = {k: tuple(sorted(v)) for k, v in self._line.items()}
        # Longest key per first token bounds the lookups at each text position.
        self._max_len: dict[str, int] = {}
        for key in self._ids:
            self._max_len[key[0]] = max(self._max_len.get(key[0], 0), len(key))
        self._cache: dict[str, list[Match]] = {}

    def matches(self, text: str) -> list[Match]:
        """Non-overlapping title mentions in reading order (longest span wins an overlap)."""
        cached = self._cache.get(text)
        if cached is not None:
            return list(cached)
        tokens = tokenize(text)
        norms = [t.norm for t in tokens]
        # Whole-line candidates go first so that, on an equal span, their (wider) id set is kept.
        candidates = self._line_candidates(text, tokens)
        for i, first in enumerate(norms):
            longest = self._max_len.get(first)
            if longest is None:
                continue
            for length in range(min(longest, len(norms) - i), 0, -1):
                ids = self._ids.get(tuple(norms[i : i + length]))
                if ids:
                    candidates.append((i, i + length, ids))
                    break
        taken = [False] * len(tokens)
        chosen: list[tuple[int, int, tuple[int, ...]]] = []
        for start, end, ids in sorted(candidates, key=lambda c: (c[0] - c[1], c[0])):
            if not any(taken[start:end]):
                taken[start:end] = [True] * (end - start)
                chosen.append((start, end, ids))
        result = [Match(tokens[s].start, tokens[e - 1].end, ids) for s, e, ids in sorted(chosen)]
        if len(self._cache) > 50_000:  # bound memory on very long runs
            self._cache.clear()
        self._cache[text] = result
        return list(result)

    def _line_candidates(self, text: str, tokens: list[Token]) -> list[tuple[int, int, tuple[int, ...]]]:
        """Lines that are exactly one title form (after a list marker): short titles count here."""
        out = []
        offset = 0
        first_token = 0
        for line in text.splitlines(keepends=True):
            end = offset + len(line)
            marker = _LIST_MARKER.match(line)
            content_start = offset + (marker.end() if marker else 0)
            while first_token < len(tokens) and tokens[first_token].start < content_start:
                first_token += 1
            last = first_token
            while last < len(tokens) and tokens[last].end <= end:
                last += 1
            ids = self._line_ids.get(tuple(t.norm for t in tokens[first_token:last]))
            if ids and last > first_token:
                out.append((first_token, last, ids))
            first_token = last
            offset = end
        return out

    def find(self, text: str) -> list[tuple[int, int]]:
        """``(item_id, start)`` for every mention; an ambiguous mention yields each item it can name."""
        return [(item_id, m.start) for m in self.matches(text) for item_id in m.item_ids]

    def first_match(self, text: str) -> Match | None:
        """The earliest mention (the longest one at that position), or None."""
        found = self.matches(text)
        return found[0] if found else None

    def first(self, text: str) -> int | None:
        """Item id of the earliest mention (the smallest id if it names several), or None."""
        m = self.first_match(text)
        return m.item_ids[0] if m else None

    def mentioned(self, text: str) -> set[int]:
        """Every item id any mention in ``text`` can name."""
        return {i for m in self.matches(text) for i in m.item_ids}

    def mentions(self, text: str, item_id: int) -> bool:
        """Whether ``text`` mentions item ``item_id`` (or a title it shares)."""
        return item_id in self.mentioned(text)
