"""The recommender's own belief about a window, and what it makes of an answer fed back to it.

Both rank the whole catalogue from ``model.score`` with the window's items excluded; ties go to the
smaller item id (a stable sort), so the top-1 is ``argmax`` and a re-run ranks alike.
"""

from __future__ import annotations

import torch

from recbench.errors import RecbenchError
from recbench.metrics.base import RoundTrip
from recbench.recommenders.base import pad_left
from recbench.tasks.inputs import TOP_K


@torch.no_grad()
def _scores(model, sequences: list[list[int]], excluded: list[set[int]], window: int, batch_size: int):
    """Per batch of sequences: ``(first row, Tensor[B, n_items])``, each row's ``excluded`` items at -inf."""
    model.eval()
    device = next(model.parameters()).device
    for i in range(0, len(sequences), batch_size):
        scores = model.score(pad_left(sequences[i : i + batch_size], window).to(device)).float().cpu()
        if not torch.isfinite(scores).all():  # a broken recommender: one line, not an empty ranking
            raise RecbenchError(
                "latents contain NaN or inf (the recommender's scores for a window are not finite); "
                "check the recommender"
            )
        for row, banned in enumerate(excluded[i : i + batch_size]):
            if banned:
                scores[row, [j - 1 for j in banned]] = -float("inf")
        yield i, scores


def _top(scores: torch.Tensor, k: int, excluded: list[set[int]]) -> list[list[int]]:
    """Each row's best ``k`` item ids (from 1) among the items it does not exclude, best first, ties to
    the smaller id: the head of a stable descending sort, found without sorting the catalogue.

    ``torch.topk`` gives each row's k-th best score in one pass over the catalogue; only the items at
    or above it (k of them, more on a tie) are then ordered. A window costs O(items), not
    O(items log items) plus a Python list of the whole catalogue.
    """
    n_items = scores.shape[1]
    kth = torch.topk(scores, min(k, n_items), dim=1).values[:, -1:]
    rows, cols = torch.nonzero(scores >= kth, as_tuple=True)  # row-major: ids ascending in a row
    picked = scores[rows, cols]
    counts = torch.bincount(rows, minlength=len(scores)).tolist()
    out, start = [], 0
    for row, count in enumerate(counts):
        ids, values = cols[start : start + count], picked[start : start + count]
        start += count
        best = ids[torch.argsort(values, descending=True, stable=True)] + 1
        out.append(best[: min(k, n_items - len(excluded[row]))].tolist())
    return out


def _rank(scores: torch.Tensor, items: list[int]) -> list[int]:
    """Rank (from 1) of ``items[row]`` in row ``row``'s stable descending order: the items scored
    higher, plus those tied with it that have a smaller id, plus one."""
    index = torch.tensor(items) - 1
    mine = scores[torch.arange(len(items)), index][:, None]
    smaller_id = torch.arange(scores.shape[1])[None, :] < index[:, None]
    return ((scores > mine).sum(1) + ((scores == mine) & smaller_id).sum(1) + 1).tolist()


def recommender_topk(
    model, windows, window: int, k: int = TOP_K, batch_size: int = 256
) -> dict[str, list[int]]:
    """The recommender's own top-``k`` next items for each window, best first, its items excluded."""
    excluded = [set(w.items) for w in windows]
    out: dict[str, list[int]] = {}
    for i, scores in _scores(model, [list(w.items) for w in windows], excluded, window, batch_size):
        best = _top(scores, k, excluded[i : i + len(scores)])
        out.update((w.id, items) for w, items in zip(windows[i : i + len(scores)], best, strict=True))
    return out


def round_trips(
    model, windows, answers: list[list[int]], rec_top10: list[list[int]], window: int, batch_size: int = 256
) -> list[RoundTrip]:
    """Feed each answer's items to the recommender as a sequence; compare with the window's top-10.

    ``windows[i]``'s items are excluded from the new ranking too, so both top-10s are drawn from the
    same candidates. An answer with no items gets an empty round trip (nothing to feed back).
    """
    out: list[RoundTrip | None] = [None] * len(answers)
    todo = [i for i, items in enumerate(answers) if items]
    excluded = [set(windows[i].items) for i in todo]
    for start, scores in _scores(model, [answers[i] for i in todo], excluded, window, batch_size):
        batch = todo[start : start + len(scores)]
        k = max(1, *(len(rec_top10[i]) for i in batch))
        best = _top(scores, k, excluded[start : start + len(scores)])
        ranks = _rank(scores, [rec_top10[i][0] for i in batch])
        for i, top, rank in zip(batch, best, ranks, strict=True):
            out[i] = RoundTrip(list(answers[i]), top[: len(rec_top10[i])], rank)
    return [r if r is not None else RoundTrip([], [], None) for r in out]
