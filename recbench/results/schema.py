"""The results schema (docs/results_format.md, schema version 1): the one definition of a valid results.json.

:func:`check_schema` returns every defect as ``"<field>: <problem>"``; an empty list means the file has
every field the leaderboard shows, each of the right JSON type, and names that are safe as paths. The
writer (:func:`recbench.results.write_run`) refuses to write what it rejects, the reader
(:func:`recbench.results.load_results`, behind ``recbench score``, the lm-eval runner and reload)
refuses to read it, and ``leaderboard validate`` lists every defect.

Why a declarative table and not a schema library: the file is plain JSON written by one function
and read by a handful; a field table gives one-line messages naming the dotted field, which the
leaderboard needs for every defect at once, with no new dependency.
"""

from __future__ import annotations

import math
import re
from datetime import datetime

from recbench.names import name_problem, shown, type_name

# JSON types by name; "integer" excludes booleans and floats, "number" excludes booleans.
_TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}

# (dotted field, allowed types, required). Keys containing "@" ("hr@10") are fine: only "." splits.
FIELDS: list[tuple[str, tuple[str, ...], bool]] = [
    ("schema_version", ("integer",), True),
    ("run_id", ("string",), True),
    ("created", ("string",), True),
    ("command", ("string",), True),
    ("recbench", ("object",), True),
    ("recbench.version", ("string",), True),
    ("recbench.git_commit", ("string", "null"), False),
    ("recbench.git_dirty", ("boolean", "null"), False),
    ("dataset", ("object",), True),
    ("dataset.name", ("string",), True),
    ("dataset.sha256", ("string",), True),
    ("dataset.users", ("integer",), True),
    ("dataset.items", ("integer",), True),
    ("dataset.interactions", ("integer",), True),
    ("dataset.data_dir", ("string", "null"), False),
    ("recommender", ("object",), True),
    ("recommender.name", ("string",), True),
    ("recommender.checkpoint_sha256", ("string", "null"), True),
    ("recommender.test", ("object",), True),
    ("recommender.test.hr@10", ("number",), True),
    ("interpreter", ("object",), True),
    ("interpreter.kind", ("string",), True),
    ("interpreter.name", ("string",), True),
    ("interpreter.label", ("string",), True),
    ("interpreter.llm", ("string", "null"), True),
    ("interpreter.adapter", ("string", "null"), True),
    ("config", ("object",), True),
    ("seeds", ("object",), True),
    ("hardware", ("object",), True),
    ("timings", ("object",), True),
    ("tasks", ("object",), True),
    # sha256 of samples.jsonl exactly as written (uncompressed); runs written before it existed lack it
    ("samples_sha256", ("string",), False),
]
KINDS = ("llm", "baseline")
SCORE_FIELDS = (("value", "number"), ("low", "number"), ("high", "number"), ("n", "integer"))
SHA256 = re.compile(r"[0-9a-f]{64}")
# Rounding slack when checking low <= value <= high and a metric's range: a mean and its bootstrap
# percentiles of identical values may differ in the last bits.
SLACK = 1e-9
# The range of each built-in metric's per-sample value (so of its mean, interval and control):
# every metric not listed here is a rate in [0, 1]; a metric of a plug-in is not range-checked.
METRIC_RANGES: dict[str, tuple[float, float]] = {
    "embedding_similarity": (-1.0, 1.0),  # cosine
    "recovered_items": (0.0, math.inf),  # a count of items
}
RATE_METRICS = frozenset(
    {
        "hit_at_1",
        "top1_agreement",
        "retrieval_hit_at_5",
        "retrieval_hit_at_10",
        "item_recall",
        "item_precision",
        "rouge1",
        "rouge2",
        "rougeL",
        "genre_hit",
    }
)


def metric_range(metric: str) -> tuple[float, float] | None:
    """``(lowest, highest)`` value of a built-in metric; None for one this table does not know."""
    if metric in METRIC_RANGES:
        return METRIC_RANGES[metric]
    return (0.0, 1.0) if metric in RATE_METRICS else None


