"""Title normalisation and matching: article order, accents, punctuation, short titles, overlaps."""

from __future__ import annotations

import pytest

from recbench.data.base import Item
from recbench.metrics.titles import (
    MIN_SINGLE_TOKEN_CHARS,
    TitleMatcher,
    natural_title,
    normalise_text,
    normalise_title,
    tokenize,
)

from .conftest import make_catalog


@pytest.fixture(scope="module")
def matcher() -> TitleMatcher:
    return TitleMatcher(make_catalog())


def ids(matcher: TitleMatcher, text: str) -> list[tuple[int, ...]]:
    return [m.item_ids for m in matcher.matches(text)]


@pytest.mark.parametrize(
    ("title", "with_year", "without_year"),
    [
        ("Usual Suspects, The (1995)", "the usual suspects 1995", "the usual suspects"),
        ("Misérables, Les (1995)", "les miserables 1995", "les miserables"),
        ("Seven (Se7en) (1995)", "seven se7en 1995", "seven se7en"),
        ("Shall We Dance? (1996)", "shall we dance 1996", "shall we dance"),
        ("Star Wars (1977)", "star wars 1977", "star wars"),
        ("Fish Called Wanda, A (1988)", "a fish called wanda 1988", "a fish called wanda"),
        ("Enfer, L' (1994)", "lenfer 1994", "lenfer"),
        ("Boot, Das (1981)", "das boot 1981", "das boot"),
        ("Postino, Il (1994)", "il postino 1994", "il postino"),
        (
            "Horseman on the Roof, The (Hussard sur le toit, Le) (1995)",
            "the horseman on the roof le hussard sur le toit 1995",
            "the horseman on the roof le hussard sur le toit",
        ),
        ("M*A*S*H (1970)", "mash 1970", "mash"),
        ("I.Q. (1994)", "iq 1994", "iq"),
        (
            "Truth About Cats & Dogs, The (1996)",
            "the truth about cats and dogs 1996",
            "the truth about cats and dogs",
        ),
        ("Paris, Texas (1984)", "paris texas 1984", "paris texas"),
    ],
)
def test_normalise_title_moves_article_strips_accents_and_punctuation(title, with_year, without_year):
    assert normalise_title(title) == with_year
    assert normalise_title(title, keep_year=False) == without_year


def test_normalise_text_matches_title_normalisation_of_the_natural_order():
    assert normalise_text("L'Enfer") == normalise_title("Enfer, L' (1994)", keep_year=False)
    assert normalise_text("LES MISÉRABLES!") == "les miserables"


def test_natural_title_puts_articles_in_front_and_keeps_case():
    assert natural_title("Usual Suspects, The (1995)") == "The Usual Suspects (1995)"
    assert (
        natural_title("Blue Angel, The (Blaue Engel, Der) (1930)")
        == "The Blue Angel (Der Blaue Engel) (1930)"
    )
    assert natural_title("unkonwn") == "unkonwn"


def test_tokenize_reports_spans_in_the_original_text():
    text = "Les Misérables, by Boublil & Schönberg"
    toks = tokenize(text)
    assert [t.norm for t in toks] == ["les", "miserables", "by", "boublil", "and", "schonberg"]
    assert [text[t.start : t.end] for t in toks] == ["Les", "Misérables", "by", "Boublil", "&", "Schönberg"]


@pytest.mark.parametrize(
    "text",
    [
        "The Usual Suspects",
        "usual suspects, the",
        "Usual Suspects, The (1995)",
        "I rewatched THE USUAL SUSPECTS last night",
        "Usual Suspects (1995)",
        "the usual suspects 1995",
    ],
)
def test_usual_suspects_matches_in_either_article_order_with_or_without_year(matcher, text):
    assert ids(matcher, text) == [(2,)]


@pytest.mark.parametrize(
    "text", ["Les Miserables", "Les Misérables (1995)", "Misérables, Les", "les MISERABLES"]
)
def test_les_miserables_matches_without_accents_and_in_either_order(matcher, text):
    assert ids(matcher, text) == [(4,)]


@pytest.mark.parametrize(
    "text", ["Seven (Se7en) (1995)", "Seven (Se7en)", "Se7en (1995)", "Seven (1995)", "Se7en"]
)
def test_seven_se7en_matches_whole_title_main_part_and_alias(matcher, text):
    assert ids(matcher, text) == [(3,)]


@pytest.mark.parametrize(
    "text",
    ["((( [[ ** ++ ?? \\ $^ | {2,}", "Remix+ [Plus]", "[Remix] (2001)", "*A*S*", ")(", "", "   \n\n"],
)
def test_regex_metacharacters_in_text_never_raise_or_match(matcher, text):
    assert matcher.matches(text) == []


