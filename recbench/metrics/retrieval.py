"""Retrieval metrics: does the output's sentence embedding point at the right catalogue item?

The output and every catalogue title (article in front: "The Usual Suspects (1995)") are embedded
with the offline MiniLM model; items are ranked by cosine similarity to the output. This credits an
output that describes or misspells the item, which title matching cannot.
"""

from __future__ import annotations

import numpy as np

from recbench.errors import ConfigError
from recbench.metrics.base import Metric, MetricContext, Sample


def target_ranks(samples: list[Sample], ctx: MetricContext) -> list[int]:
    """0-based rank of each sample's first target item among catalogue items, by cosine to the output.

    Ties go to the smaller item id, so ranks are deterministic. Items with exactly the target's title
    (repeated catalogue titles) are not counted ahead of it: no text can tell them apart.
    """
    for s in samples:
        if not s.target_items:
            raise ConfigError(f"retrieval: sample {s.id!r} has no target_items")
        if not 1 <= s.target_items[0] <= ctx.n_items:
            raise ConfigError(
                f"retrieval: sample {s.id!r} has target item {s.target_items[0]}, outside 1..{ctx.n_items}"
            )
    if not samples:
        return []
    catalog = ctx.catalog_embeddings
    titles = np.array([item.title for item in ctx.catalog], dtype=object)
    outputs = ctx.embedder.encode([s.output for s in samples])
    sims = outputs @ catalog.T  # rows are unit length, so this is cosine similarity
    ids = np.arange(1, ctx.n_items + 1)
    ranks = []
    for row, s in zip(sims, samples, strict=True):
        target = s.target_items[0]
        score = row[target - 1]
        ahead = (row > score) | ((row == score) & (ids < target))
        ahead &= titles != titles[target - 1]
        ranks.append(int(ahead.sum()))
    return ranks


class _RetrievalHit(Metric):
    k = 0
    uses_embedder = True

    def per_sample(self, samples: list[Sample], ctx: MetricContext) -> list[float]:
        """1.0 if the first target item ranks in the top ``k``, else 0.0."""
        return [1.0 if rank < self.k else 0.0 for rank in target_ranks(samples, ctx)]


class RetrievalHitAt5(_RetrievalHit):
    """1 if the first target item is among the 5 catalogue titles closest to the output (MiniLM cosine).

    Ties between equally close items go to the smaller item id.
    """

    name = "retrieval_hit_at_5"
    k = 5


class RetrievalHitAt10(_RetrievalHit):
    """1 if the first target item is among the 10 catalogue titles closest to the output (MiniLM cosine).

    Ties between equally close items go to the smaller item id.
    """

    name = "retrieval_hit_at_10"
    k = 10
