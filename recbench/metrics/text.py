"""Text-overlap and embedding metrics between the output and the reference text."""

from __future__ import annotations

from functools import cache

import numpy as np

from recbench.metrics.base import Metric, MetricContext, Sample


@cache
def rouge_scorer_for(key: str):
    """A cached ``rouge_score`` scorer for one ROUGE type, with the Porter stemmer."""
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer([key], use_stemmer=True)


class _Rouge(Metric):
    key = ""

    def per_sample(self, samples: list[Sample], ctx: MetricContext) -> list[float]:
        """F1 of ``output`` against ``target``, from ``rouge_score``."""
        scorer = rouge_scorer_for(self.key)
        return [float(scorer.score(s.target, s.output)[self.key].fmeasure) for s in samples]


class Rouge1(_Rouge):
    """ROUGE-1 F1 (unigram overlap, stemmed) of the output against the reference text."""

    name = "rouge1"
    key = "rouge1"


class Rouge2(_Rouge):
    """ROUGE-2 F1 (bigram overlap, stemmed) of the output against the reference text."""

    name = "rouge2"
    key = "rouge2"


class RougeL(_Rouge):
    """ROUGE-L F1 (longest common subsequence, stemmed) of the output against the reference text."""

    name = "rougeL"
    key = "rougeL"


class EmbeddingSimilarity(Metric):
    """Cosine similarity of the MiniLM sentence embeddings of the output and the reference text."""

    name = "embedding_similarity"
    uses_embedder = True

    def per_sample(self, samples: list[Sample], ctx: MetricContext) -> list[float]:
        """Cosine in [-1, 1]; each distinct text is embedded once, in one batch."""
        texts = list(dict.fromkeys([s.output for s in samples] + [s.target for s in samples]))
        index = {t: i for i, t in enumerate(texts)}
        vectors = ctx.embedder.encode(texts)
        out = []
        for s in samples:
            cos = float(np.dot(vectors[index[s.output]], vectors[index[s.target]]))
            out.append(min(1.0, max(-1.0, cos)))  # rounding can leave |cos| a hair above 1
        return out
