"""Round-trip faithfulness (ELM's "behavioural consistency"): does the answer, fed back to the
recommender, lead to the recommendations the window led to?

The runner maps each answer to catalogue items (the title matcher, or MiniLM retrieval for free
text: the task's ``answer_items``), feeds them to the recommender as a sequence and stores what it
recommends on the sample (:class:`~recbench.metrics.base.RoundTrip`), beside the window's own top-10
(``rec_top10``). These metrics only compare the stored lists, so re-scoring needs no model. An answer
that names no item scores 0 on both: it gives the recommender nothing to act on.
"""

from __future__ import annotations

import numpy as np

from recbench.metrics.base import Metric, MetricContext, Sample


def title_items(text: str, ctx: MetricContext) -> list[int]:
    """The items an answer names by title, in reading order, each once.

    A mention that can name several items (a repeated catalogue title) stands for the smallest id,
    as :meth:`~recbench.metrics.titles.TitleMatcher.first` reads it: one mention, one item fed back.
    """
    return list(dict.fromkeys(m.item_ids[0] for m in ctx.matcher.matches(text)))


def retrieved_items(texts: list[str], ctx: MetricContext, k: int) -> list[list[int]]:
    """For each free-text answer, the ``k`` catalogue items whose titles are nearest it (MiniLM cosine).

    The sequence runs from the ``k``-th nearest to the nearest, so the best match is the last (most
    recent) item the recommender reads; ties go to the smaller item id. A blank answer maps to no items.
    """
    out: list[list[int]] = [[] for _ in texts]
    todo = [i for i, t in enumerate(texts) if t.strip()]
    if not todo:
        return out
    sims = ctx.embedder.encode([texts[i] for i in todo]) @ ctx.catalog_embeddings.T
    for i, row in zip(todo, sims, strict=True):
        order = np.lexsort((np.arange(row.shape[0]), -row))[:k]  # by similarity, then by id
        out[i] = [int(j) + 1 for j in reversed(order)]
    return out


def answer_items(texts: list[str], how: str, ctx: MetricContext, k: int) -> list[list[int]]:
    """The items each answer stands for: by title (``how="titles"``) or by retrieval (``"retrieval"``, ``k`` items)."""
    if how == "retrieval":
        return retrieved_items(texts, ctx, k)
    return [title_items(t, ctx) for t in texts]


class _RoundTripMetric(Metric):
    needs = ("rec_top10", "roundtrip")  # a task using it declares `inputs: [rec_top10, roundtrip]`

    def per_sample(self, samples: list[Sample], ctx: MetricContext) -> list[float]:
        out = []
        for s in samples:
            self.require(s, "rec_top10")
            self.require(s, "roundtrip")
            out.append(self.value(s))
        return out

    def value(self, sample: Sample) -> float:
        raise NotImplementedError


class RoundTripOverlapAt10(_RoundTripMetric):
    """Share of the window's top-10 that the answer's items, fed back, also put in the top-10.

    ``|rec_top10 ∩ roundtrip.top10| / |rec_top10|``: 1.0 when the answer leads to the same ten items
    (in any order), 0.0 when it leads to none of them or names no item.
    """

    name = "roundtrip_overlap_at_10"

    def value(self, sample: Sample) -> float:
        assert sample.roundtrip is not None
        return len(set(sample.rec_top10) & set(sample.roundtrip.top10)) / len(sample.rec_top10)


class RoundTripTop1RR(_RoundTripMetric):
    """Reciprocal rank of the window's own top-1 in the ranking the answer's items lead to.

    ``1 / roundtrip.top1_rank``: 1.0 when the answer leads the recommender to the same first item,
    0.1 at rank 10; 0.0 when the answer names no item. (The mean over samples is the MRR; the rank
    itself is kept on each sample.)
    """

    name = "roundtrip_top1_rr"

    def value(self, sample: Sample) -> float:
        assert sample.roundtrip is not None
        rank = sample.roundtrip.top1_rank
        return 0.0 if rank is None else 1.0 / rank
