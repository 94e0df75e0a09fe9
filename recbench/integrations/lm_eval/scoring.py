"""lm-eval's ``process_results`` and aggregations for exported recbench tasks: recbench's metric code.

``process_results`` keeps each document's sample (what recbench's metrics read: target, target items,
the recommender's top-1, genres) with the model's output; each metric's aggregation then scores all of
a task's samples in one call to :func:`recbench.metrics.base.score_samples`, the call ``recbench
run`` makes, so lm-eval reports the numbers results.json holds (lm-eval gives them no stderr: the
bootstrap interval is recbench's, in results.json).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from recbench.metrics.base import MetricContext, Sample, score_samples
from recbench.metrics.embedding_cache import CachedEmbedder

SAMPLE_FIELDS = ("id", "task", "prompt", "target", "target_items", "rec_top1", "target_genres")


def processor(metrics: list[str]) -> Callable[[dict, list], dict]:
    """``process_results(doc, results)`` for a task scored by ``metrics``: ``{metric: sample dict}``."""

    def process_results(doc: dict, results: list) -> dict:
        sample = {k: doc[k] for k in SAMPLE_FIELDS}
        sample["output"] = results[0] if results else ""
        return {m: sample for m in metrics}

    return process_results


@lru_cache(maxsize=4)
def _context(name: str, data_dir: str | None, sha256: str, seed: int) -> MetricContext:
    from recbench.data import load_dataset
    from recbench.errors import ConfigError

    data = load_dataset(name, data_dir)
    if data.sha256 != sha256:
        raise ConfigError(
            f"dataset '{name}' here has sha256 {data.sha256[:12]}, the exported tasks were made with {sha256[:12]}"
        )
    return MetricContext(data.items, device="cpu", seed=seed, embedder=CachedEmbedder("cpu"))


def aggregator(metric: str, dataset: dict, seed: int) -> Callable[[list[dict]], float]:
    """An lm-eval aggregation: recbench's ``metric`` over all of a task's samples (its mean)."""

    def aggregate(items: list[dict]) -> float:
        samples = [Sample.from_dict(dict(item)) for item in items]
        ctx = _context(dataset["name"], dataset.get("data_dir"), dataset["sha256"], seed)
        return score_samples(samples, [metric], ctx, seed=seed)[metric].value

    aggregate.__name__ = aggregate.__qualname__ = f"recbench_{metric}"
    return aggregate
