"""The recommender's top-k and round-trip ranks equal those of a stable full sort of the catalogue,
ties and exclusions included, though no window's catalogue is sorted."""

from __future__ import annotations

import random

import torch

from recbench.data.splits import Window
from recbench.run.belief import recommender_topk, round_trips


class TableScorer(torch.nn.Module):
    """Scores from a fixed table, one row per distinct last item: integer scores, so ties abound."""

    def __init__(self, n_items: int, seed: int):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        g = torch.Generator().manual_seed(seed)
        self.table = torch.randint(0, 6, (n_items + 1, n_items), generator=g).float()

    def score(self, batch: torch.Tensor) -> torch.Tensor:
        return self.table[batch[:, -1]]


def full_order(scores: torch.Tensor, banned: set[int]) -> list[int]:
    """What the runner computed before: a stable descending sort of the whole catalogue, banned items cut."""
    scores = scores.clone()
    scores[[j - 1 for j in banned]] = -float("inf")
    order = torch.argsort(scores, descending=True, stable=True) + 1
    return order[: len(scores) - len(banned)].tolist()


def test_topk_and_round_trips_match_a_stable_full_sort():
    rng = random.Random(3)
    for n_items, k in ((30, 10), (12, 10), (9, 10)):  # also fewer candidates than k
        model = TableScorer(n_items, seed=n_items)
        windows = [
            Window("u", s, tuple(rng.sample(range(1, n_items + 1), rng.randint(1, 5))), 1) for s in range(300)
        ]
        top = recommender_topk(model, windows, window=5, k=k, batch_size=7)
        answers = [rng.sample(range(1, n_items + 1), rng.randint(0, 3)) for _ in windows]
        own = [top[w.id] for w in windows]
        trips = round_trips(model, windows, answers, own, window=5, batch_size=7)
        for w, answer, trip in zip(windows, answers, trips, strict=True):
            assert top[w.id] == full_order(model.table[w.items[-1]], set(w.items))[:k]
            if not answer:
                assert (trip.items, trip.top10, trip.top1_rank) == ([], [], None)
                continue
            order = full_order(model.table[answer[-1]], set(w.items))
            assert trip.top10 == order[: len(top[w.id])]
            assert trip.top1_rank == order.index(top[w.id][0]) + 1


def test_no_window_sorts_the_catalogue(monkeypatch):
    """The cost of a window's top-k must not grow with items x log(items): only the k best (and any
    items tied with the k-th) are ever sorted, however large the catalogue."""
    n_items, k = 5000, 10
    model = TableScorer(n_items, seed=1)
    model.table += torch.rand(model.table.shape, generator=torch.Generator().manual_seed(2))  # no ties
    sorted_lengths = []
    for name in ("argsort", "sort"):
        original = getattr(torch, name)

        def spy(tensor, *args, _original=original, **kwargs):
            sorted_lengths.append(tensor.shape[-1])
            return _original(tensor, *args, **kwargs)

        monkeypatch.setattr(torch, name, spy)
    windows = [Window("u", s, (s % n_items + 1, (s * 7) % n_items + 1), 1) for s in range(50)]
    top = recommender_topk(model, windows, window=2, k=k)
    round_trips(model, windows, [[3, 4]] * len(windows), [top[w.id] for w in windows], window=2)
    assert len(top) == 50 and all(len(items) == k for items in top.values())
    assert sorted_lengths and max(sorted_lengths) == k
