"""Scoring the interpreter's text: item mentions, genres, retrieval, ROUGE and embedding similarity.

Metric classes are registered under the ``recbench.metrics`` entry-point group; look them up with
``recbench.registry.metrics.get(name)`` and run them with :func:`score_samples`. Importing this
package loads neither the sentence embedder nor ``rouge_score``.
"""

from recbench.metrics.base import Metric, MetricContext, Sample, Score, bootstrap_ci, score_samples
from recbench.metrics.titles import TitleMatcher, normalise_text, normalise_title

__all__ = [
    "Metric",
    "MetricContext",
    "Sample",
    "Score",
    "TitleMatcher",
    "bootstrap_ci",
    "normalise_text",
    "normalise_title",
    "score_samples",
]
