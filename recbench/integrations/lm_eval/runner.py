"""``recbench lm-eval run``: export a run's tasks, evaluate them with lm-eval, compare with results.json."""

from __future__ import annotations

import tempfile
from pathlib import Path

from recbench.integrations.lm_eval.export import PREFIX, export_tasks


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
            bootstrap_iters=0,  # recbench's bootstrap intervals are in results.json
            log_samples=True,
        )


def compare_with_run(
    lm_results: dict, run_results: dict, tol: float = 1e-9
) -> list[tuple[str, str, float, float | None, bool]]:
    """``(lm-eval task, metric, lm-eval value, results.json value, equal)`` for every metric lm-eval reported."""
    rows = []
    for name, block in lm_results["results"].items():
        if not name.startswith(PREFIX):
            continue
        base = name[len(PREFIX) :]
        shuffled = base.endswith("_shuffled")
        task = base.removesuffix("_shuffled")
        recorded = run_results["tasks"].get(task, {})
        scores = recorded.get("controls", {}).get("shuffled", {}) if shuffled else recorded.get("metrics", {})
        for key, value in block.items():
            if not key.endswith(",none") or "_stderr" in key:
                continue
            metric = key.split(",", 1)[0]
            claimed = scores.get(metric, {}).get("value")
            same = claimed is not None and abs(float(value) - claimed) <= tol
            rows.append((name, metric, float(value), claimed, same))
    return rows
