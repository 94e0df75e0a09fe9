"""Full-ranking evaluation (never sampled: sampling inflates scores) and the popularity baseline."""

from __future__ import annotations

import bisect
import math
from collections import Counter

import torch

from recbench.recommenders.base import pad_left


def _metrics_from_ranks(ranks: torch.Tensor, ks: tuple[int, ...]) -> dict[str, float]:
    """``ranks`` are 0-based positions of the target among all candidate items."""
    out = {}
    for k in ks:
        hit = ranks < k
        out[f"hr@{k}"] = hit.float().mean().item()
        out[f"ndcg@{k}"] = torch.where(hit, 1.0 / torch.log2(ranks.float() + 2.0), 0.0).mean().item()
    return out


def target_ranks(scores: torch.Tensor, histories: list[list[int]], targets: list[int]) -> torch.Tensor:
    """Rank of each target among all items, items already in the history excluded (``scores[:, j]`` is item j+1).

    Ties count against the target (pessimistic), so a constant scorer cannot look good.
    """
    scores = scores.clone()
    for row, hist in enumerate(histories):
        seen = [i - 1 for i in set(hist) if i != targets[row]]
        if seen:
            scores[row, seen] = -math.inf
    idx = torch.tensor(targets) - 1
    target_scores = scores[torch.arange(len(targets)), idx]
    return (scores >= target_scores[:, None]).sum(1) - 1


@torch.no_grad()
def ranking_metrics(
    model, pairs: list[tuple[list[int], int]], max_len: int, ks=(10, 20), batch_size=512
) -> dict:
    """HR@k and NDCG@k of ``model.score`` over all items, for (history, target) pairs."""
    was_training = model.training
    model.eval()
    ranks = []
    for i in range(0, len(pairs), batch_size):
        chunk = pairs[i : i + batch_size]
        scores = model.score(pad_left([h for h, _ in chunk], max_len))
        ranks.append(target_ranks(scores, [h for h, _ in chunk], [t for _, t in chunk]))
    model.train(was_training)
    return {**_metrics_from_ranks(torch.cat(ranks), ks), "n": len(pairs)}


def popularity_metrics(
    train: list[list[int]], pairs: list[tuple[list[int], int]], n_items: int, ks=(10, 20)
) -> dict:
    """Rank every item by its training-interaction count, the same for every user.

    Ranks are those :func:`target_ranks` gives for the popularity scores (history excluded, ties
    against the target), found without a users x items score matrix: one sorted list of the scores,
    then per user the count of scores at or above the target's, less its history's. Time and memory
    grow with items + interactions, not users x items (at 50x ML-100K that matrix is 31 GB).
    """
    counts = Counter(i for seq in train for i in seq)
    # A tiny item-id tie-break keeps the popularity order total and deterministic.
    popularity = [counts.get(i, 0) - i * 1e-6 for i in range(1, n_items + 1)]
    ascending = sorted(popularity)
    ranks = []
    for history, target in pairs:
        score = popularity[target - 1]
        at_or_above = n_items - bisect.bisect_left(ascending, score)
        seen = sum(1 for i in set(history) if i != target and popularity[i - 1] >= score)
        ranks.append(at_or_above - seen - 1)
    return {**_metrics_from_ranks(torch.tensor(ranks, dtype=torch.long), ks), "n": len(pairs)}
