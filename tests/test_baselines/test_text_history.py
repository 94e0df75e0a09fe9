"""text_history: the LLM reads the window's titles as text (here the tiny random LLM)."""

from __future__ import annotations

import pytest

from recbench.baselines.text_history import TextHistory, history_prompt
from recbench.interpreters.base import InterpreterContext
from tests.test_baselines.conftest import WINDOW


def test_prompts_mirror_each_task(tiny_instances):
    data = tiny_instances.data
    by_task = {task: insts[0] for task, insts in tiny_instances.test.items()}
    titles = lambda items: ", ".join(data.title(i) for i in items)  # noqa: E731
    window = by_task["seq_recovery"].window.items
    assert (
        history_prompt(by_task["seq_recovery"], data)
        == f"The user watched {titles(window)}\nThis user has watched"
    )
    assert history_prompt(by_task["residual_id"], data) == (
        f"Before: {titles(window[:-1])}\nAfter: {titles(window)}\nThe user then watched"
    )
    assert history_prompt(by_task["description"], data).endswith("\nIn short, this user likes")
    assert history_prompt(by_task["next_item"], data).startswith("The user watched ")
    assert all("<rec_emb>" not in history_prompt(i, data) for i in by_task.values())


@pytest.fixture(scope="module")
def tiny_text_history(tiny_instances):
    interp = TextHistory(llm="tiny-random", gen_batch_size=3)
    interp.setup(InterpreterContext(tiny_instances.data, 64, WINDOW, "cpu", 0))
    interp.fit(tiny_instances.train, [])
    return interp


def test_identity_and_label(tiny_text_history):
    identity = tiny_text_history.identity()
    assert identity["llm"].startswith("tiny-random@")  # the LLM's own identity, weights hash included
    described = tiny_text_history.describe()
    assert described["kind"] == "baseline" and described["llm"] == "tiny-random"
    assert described["label"] == "text_history (tiny-random)"
    assert tiny_text_history.uses_latents is False and tiny_text_history.trainable is False


def test_generation_is_greedy_batched_and_cut_at_stops(tiny_text_history, tiny_instances):
    insts = tiny_instances.test["seq_recovery"][:5]
    first = tiny_text_history.generate(insts, max_new_tokens=6, stop=["\n"])
    assert len(first) == len(insts) and all(isinstance(t, str) for t in first)
    assert all("\n" not in t and t == t.strip() for t in first)
    assert tiny_text_history.generate(insts, max_new_tokens=6, stop=["\n"]) == first
    # left padding: an instance alone or in a batch of different lengths writes the same text
    alone = [tiny_text_history.generate([i], max_new_tokens=6, stop=["\n"])[0] for i in insts]
    assert alone == first
    residual = tiny_instances.test["residual_id"][:2]
    full = tiny_text_history.generate(residual, max_new_tokens=8, stop=[])
    text = full[0]
    stop = text[len(text) // 2 : len(text) // 2 + 2]
    if stop.strip():
        cut = tiny_text_history.generate(residual[:1], max_new_tokens=8, stop=[stop])[0]
        assert cut == text.split(stop, 1)[0].strip()