@pytest.mark.parametrize("text", ["Plus+ [Remix] (2001)", "plus remix 2001", "PLUS+ [REMIX]"])
def test_titles_with_regex_metacharacters_match_literally(matcher, text):
    assert ids(matcher, text) == [(12,)]


@pytest.mark.parametrize(
    "text", ["M*A*S*H (1970)", "M.A.S.H", "MASH (1970)", "I loved M*A*S*H (1970) and more"]
)
def test_star_spelt_acronym_matches(matcher, text):
    assert ids(matcher, text) == [(11,)]


@pytest.mark.parametrize(
    "text",
    [
        "he ran away",
        "Ran away from home in 1985",
        "the heat of the moment",
        "kids love it",
        "the game was close",
        "Heat 1996",
        "seven samurai",
    ],
)
def test_short_titles_without_year_do_not_match_inside_running_text(matcher, text):
    assert matcher.matches(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ran (1985)", [(8,)]),
        ("He liked Heat (1995) a lot", [(7,)]),
        ("The Game (1997)", [(18,)]),
        ("Game, The (1997)", [(18,)]),
        ("Kids, 1995", [(15,)]),
    ],
)
def test_short_titles_match_with_their_year(matcher, text, expected):
    assert ids(matcher, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Heat", [(7,)]),
        ("  heat. ", [(7,)]),
        ("1. Heat\n2) Ran\n- The Game\n* Kids", [(7,), (8,), (18,), (15,)]),
        ("**Ran**", [(8,)]),
        ("Heat and Ran", []),
    ],
)
def test_short_titles_match_without_year_when_they_fill_a_whole_line(matcher, text, expected):
    assert ids(matcher, text) == expected


def test_long_single_word_title_matches_without_year(matcher):
    assert len("casablanca") >= MIN_SINGLE_TOKEN_CHARS
    assert ids(matcher, "a night in casablanca, i think") == [(17,)]


def test_overlapping_mentions_prefer_the_longest(matcher):
    assert ids(matcher, "The Godfather: Part II") == [(14,)]
    assert ids(matcher, "The Godfather, then The Godfather: Part II (1974)") == [(13,), (14,)]


def test_repeated_catalogue_title_names_every_item_that_carries_it(matcher):
    assert ids(matcher, "Chasing Amy (1997)") == [(9, 10)]
    assert matcher.find("Chasing Amy") == [(9, 0), (10, 0)]
    assert matcher.first("Chasing Amy") == 9


def test_placeholder_title_is_never_matched(matcher):
    assert matcher.matches("unkonwn") == []
    assert matcher.matches("unknown") == []


def test_find_returns_item_and_character_offset_in_reading_order(matcher):
    text = "I loved The Usual Suspects and Star Wars (1977)."
    assert matcher.find(text) == [(2, text.index("The Usual")), (6, text.index("Star"))]


def test_first_is_the_earliest_mention_and_none_without_one(matcher):
    assert matcher.first("Star Wars, then Toy Story") == 6
    assert matcher.first("nothing here") is None
    assert matcher.first_match("Toy Story") is not None


def test_mentions_checks_one_item(matcher):
    assert matcher.mentions("They watched Toy Story twice", 1)
    assert not matcher.mentions("They watched Toy Story twice", 2)
    assert matcher.mentions("Chasing Amy", 10)


def test_title_without_year_in_its_string_uses_the_item_year():
    m = TitleMatcher([Item("1", "Heat", ("Action",), 1995)])
    assert [x.item_ids for x in m.matches("Heat (1995) is long")] == [(1,)]
    assert m.matches("the heat is on") == []


@pytest.mark.slow
def test_every_movielens_title_matches_itself_in_both_forms():
    from recbench.data.base import load_dataset
    from recbench.errors import RecbenchError

    try:
        data = load_dataset("ml-100k")
    except RecbenchError as exc:
        pytest.skip(f"ML-100K not available: {exc}")
    m = TitleMatcher(data.items)
    missed = []
    for item_id, item in enumerate(data.items, start=1):
        if item.title == "unkonwn":
            continue
        for text in (item.title, f"I watched {natural_title(item.title)} yesterday."):
            found = m.matches(text)
            if len(found) != 1 or item_id not in found[0].item_ids:
                missed.append((item_id, text))
    assert missed == []


def test_overlap_between_different_starts_goes_to_the_longer_match():
    m = TitleMatcher([Item("1", "Big Night (1996)"), Item("2", "Night of the Living Dead (1968)")])
    assert [x.item_ids for x in m.matches("Big Night of the Living Dead")] == [(2,)]
    assert [x.item_ids for x in m.matches("Big Night, and Night of the Living Dead")] == [(1,), (2,)]
