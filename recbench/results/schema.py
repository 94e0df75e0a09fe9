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
from datetime import datetime

from recbench.names import name_problem, type_name

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
]
KINDS = ("llm", "baseline")
SCORE_FIELDS = (("value", "number"), ("low", "number"), ("high", "number"), ("n", "integer"))


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
    """
    if isinstance(obj, float) and not math.isfinite(obj):
        return [f"{where or '(top level)'}: non-finite number {obj} (NaN and infinities are not allowed)"]
    out: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += non_finite(v, f"{where}.{k}" if where else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += non_finite(v, f"{where}[{i}]")
    return out


def check_score(where: str, score: object) -> list[str]:
    """A ``{"value", "low", "high", "n"}`` block: every field present and of the right type."""
    if not isinstance(score, dict):
        return [_type_problem(where, score, ("object",))]
    out = []
    for key, kind in SCORE_FIELDS:
        if key not in score:
            out.append(f"{where}.{key}: missing field")
        elif not _TYPES[kind](score[key]):
            out.append(_type_problem(f"{where}.{key}", score[key], (kind,)))
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
    metrics = block.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        out.append(f"{where}.metrics: must be a non-empty object")
        return out
    for name, score in metrics.items():
        out += check_score(f"{where}.metrics.{name}", score)
    if isinstance(block.get("main_metric"), str) and block["main_metric"] not in metrics:
        out.append(f"{where}.main_metric: {block['main_metric']!r} is not one of the task's metrics")
    controls = block.get("controls", {})
    if not isinstance(controls, dict):
        out.append(_type_problem(f"{where}.controls", controls, ("object",)))
    else:
        for control, scores in controls.items():
            if not isinstance(scores, dict):
                out.append(_type_problem(f"{where}.controls.{control}", scores, ("object",)))
                continue
            for name, score in scores.items():
                out += check_score(f"{where}.controls.{control}.{name}", score)
    gap = block.get("gap", {})
    if not isinstance(gap, dict):
        out.append(_type_problem(f"{where}.gap", gap, ("object",)))
    else:
        out += [
            _type_problem(f"{where}.gap.{name}", v, ("number",))
            for name, v in gap.items()
            if not _is(v, ("number",))
        ]
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
            out.append(f"created: {data['created']!r} is not an ISO 8601 date-time")
    interp = data.get("interpreter") if isinstance(data.get("interpreter"), dict) else {}
    if isinstance(interp.get("kind"), str) and interp["kind"] not in KINDS:
        out.append(f"interpreter.kind: {interp['kind']!r} must be one of {', '.join(KINDS)}")
    if isinstance(interp.get("name"), str) and (problem := name_problem(interp["name"])):
        out.append(f"interpreter.name: {problem}")
    for section, kinds in (("seeds", ("integer",)), ("timings", ("number", "null"))):
        if isinstance(data.get(section), dict):
            out += [
                _type_problem(f"{section}.{k}", v, kinds)
                for k, v in data[section].items()
                if not _is(v, kinds)
            ]
    tasks = data.get("tasks")
    if isinstance(tasks, dict):
        if not tasks:
            out.append("tasks: must be a non-empty object")
        for task, block in tasks.items():
            out += check_task(task, block)
    return out
