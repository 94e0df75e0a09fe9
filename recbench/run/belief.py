"""The recommender's own belief about a window, and what it makes of an answer fed back to it.

Both rank the whole catalogue from ``model.score`` with the window's items excluded; ties go to the
smaller item id (a stable sort), so the top-1 is ``argmax`` and a re-run ranks alike.
"""

from __future__ import annotations

import torch

from recbench.metrics.base import RoundTrip
from recbench.recommenders.base import pad_left
from recbench.tasks.inputs import TOP_K


@torch.no_grad()
def _rankings(model, sequences: list[list[int]], excluded: list[set[int]], window: int, batch_size: int):
    """Per sequence, every catalogue item best first (ids from 1), its ``excluded`` items last."""
    model.eval()
    device = next(model.parameters()).device
    for i in range(0, len(sequences), batch_size):
        scores = model.score(pad_left(sequences[i : i + batch_size], window).to(device)).float().cpu()
        for row, banned in enumerate(excluded[i : i + batch_size]):
            scores[row, [j - 1 for j in banned]] = -float("inf")
            order = torch.argsort(scores[row], descending=True, stable=True) + 1
            yield order[: scores.shape[1] - len(banned)].tolist()


def recommender_topk(
    model, windows, window: int, k: int = TOP_K, batch_size: int = 256
) -> dict[str, list[int]]:
    """The recommender's own top-``k`` next items for each window, best first, its items excluded."""
    seqs = [list(w.items) for w in windows]
    ranked = _rankings(model, seqs, [set(w.items) for w in windows], window, batch_size)
    return {w.id: order[:k] for w, order in zip(windows, ranked, strict=True)}


def round_trips(
    model, windows, answers: list[list[int]], rec_top10: list[list[int]], window: int, batch_size: int = 256
) -> list[RoundTrip]:
    """Feed each answer's items to the recommender as a sequence; compare with the window's top-10.

    ``windows[i]``'s items are excluded from the new ranking too, so both top-10s are drawn from the
    same candidates. An answer with no items gets an empty round trip (nothing to feed back).
    """
    out: list[RoundTrip | None] = [None] * len(answers)
    todo = [i for i, items in enumerate(answers) if items]
    ranked = _rankings(
        model, [answers[i] for i in todo], [set(windows[i].items) for i in todo], window, batch_size
    )
    for i, order in zip(todo, ranked, strict=True):
        top1 = rec_top10[i][0]
        out[i] = RoundTrip(list(answers[i]), order[: len(rec_top10[i])], order.index(top1) + 1)
    return [r if r is not None else RoundTrip([], [], None) for r in out]
