"""The one comparison of claimed scores with re-computed ones, used by ``recbench score``,
``leaderboard validate`` and the lm-eval runner.

Tolerance rule (one for all callers): a metric whose class sets ``uses_embedder`` (scored with the
MiniLM sentence embedder, whose float32 inference may differ in the last digits across CPUs, batch
shapes and library versions) must be reproduced to within ``EMBEDDER_TOLERANCE`` = 1e-4 in absolute
value; every other metric (pure functions of the text) to within ``EXACT_TOLERANCE`` = 1e-9, i.e.
exactly up to float rounding. The gap and the control scores of a metric use the metric's tolerance;
``n`` must be equal.
"""

from __future__ import annotations

from recbench import registry
from recbench.errors import UnknownNameError

EXACT_TOLERANCE = 1e-9
EMBEDDER_TOLERANCE = 1e-4


def tolerance(metric: str) -> float:
    """Largest absolute difference allowed between a claimed and a re-computed value of ``metric``."""
    try:
        cls = registry.metrics.get(metric)
    except UnknownNameError:
        return EXACT_TOLERANCE
    return EMBEDDER_TOLERANCE if getattr(cls, "uses_embedder", False) else EXACT_TOLERANCE


def close(metric: str, claimed: float, actual: float) -> bool:
    """Whether ``claimed`` reproduces ``actual`` under ``metric``'s tolerance."""
    return _close(claimed, actual, tolerance(metric))


def _close(claimed: float, actual: float, tol: float) -> bool:
    return abs(float(claimed) - float(actual)) <= tol


def compare_scores(where: str, claimed: dict, actual: dict, tol: float) -> list[str]:
    """Differences between a claimed and a re-computed ``{"value", "low", "high", "n"}`` block."""
    out = []
    for key in ("value", "low", "high"):
        if not _close(claimed[key], actual[key], tol):
            out.append(
                f"{where}.{key}: claimed {claimed[key]!r}, re-scoring the samples gives {actual[key]!r}"
            )
    if claimed["n"] != actual["n"]:
        out.append(f"{where}.n: claimed {claimed['n']!r}, the samples have {actual['n']!r}")
    return out


def compare_task(task: str, claimed: dict, actual: dict) -> list[str]:
    """Every way a claimed task block differs from the one re-computed from samples (field: problem)."""
    where = f"tasks.{task}"
    out = []
    if claimed["n"] != actual["n"]:
        out.append(f"{where}.n: claimed {claimed['n']!r}, the samples have {actual['n']!r} real instances")
    for name, score in claimed["metrics"].items():
        out += compare_scores(f"{where}.metrics.{name}", score, actual["metrics"][name], tolerance(name))
    claimed_controls, actual_controls = claimed.get("controls", {}), actual["controls"]
    for control in sorted(set(claimed_controls) | set(actual_controls)):
        if control not in actual_controls:
            out.append(
                f"{where}.controls.{control}: claimed, but samples.jsonl has no {control} rows for the task"
            )
            continue
        if control not in claimed_controls:
            out.append(
                f"{where}.controls.{control}: samples.jsonl has {control} rows, results.json no scores"
            )
            continue
        for name, score in actual_controls[control].items():
            if name not in claimed_controls[control]:
                out.append(f"{where}.controls.{control}.{name}: missing field")
                continue
            out += compare_scores(
                f"{where}.controls.{control}.{name}", claimed_controls[control][name], score, tolerance(name)
            )
    claimed_gap = claimed.get("gap", {})
    for name in sorted(set(claimed_gap) | set(actual["gap"])):
        if name not in actual["gap"]:
            out.append(f"{where}.gap.{name}: claimed, but there is no control to take it from")
        elif name not in claimed_gap:
            out.append(f"{where}.gap.{name}: missing field")
        elif not _close(claimed_gap[name], actual["gap"][name], tolerance(name)):
            out.append(
                f"{where}.gap.{name}: claimed {claimed_gap[name]!r}, re-scoring gives {actual['gap'][name]!r}"
            )
    return out
