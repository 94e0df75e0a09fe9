"""``recbench lm-eval run``: export a run's tasks, evaluate them with lm-eval, compare with results.json."""

from __future__ import annotations

import tempfile
from pathlib import Path

from recbench.integrations.lm_eval.export import PREFIX, export_tasks
from recbench.integrations.lm_eval.scoring import CONTROL, INTERVAL, Z95
from recbench.results.compare import close


def evaluate_with_lm_eval(
    run_dir: str | Path,
    tasks: list[str] | None = None,
    controls: bool = True,
    gen_cache: bool = True,
    device: str = "cpu",
    export_dir: str | Path | None = None,
) -> dict:
    """lm-eval's results object for the run's tasks, through ``lm_eval.simple_evaluate`` and the ``recbench`` model."""
    from recbench.integrations.lm_eval import require_lm_eval

    require_lm_eval()
    import lm_eval
    from lm_eval.tasks import TaskManager

    with tempfile.TemporaryDirectory(prefix="recbench-lm-eval-") as tmp:
        folder = Path(export_dir or tmp)
        names = export_tasks(run_dir, folder, tasks, controls=controls)
        return lm_eval.simple_evaluate(
            model="recbench",
            model_args={"run": str(run_dir), "gen_cache": gen_cache, "device": device},
            tasks=names,
            task_manager=TaskManager(include_path=str(folder), include_defaults=False),
            bootstrap_iters=0,  # lm-eval has no bootstrap for recbench's aggregations: m_stderr/_low/_high are recbench's
            log_samples=True,
        )


def _recorded(run_results: dict, task: str, condition: str, metric: str) -> dict[str, float]:
    """results.json's numbers for one metric, under the names of lm-eval's fields."""
    block = run_results["tasks"].get(task, {})
    shuffled = block.get("controls", {}).get("shuffled", {})
    score = (shuffled if condition == "shuffled" else block.get("metrics", {})).get(metric)
    if not score:
        return {}
    out = {k: float(score[k]) for k in ("value", "low", "high")}
    out["stderr"] = (out["high"] - out["low"]) / (2 * Z95)
    if condition == "real" and metric in shuffled:
        out["shuffled"] = float(shuffled[metric]["value"])
    if condition == "real" and metric in block.get("gap", {}):
        out["gap"] = float(block["gap"][metric])
    return out


def compare_with_run(lm_results: dict, run_results: dict) -> list[dict]:
    """One row per (lm-eval task, metric): lm-eval's numbers, results.json's, and whether they agree.

    Row: ``{"task", "metric", "lm": {field: value}, "recorded": {field: value}, "same"}``; fields are
    value, stderr, low, high and, on a real task, shuffled and gap (those lm-eval reported as numbers).
    Agreement is recbench's one comparison rule (:func:`recbench.results.compare.close`).
    """
    rows = []
    for name, block in lm_results["results"].items():
        if not name.startswith(PREFIX):
            continue
        base = name[len(PREFIX) :]
        condition = "shuffled" if base.endswith("_shuffled") else "real"
        task = base.removesuffix("_shuffled")
        metrics = [k.split(",", 1)[0] for k in block if k.endswith(",none")]
        for metric in metrics:
            fields = [
                (metric if f == "value" else f"{metric}_{f}", f) for f in ("value", *INTERVAL, *CONTROL)
            ]
            if any(
                metric.endswith(f"_{f}") and metric[: -len(f) - 1] in metrics for f in (*INTERVAL, *CONTROL)
            ):
                continue  # an extra field of another metric
            lm = {
                f: block[f"{key},none"]
                for key, f in fields
                if isinstance(block.get(f"{key},none"), int | float)
            }
            recorded = _recorded(run_results, task, condition, metric)
            same = (
                "value" in lm
                and bool(recorded)
                and all(f in recorded and close(metric, float(v), recorded[f]) for f, v in lm.items())
            )
            rows.append({"task": name, "metric": metric, "lm": lm, "recorded": recorded, "same": same})
    return rows