def _get(data: dict, dotted: str) -> tuple[bool, object]:
    node: object = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _is(value: object, types: tuple[str, ...]) -> bool:
    return any(_TYPES[t](value) for t in types)


def _type_problem(where: str, value: object, types: tuple[str, ...]) -> str:
    return f"{where}: must be {' or '.join(types)}, got {type_name(value)}"


def non_finite(obj: object, where: str = "") -> list[str]:
    """``"<field>: non-finite number"`` for every NaN or infinity in a parsed JSON tree.

    ``json`` turns ``1e999`` into ``inf`` without complaint, so parsing alone does not catch all.
    Iterative, so no nesting depth can exhaust the stack.
    """
    out: list[str] = []
    stack = [(obj, where)]
    while stack:
        node, at = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            out.append(
                f"{at or '(top level)'}: non-finite number {node} (NaN and infinities are not allowed)"
            )
        elif isinstance(node, dict):
            stack += [(v, f"{at}.{k}" if at else str(k)) for k, v in reversed(node.items())]
        elif isinstance(node, list):
            stack += [(v, f"{at}[{i}]") for i, v in reversed(list(enumerate(node)))]
    return out


def check_score(where: str, score: object, metric: str | None = None) -> list[str]:
    """A ``{"value", "low", "high", "n"}`` block: every field present, of the right type and range.

    ``n`` is positive, ``low <= value <= high``, and each number lies in ``metric``'s range.
    """
    if not isinstance(score, dict):
        return [_type_problem(where, score, ("object",))]
    out = []
    for key, kind in SCORE_FIELDS:
        if key not in score:
            out.append(f"{where}.{key}: missing field")
        elif not _TYPES[kind](score[key]):
            out.append(_type_problem(f"{where}.{key}", score[key], (kind,)))
    if out:
        return out
    if score["n"] < 1:
        out.append(f"{where}.n: must be at least 1, got {score['n']}")
    if not score["low"] - SLACK <= score["value"] <= score["high"] + SLACK:
        out.append(
            f"{where}: value {score['value']!r} must lie within its interval "
            f"[{score['low']!r}, {score['high']!r}]"
        )
    bounds = metric_range(metric) if metric else None
    if bounds is not None:
        lo, hi = bounds
        for key in ("value", "low", "high"):
            if not lo - SLACK <= score[key] <= hi + SLACK:
                out.append(f"{where}.{key}: {score[key]!r} is outside {metric}'s range [{lo:g}, {hi:g}]")
    return out


def check_task(task: str, block: object) -> list[str]:
    """One ``tasks.<task>`` block: version, n, main_metric, metrics, controls and gap."""
    where = f"tasks.{task}"
    problem = name_problem(task)
    if problem:
        return [f"{where}: task name {problem}"]
    if not isinstance(block, dict):
        return [_type_problem(where, block, ("object",))]
    out = []
    for key, types in (("version", ("integer",)), ("n", ("integer",)), ("main_metric", ("string",))):
        if key not in block:
            out.append(f"{where}.{key}: missing field")
        elif not _is(block[key], types):
            out.append(_type_problem(f"{where}.{key}", block[key], types))
    for key in ("version", "n"):
        if _is(block.get(key), ("integer",)) and block[key] < 1:
            out.append(f"{where}.{key}: must be at least 1, got {block[key]}")
    metrics = block.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        out.append(f"{where}.metrics: must be a non-empty object")
        return out
    for name, score in metrics.items():
        if problem := name_problem(name):
            out.append(f"{where}.metrics: metric name {problem}")
            continue
        out += check_score(f"{where}.metrics.{name}", score, name)
    if isinstance(block.get("main_metric"), str) and block["main_metric"] not in metrics:
        out.append(f"{where}.main_metric: {shown(block['main_metric'])} is not one of the task's metrics")
    controls = block.get("controls", {})
    if not isinstance(controls, dict):
        out.append(_type_problem(f"{where}.controls", controls, ("object",)))
    else:
        for control, scores in controls.items():
            if problem := name_problem(control):
                out.append(f"{where}.controls: control name {problem}")
                continue
            if not isinstance(scores, dict):
                out.append(_type_problem(f"{where}.controls.{control}", scores, ("object",)))
                continue
            for name, score in scores.items():
                if problem := name_problem(name):
                    out.append(f"{where}.controls.{control}: metric name {problem}")
                    continue
                out += check_score(f"{where}.controls.{control}.{name}", score, name)
    gap = block.get("gap", {})
    if not isinstance(gap, dict):
        out.append(_type_problem(f"{where}.gap", gap, ("object",)))
    else:
        for name, v in gap.items():
            if problem := name_problem(name):
                out.append(f"{where}.gap: metric name {problem}")
            elif not _is(v, ("number",)):
                out.append(_type_problem(f"{where}.gap.{name}", v, ("number",)))
            elif (bounds := metric_range(name)) is not None:
                widest = bounds[1] - bounds[0]
                if not -widest - SLACK <= v <= widest + SLACK:
                    out.append(f"{where}.gap.{name}: {v!r} is outside [{-widest:g}, {widest:g}]")
    return out


