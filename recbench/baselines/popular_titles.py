"""The most popular titles, never looking at the latent: what a prior over the catalogue alone gets.

Popularity is counted on the interpreter-training instances of each task: how often each item is a
target item there (the items of the training windows for seq_recovery and description, their last
items for residual_id, their next items for next_item). Every test instance of a task gets the same
answer: the top ``k`` items (ties broken by the smaller item id), ``k`` being the window length for
window-kind targets and one otherwise. A task without training instances uses the counts of all
training windows' items.
"""

from __future__ import annotations

from collections import Counter

from recbench.baselines.answers import answer_size, answer_text
from recbench.interpreters.base import Interpreter


class PopularTitles(Interpreter):
    """The most popular titles (training windows' item counts); never looks at the latent."""

    name = "popular"
    kind = "baseline"
    trainable = False
    uses_latents = False

    def __init__(self) -> None:
        self.ranking: dict[str, list[int]] = {}  # task -> item ids, most popular first
        self.fallback: list[int] = []

    def fit(self, train, valid, progress=None) -> dict:
        by_task: dict[str, Counter] = {}
        windows: dict[str, tuple[int, ...]] = {}
        for inst in train:
            by_task.setdefault(inst.task, Counter()).update(inst.target_items)
            windows[inst.window.id] = inst.window.items  # each window once, whatever the task count
        self.ranking = {task: _rank(counts) for task, counts in sorted(by_task.items())}
        self.fallback = _rank(Counter(i for items in windows.values() for i in items))
        return {"train_instances": len(train)}

    def identity(self) -> dict:
        window = self.ctx.window if hasattr(self, "ctx") else 10
        return {
            "name": self.name,
            "top": {task: ranking[:window] for task, ranking in self.ranking.items()},
            "fallback": self.fallback[:window],
        }

    def predict(self, inst) -> list[int]:
        ranking = self.ranking.get(inst.task) or self.fallback
        if not ranking:  # nothing was fitted: fall back to the first catalogue items
            ranking = list(range(1, self.ctx.data.n_items + 1))
        return ranking[: answer_size(inst, self.ctx.window)]

    def generate(self, instances, *, max_new_tokens, stop, progress=None) -> list[str]:
        return [answer_text(inst.task, self.predict(inst), self.ctx.data, inst.version) for inst in instances]


def _rank(counts: Counter) -> list[int]:
    return [item for item, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
