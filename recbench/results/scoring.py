"""Score samples into the per-task block of results.json; re-score a saved run without any model."""

from __future__ import annotations

from pathlib import Path

from recbench.errors import ConfigError
from recbench.metrics.base import MetricContext, Sample, score_samples
from recbench.results.io import load_results, read_samples


def summarise_task(
    real: list[Sample], shuffled: list[Sample] | None, metric_names: list[str], ctx: MetricContext, seed: int
) -> dict:
    """``{"n", "metrics", "controls", "gap"}`` for one task; per-sample scores are stored on the samples."""
    metrics = score_samples(real, metric_names, ctx, seed=seed)
    block = {
        "n": len(real),
        "metrics": {k: v.to_dict() for k, v in metrics.items()},
        "controls": {},
        "gap": {},
    }
    if shuffled:
        control = score_samples(shuffled, metric_names, ctx, seed=seed)
        block["controls"]["shuffled"] = {k: v.to_dict() for k, v in control.items()}
        block["gap"] = {k: metrics[k].value - control[k].value for k in metrics}
    return block


def task_block(task, scores: dict) -> dict:
    """One ``tasks.<name>`` block of results.json: the task's definition (a TaskSpec), then its scores."""
    return {
        "version": task.version,
        "main_metric": task.main_metric,
        "generation": {"max_new_tokens": task.max_new_tokens, "until": list(task.until), "greedy": True},
        **scores,
    }


def rescore_run(folder: Path, ctx: MetricContext | None = None) -> tuple[dict, dict]:
    """Recompute every task block of a run from its samples.

    Returns ``(claimed results.json, recomputed task blocks)``. The dataset is loaded to get the
    catalogue (titles, genres) and must have the sha256 the run recorded.
    """
    results = load_results(folder)
    samples = read_samples(folder)
    if ctx is None:
        ctx = context_for(results)
    seed = int(results.get("seeds", {}).get("bootstrap", 0))
    recomputed = {}
    for task, block in results["tasks"].items():
        groups = samples.by_task.get(task, {})
        if not groups.get("real"):
            raise ConfigError(f"{folder}: task '{task}' has no real samples in samples.jsonl")
        names = list(block.get("metrics", {}))
        if not names:
            raise ConfigError(f"{folder}: task '{task}' lists no metrics")
        recomputed[task] = summarise_task(groups["real"], groups.get("shuffled"), names, ctx, seed)
    extra = set(samples.by_task) - set(results["tasks"])
    if extra:
        raise ConfigError(
            f"{folder}: samples.jsonl has tasks not in results.json: {', '.join(sorted(extra))}"
        )
    return results, recomputed


def context_for(results: dict, device: str = "cpu") -> MetricContext:
    """The metric context (catalogue) for a run, from its dataset; the sha256 must match."""
    from recbench.data.checked import load_checked

    card = results["dataset"]
    data = load_checked(card["name"], card.get("data_dir"), card.get("sha256"), "the run")
    return MetricContext(data.items, device=device, seed=int(results.get("seeds", {}).get("bootstrap", 0)))
