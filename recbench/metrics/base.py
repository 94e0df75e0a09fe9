"""What metrics score (:class:`Sample`), what they may use (:class:`MetricContext`), and aggregation.

A metric turns a list of samples into one float per sample; :func:`score_samples` stores those
values on the samples and summarises each metric as a mean with a seeded 95% bootstrap interval.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from recbench.data.base import Item
from recbench.errors import ConfigError, RecbenchError
from recbench.metrics.titles import TitleMatcher, natural_title

if TYPE_CHECKING:
    from recbench.metrics.embedding import SentenceEmbedder


@dataclass
class RoundTrip:
    """What the recommender makes of an answer (round-trip faithfulness; docs/metrics.md).

    ``items``: the catalogue items the answer names, fed back to the recommender as a sequence (in
    the answer's order); ``top10``: the recommender's top-10 for that sequence, best first, over the
    same candidates as the window's own top-10 (the window's items excluded); ``top1_rank``: the
    1-based rank, in that ranking, of the window's own top-1. An answer that names no item has
    ``items == []``, ``top10 == []`` and ``top1_rank is None``: nothing to feed back.
    """

    items: list[int]
    top10: list[int]
    top1_rank: int | None

    @classmethod
    def from_dict(cls, data: object) -> RoundTrip | None:
        """Inverse of ``asdict`` (``None`` stays ``None``); a malformed value raises ``ValueError``."""
        if data is None:
            return None
        if not isinstance(data, dict) or set(data) != {"items", "top10", "top1_rank"}:
            raise ValueError("roundtrip must be an object with items, top10 and top1_rank")
        rank = data["top1_rank"]
        return cls(
            items=[int(i) for i in data["items"]],
            top10=[int(i) for i in data["top10"]],
            top1_rank=None if rank is None else int(rank),
        )


OPTIONAL = ("rec_top10", "next_item", "roundtrip")  # inputs added after samples.jsonl's first format


@dataclass
class Sample:
    """One scored instance; also one line of samples.jsonl.

    ``target_items`` are the internal item ids the output should name: the window's items
    (seq_recovery, description) or the one item (residual_id, next_item). ``rec_top1`` is the
    recommender's own top-1 item and ``rec_top10`` its top-10, best first (items in the window
    excluded); ``next_item`` the window's true next item; ``target_genres`` the window's main genres
    (description); ``roundtrip`` what the recommender makes of the answer (round-trip faithfulness).
    Each is filled only when the task declares the input (``inputs:`` in its YAML).
    """

    id: str
    task: str
    prompt: str
    target: str
    output: str
    target_items: list[int]
    rec_top1: int | None = None
    target_genres: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    rec_top10: list[int] = field(default_factory=list)
    next_item: int | None = None
    roundtrip: RoundTrip | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict: every field, but the optional inputs only when set (:data:`OPTIONAL`)."""
        out = asdict(self)
        for name in OPTIONAL:
            if out[name] in (None, []):
                del out[name]  # a task that does not declare the input writes the lines it always wrote
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sample:
        """Inverse of :meth:`to_dict`; a missing or unknown field is a :class:`ConfigError`."""
        names = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
        missing = sorted(required - set(data))
        unknown = sorted(set(data) - names)
        where = f"sample {data.get('id', '?')!r}"
        if missing:
            raise ConfigError(f"{where}: missing field(s) {', '.join(missing)}")
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}")
        try:
            return cls(
                id=str(data["id"]),
                task=str(data["task"]),
                prompt=str(data["prompt"]),
                target=str(data["target"]),
                output=str(data["output"]),
                target_items=[int(i) for i in data["target_items"]],
                rec_top1=None if data.get("rec_top1") is None else int(data["rec_top1"]),
                target_genres=[str(g) for g in data.get("target_genres", [])],
                scores={str(k): float(v) for k, v in data.get("scores", {}).items()},
                rec_top10=[int(i) for i in data.get("rec_top10", [])],
                next_item=None if data.get("next_item") is None else int(data["next_item"]),
                roundtrip=RoundTrip.from_dict(data.get("roundtrip")),
            )
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise ConfigError(f"{where}: malformed field: {exc}") from None


