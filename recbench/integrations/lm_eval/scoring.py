"""lm-eval's ``process_results`` and aggregations for exported recbench tasks: recbench's metric code.

``process_results`` keeps each document's sample (what recbench's metrics read: target, target items,
the recommender's top-1, genres) with the model's output; each metric's aggregation then scores all of
a task's samples in one call to :func:`recbench.metrics.base.score_samples`, the call ``recbench
run`` makes, so lm-eval reports the numbers results.json holds.

Besides each metric ``m`` lm-eval also reports, from the same scores:

* ``m_stderr`` (lm-eval's "Stderr" column): ``(high - low) / (2 * 1.96)``, the standard error a normal
  distribution would give recbench's bootstrap 95% interval;
* ``m_low``, ``m_high``: that interval (results.json's ``low`` / ``high``);
* on the real task, when its shuffled control is evaluated in the same lm-eval call: ``m_shuffled``
  (the control's value) and ``m_gap`` (real minus shuffled, results.json's ``gap``); ``"N/A"`` (lm-eval's
  own mark for a missing number) when the control was not evaluated with it.

lm-eval 0.4.13 gives an aggregation only its own metric's per-document values, so the extra metrics
carry a small reference per document (``{"id", "task", "condition"}``) and read the samples that
``process_results`` recorded in this process (see :class:`_Store`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from recbench.metrics.base import MetricContext, Sample, Score, score_samples
from recbench.metrics.embedding_cache import CachedEmbedder

SAMPLE_FIELDS = ("id", "task", "prompt", "target", "target_items", "rec_top1", "target_genres", "rec_top10",
                 "next_item")  # fmt: skip
Z95 = 1.959963984540054  # the normal quantile of a two-sided 95% interval
INTERVAL = ("stderr", "low", "high")  # extras on every exported task
CONTROL = ("shuffled", "gap")  # extras on a real task whose shuffled control is exported
NOT_AVAILABLE = "N/A"


def extra_metrics(metric: str, condition: str, controls: bool) -> list[tuple[str, str]]:
    """``(lm-eval metric name, field)`` for ``metric`` on a task of ``condition``; field "value" first."""
    fields = ["value", *INTERVAL] + (list(CONTROL) if condition == "real" and controls else [])
    return [(metric if f == "value" else f"{metric}_{f}", f) for f in fields]


class _Store:
    """The samples ``process_results`` saw, per (run, task, condition), for the aggregations that follow.

    lm-eval's ``evaluate`` calls ``process_results`` for every document of every task, then every
    aggregation. An aggregation reads the samples of the current *evaluation*: ``epoch`` moves on at the
    first ``process_results`` after an aggregation, so a second ``simple_evaluate`` in the same process
    never mixes its samples (or a control it did not run) with the first one's.
    """

    def __init__(self) -> None:
        self.epoch = 0
        self.aggregating = False
        self.samples: dict[tuple[str, str, str], tuple[int, dict[str, dict]]] = {}

    def put(self, run_id: str, condition: str, sample: dict) -> None:
        if self.aggregating:
            self.epoch, self.aggregating = self.epoch + 1, False
        key = (run_id, sample["task"], condition)
        epoch, by_id = self.samples.get(key, (self.epoch, {}))
        if epoch != self.epoch:
            by_id = {}
        by_id[sample["id"]] = sample
        self.samples[key] = (self.epoch, by_id)

    def get(self, run_id: str, task: str, condition: str) -> dict[str, dict] | None:
        self.aggregating = True
        epoch, by_id = self.samples.get((run_id, task, condition), (-1, {}))
        return by_id if epoch == self.epoch else None


STORE = _Store()


def processor(
    run_id: str, metrics: list[str], condition: str, controls: bool
) -> Callable[[dict, list], dict]:
    """``process_results(doc, results)``: the sample for each metric, a reference for each extra."""

    def process_results(doc: dict, results: list) -> dict:
        # (a file exported before a field existed lacks it)
        sample = {k: doc[k] for k in SAMPLE_FIELDS if k in doc}
        sample["output"] = results[0] if results else ""
        STORE.put(run_id, condition, sample)
        ref = {"id": sample["id"], "task": sample["task"], "condition": condition}
        out: dict = {}
        for metric in metrics:
            for name, field in extra_metrics(metric, condition, controls):
                out[name] = sample if field == "value" else ref
        return out

    return process_results


@lru_cache(maxsize=4)
def _context(name: str, data_dir: str | None, sha256: str, seed: int) -> MetricContext:
    from recbench.data.checked import load_checked

    data = load_checked(name, data_dir, sha256, "the exported tasks")
    return MetricContext(data.items, device="cpu", seed=seed, embedder=CachedEmbedder("cpu"))


_SCORES: dict[tuple, Score] = {}


def _score(metric: str, samples: list[dict], run: dict) -> Score:
    """recbench's score of ``metric`` over ``samples`` (memoised on the samples' ids and outputs)."""
    key = (run["run_id"], metric, tuple((s["task"], s["id"], s["output"]) for s in samples))
    if key not in _SCORES:
        ctx = _context(
            run["dataset"]["name"], run["dataset"].get("data_dir"), run["dataset"]["sha256"], run["seed"]
        )
        built = [Sample.from_dict(dict(s)) for s in samples]
        _SCORES[key] = score_samples(built, [metric], ctx, seed=run["seed"])[metric]
    return _SCORES[key]


def _samples_of(refs: list[dict], run_id: str) -> tuple[str, list[dict]]:
    """The recorded samples behind ``refs`` (one task, one condition), in the refs' order."""
    from recbench.errors import ConfigError

    task, condition = refs[0]["task"], refs[0]["condition"]
    recorded = STORE.get(run_id, task, condition) or {}
    missing = [r["id"] for r in refs if r["id"] not in recorded]
    if missing:
        raise ConfigError(
            f"lm-eval aggregated recbench task {task} ({condition}) without its samples ({missing[0]} ...); "
            "evaluate the exported tasks through lm-eval's evaluate, which calls process_results first"
        )
    return task, [recorded[r["id"]] for r in refs]


def aggregator(run: dict, metric: str, field: str = "value") -> Callable[[list], float | str]:
    """An lm-eval aggregation for ``metric`` (``field``: value, stderr, low, high, shuffled or gap).

    ``run``: ``{"run_id", "dataset": {"name", "data_dir", "sha256"}, "seed"}`` of the exported run.
    """

    def aggregate(items: list) -> float | str:
        STORE.aggregating = True
        if field == "value":
            return _score(metric, list(items), run).value
        task, samples = _samples_of(list(items), run["run_id"])
        score = _score(metric, samples, run)
        if field == "stderr":
            return (score.high - score.low) / (2 * Z95)
        if field in ("low", "high"):
            return getattr(score, field)
        control = STORE.get(run["run_id"], task, "shuffled")
        if not control or any(s["id"] not in control for s in samples):
            return NOT_AVAILABLE  # the control was not evaluated (on these documents) in this lm-eval call
        shuffled = _score(metric, [control[s["id"]] for s in samples], run)
        return shuffled.value if field == "shuffled" else score.value - shuffled.value

    aggregate.__name__ = aggregate.__qualname__ = f"recbench_{metric}" + (
        "" if field == "value" else f"_{field}"
    )
    return aggregate
