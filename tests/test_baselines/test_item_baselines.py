"""random and popular: never look at the latent; seeded; answers in the task's format."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from recbench.baselines.answers import answer_text
from recbench.baselines.popular_titles import PopularTitles
from recbench.baselines.random_titles import RandomTitles
from recbench.interpreters.base import InterpreterContext
from tests.test_baselines.conftest import TASKS, WINDOW, context


def generate(interp, instances):
    return interp.generate(instances, max_new_tokens=8, stop=["\n"])


def test_random_is_seeded_distinct_and_batch_independent(tiny_instances):
    data, insts = tiny_instances.data, tiny_instances.test["seq_recovery"]
    a, b = RandomTitles(), RandomTitles()
    a.setup(context(data))
    b.setup(context(data))
    out = generate(a, insts)
    assert out == generate(b, insts)
    assert [generate(a, [i])[0] for i in insts] == out  # one at a time or batched: same answers
    for inst in insts:
        items = a.predict(inst)
        assert len(items) == len(set(items)) == WINDOW
        assert all(1 <= i <= data.n_items for i in items)
    other = RandomTitles()
    other.setup(InterpreterContext(data, 64, WINDOW, "cpu", 1))
    assert generate(other, insts) != out
    assert a.identity() != other.identity()  # the seed is in the identity, so caches never mix seeds


def test_random_single_item_tasks_name_one_title(tiny_instances):
    interp = RandomTitles()
    interp.setup(context(tiny_instances.data))
    for task in ("residual_id", "next_item"):
        for inst in tiny_instances.test[task]:
            assert len(interp.predict(inst)) == 1


def test_popular_returns_the_most_frequent_titles(tiny_instances):
    data, train = tiny_instances.data, tiny_instances.train
    interp = PopularTitles()
    interp.setup(context(data))
    interp.fit(train, [])
    for task in TASKS:
        counts = Counter(i for inst in train if inst.task == task for i in inst.target_items)
        ranked = sorted(counts, key=lambda item: (-counts[item], item))
        k = WINDOW if task in ("seq_recovery", "description") else 1
        expected = answer_text(task, ranked[:k], data)
        outputs = generate(interp, tiny_instances.test[task])
        assert set(outputs) == {expected}
        # the top item really is the most counted one
        assert counts[ranked[0]] == max(counts.values())
    top_window_item = Counter(i for inst in train if inst.task == "seq_recovery" for i in inst.window.items)
    assert interp.predict(tiny_instances.test["seq_recovery"][0])[0] == min(
        (i for i, c in top_window_item.items() if c == max(top_window_item.values()))
    )


def test_popular_and_random_ignore_latents(tiny_instances):
    insts = tiny_instances.test["seq_recovery"]
    blank = [replace(inst, latents=[t * 0 for t in inst.latents]) for inst in insts]
    for interp in (PopularTitles(), RandomTitles()):
        interp.setup(context(tiny_instances.data))
        interp.fit(tiny_instances.train, [])
        assert generate(interp, blank) == generate(interp, insts)
        assert interp.uses_latents is False