class MetricContext:
    """Everything a metric may need besides the samples; built once per run, heavy parts lazily.

    ``embedder`` may be given (tests, or a caller that already holds one); otherwise the offline
    MiniLM model for ``device`` is loaded on first use.
    """

    def __init__(
        self,
        catalog: list[Item],
        device: str = "cpu",
        seed: int = 0,
        embedder: SentenceEmbedder | None = None,
    ):
        self.catalog = list(catalog)
        self.device = device
        self.seed = seed
        self._embedder = embedder

    @property
    def n_items(self) -> int:
        """Catalogue size; item ids run from 1 to this."""
        return len(self.catalog)

    def title(self, item_id: int) -> str:
        """Display title of internal item ``item_id``."""
        return self.catalog[item_id - 1].title

    @cached_property
    def matcher(self) -> TitleMatcher:
        """Title matcher over the catalogue."""
        return TitleMatcher(self.catalog)

    @property
    def embedder(self) -> SentenceEmbedder:
        """The sentence embedder (loaded on first use, shared across contexts of one device)."""
        if self._embedder is None:
            from recbench.metrics.embedding import load_embedder

            self._embedder = load_embedder(self.device)
        return self._embedder

    @cached_property
    def catalog_embeddings(self) -> np.ndarray:
        """``(n_items, dim)`` unit-length embeddings of the titles, article in front; row i-1 is item i."""
        return self.embedder.encode([natural_title(item.title) for item in self.catalog])


class Metric:
    """Base class: subclasses set ``name`` and implement :meth:`per_sample`."""

    name: str = ""
    higher_is_better = True
    # task inputs (recbench/tasks/inputs.py) the metric reads; a task using it must declare them
    needs: tuple[str, ...] = ()
    # scored with the neural sentence embedder: float32 inference may differ in the last digits
    # between machines and batchings, so re-scoring compares it with a looser tolerance
    uses_embedder = False

    def per_sample(self, samples: list[Sample], ctx: MetricContext) -> list[float]:
        """One value per sample, in order."""
        raise NotImplementedError

    def require(self, sample: Sample, what: str) -> None:
        """Raise a :class:`ConfigError` naming this metric and ``sample`` when ``what`` is empty."""
        value = getattr(sample, what)
        if value is None or (isinstance(value, (list, tuple)) and not value):
            raise ConfigError(f"metric {self.name}: sample {sample.id!r} has no {what}")


@dataclass
class Score:
    """A metric's mean over samples with its 95% bootstrap interval."""

    value: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        """``{"value", "low", "high", "n"}``."""
        return asdict(self)


def bootstrap_ci(values: list[float], seed: int = 0, resamples: int = 1000) -> Score:
    """Mean of ``values`` with a seeded percentile-bootstrap 95% interval.

    Resampling uses ``numpy.random.Generator(PCG64(seed))``, so the same values and seed always give
    the same interval. No values, or a non-finite one, is a :class:`ConfigError`: an empty mean has
    no meaning, and a silent 0 or NaN would end up in a results table.
    """
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        raise ConfigError("cannot summarise a metric over zero samples")
    if not np.all(np.isfinite(data)):
        raise ConfigError("cannot summarise a metric with non-finite values")
    if resamples < 1:
        raise ConfigError(f"bootstrap resamples must be at least 1, got {resamples}")
    rng = np.random.Generator(np.random.PCG64(seed))
    n = data.size
    # Chunks bound memory (resamples x n indices at once would be large for big runs); the chunk
    # size depends only on n, so the result stays a function of (values, seed, resamples).
    rows = max(1, 2_000_000 // n)
    means = np.empty(resamples)
    for lo in range(0, resamples, rows):
        hi = min(resamples, lo + rows)
        means[lo:hi] = data[rng.integers(0, n, size=(hi - lo, n))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Score(float(data.mean()), float(low), float(high), int(n))


def score_samples(
    samples: list[Sample], metric_names: list[str], ctx: MetricContext, seed: int = 0
) -> dict[str, Score]:
    """Run each named metric, store per-sample values in ``sample.scores``, return the summaries.

    Metrics are looked up in :data:`recbench.registry.metrics` before any is run, so a misspelt name
    fails fast. Each metric's interval uses ``seed``.
    """
    from recbench import registry

    names = list(dict.fromkeys(metric_names))
    classes = {name: registry.metrics.get(name) for name in names}
    results: dict[str, Score] = {}
    for name, cls in classes.items():
        metric = cls()
        values = [float(v) for v in metric.per_sample(samples, ctx)]
        if len(values) != len(samples):
            raise RecbenchError(f"metric {name} returned {len(values)} values for {len(samples)} samples")
        for sample, value in zip(samples, values, strict=True):
            if not math.isfinite(value):
                raise RecbenchError(f"metric {name} gave a non-finite value for sample {sample.id!r}")
            sample.scores[name] = value
        results[name] = bootstrap_ci(values, seed=seed)
    return results
