"""The catalogue's most common answer, never looking at the latent: what always answering the majority gets.

Counted on the interpreter-training instances of each task, like :mod:`popular <recbench.baselines.popular_titles>`:

* item fields (``{{titles}}``, ``{{last_title}}``, ``{{next_title}}`` …): the most common target
  items, exactly as ``popular`` names them (the window's length of them for window-kind targets, one
  otherwise). For an item the most common choice *is* the most popular one.
* taste fields (``{{main_genres}}``, ``{{era}}``: description v2): the genres that are most often a
  main genre of the training windows, as many as the median number of main genres per training
  window (ties broken by name), and the most common era (decade of the window's median year; ties:
  the later decade). Every test instance of a task gets the same answer.
"""

from __future__ import annotations

from collections import Counter
from statistics import median_low

from recbench.baselines.answers import answer_text
from recbench.baselines.popular_titles import PopularTitles
from recbench.metrics.taste import Taste, window_taste


class Majority(PopularTitles):
    """The most common answer of the training data: top items, main genres and era."""

    name = "majority"

    def __init__(self) -> None:
        super().__init__()
        self.tastes: dict[str, dict[str, str]] = {}  # task -> {"main_genres": ..., "era": ...}

    def fit(self, train, valid, progress=None) -> dict:
        info = super().fit(train, valid, progress)
        windows: dict[str, dict[str, tuple[int, ...]]] = {}
        for inst in train:
            windows.setdefault(inst.task, {})[inst.window.id] = inst.window.items
        catalog = self.ctx.data.items
        self.tastes = {
            task: majority_taste([window_taste([catalog[i - 1] for i in items]) for items in ws.values()])
            for task, ws in sorted(windows.items())
        }
        return info

    def identity(self) -> dict:
        return {**super().identity(), "name": self.name, "tastes": self.tastes}

    def generate(self, instances, *, max_new_tokens, stop, progress=None) -> list[str]:
        return [
            answer_text(
                inst.task, self.predict(inst), self.ctx.data, inst.version, self.tastes.get(inst.task)
            )
            for inst in instances
        ]


def majority_taste(tastes: list[Taste]) -> dict[str, str]:
    """``{"main_genres", "era"}`` text of the most common taste among ``tastes`` (see the module doc)."""
    if not tastes:
        return {}
    counts = Counter(g for t in tastes for g in t.main_genres)
    k = median_low([len(t.main_genres) for t in tastes])
    genres = tuple(g for g, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k])
    decades = Counter(t.decade for t in tastes if t.decade is not None)
    decade = max(decades, key=lambda d: (decades[d], d)) if decades else None
    common = Taste({}, genres, decade)
    return {"main_genres": common.genres_text(), "era": common.era_text()}
