"""majority: the training data's most common answer; description v2 cannot be maxed by template or titles."""

from __future__ import annotations

from recbench.baselines.answers import answer_text
from recbench.baselines.majority import Majority, majority_taste
from recbench.baselines.popular_titles import PopularTitles
from recbench.metrics.taste import Taste
from tests.test_baselines.conftest import TASKS, context, mean_metric


def generate(interp, instances):
    return interp.generate(instances, max_new_tokens=8, stop=["\n"])


def test_majority_taste_golden():
    tastes = [
        Taste({}, ("Drama", "Romance"), 1990),
        Taste({}, ("Drama",), 1990),
        Taste({}, ("Comedy",), 1980),
    ]
    # Drama is a main genre twice; the median number of main genres is 1; 1990 is the most common era
    assert majority_taste(tastes) == {"main_genres": "Drama", "era": "the 1990s"}
    two = [
        Taste({}, ("Comedy", "Drama"), 1980),
        Taste({}, ("Comedy", "Drama"), 1990),
        Taste({}, ("Drama",), None),
    ]
    # k = median_low(2, 2, 1) = 2; era tie 1980/1990 (once each): the later decade
    assert majority_taste(two) == {"main_genres": "Drama and Comedy", "era": "the 1990s"}
    assert majority_taste([]) == {}


def test_majority_names_popular_items_and_the_most_common_taste(tiny_instances):
    data, train = tiny_instances.data, tiny_instances.train
    majority, popular = Majority(), PopularTitles()
    for interp in (majority, popular):
        interp.setup(context(data))
        interp.fit(train, [])
    for task in TASKS:
        insts = tiny_instances.test[task]
        out = generate(majority, insts)
        assert len(set(out)) == 1  # one answer for every instance of a task
        if task != "description":  # item answers: the most popular items, as popular names them
            assert out == generate(popular, insts)
    (answer,) = set(generate(majority, tiny_instances.test["description"]))
    # training windows: Drama is a main genre of 52 (Action 43), one main genre is the median, and
    # the median year falls in the 1980s for 55 (1970s 29, 1990s 27): checked by hand on the fixture
    assert answer == "Drama films from the 1980s."
    assert majority.identity()["tastes"]["description"] == {"main_genres": "Drama", "era": "the 1980s"}
    assert majority.identity() != popular.identity()


def test_description_v2_cannot_be_maxed_by_template_or_titles(tiny_instances):
    """Template words and the window's titles score 0; the window's own taste (read from metadata) 1."""
    data, insts = tiny_instances.data, tiny_instances.test["description"]
    assert {i.version for i in insts} == {2}
    template = ["films from the." for _ in insts]
    titles = [", ".join(data.title(i) for i in inst.target_items) for inst in insts]  # a perfect item probe
    derived = [answer_text("description", inst.target_items, data, 2) for inst in insts]
    assert derived == [inst.target for inst in insts]
    for metric in ("genre_f1", "era_accuracy"):
        assert mean_metric(metric, insts, template, data) == 0.0
        assert mean_metric(metric, insts, titles, data) == 0.0
        assert mean_metric(metric, insts, derived, data) == 1.0