def _range_problems(data: dict) -> list[str]:
    out = []
    card = data.get("dataset") if isinstance(data.get("dataset"), dict) else {}
    for key in ("users", "items", "interactions"):
        if _is(card.get(key), ("integer",)) and card[key] < 1:
            out.append(f"dataset.{key}: must be at least 1, got {card[key]}")
    for dotted in ("dataset.sha256", "samples_sha256"):
        present, value = _get(data, dotted)
        if present and isinstance(value, str) and not SHA256.fullmatch(value):
            out.append(f"{dotted}: {shown(value)} is not a sha256 (64 lower-case hex digits)")
    present, hr = _get(data, "recommender.test.hr@10")
    if present and _is(hr, ("number",)) and not 0 <= hr <= 1:
        out.append(f"recommender.test.hr@10: {hr!r} is outside [0, 1]")
    if _is(data.get("schema_version"), ("integer",)) and data["schema_version"] < 1:
        out.append(f"schema_version: must be at least 1, got {data['schema_version']}")
    return out


def check_schema(data: dict) -> list[str]:
    """Every schema defect of a parsed results.json, one ``"<field>: <problem>"`` string each."""
    out = []
    for dotted, types, required in FIELDS:
        present, value = _get(data, dotted)
        parent_present = "." not in dotted or _get(data, dotted.rsplit(".", 1)[0])[0]
        if not present:
            if required and parent_present:
                out.append(f"{dotted}: missing field")
        elif not _is(value, types):
            out.append(_type_problem(dotted, value, types))
    if isinstance(data.get("run_id"), str) and (problem := name_problem(data["run_id"])):
        out.append(f"run_id: {problem}")
    if isinstance(data.get("created"), str):
        try:
            datetime.fromisoformat(data["created"])
        except ValueError:
            out.append(f"created: {shown(data['created'])} is not an ISO 8601 date-time")
    interp = data.get("interpreter") if isinstance(data.get("interpreter"), dict) else {}
    if isinstance(interp.get("kind"), str) and interp["kind"] not in KINDS:
        out.append(f"interpreter.kind: {shown(interp['kind'])} must be one of {', '.join(KINDS)}")
    if isinstance(interp.get("name"), str) and (problem := name_problem(interp["name"])):
        out.append(f"interpreter.name: {problem}")
    for section, kinds in (("seeds", ("integer",)), ("timings", ("number", "null"))):
        if isinstance(data.get(section), dict):
            for k, v in data[section].items():
                if not _is(v, kinds):
                    out.append(_type_problem(f"{section}.{k}", v, kinds))
                elif isinstance(v, (int, float)) and v < 0:
                    out.append(f"{section}.{k}: must be >= 0, got {v!r}")
    out += _range_problems(data)
    tasks = data.get("tasks")
    if isinstance(tasks, dict):
        if not tasks:
            out.append("tasks: must be a non-empty object")
        for task, block in tasks.items():
            out += check_task(task, block)
    return out
