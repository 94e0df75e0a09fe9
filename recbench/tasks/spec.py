"""Load and validate ``tasks/*.yaml``.

A task file uses lm-eval's vocabulary (``task``, ``doc_to_text``, ``doc_to_target``,
``output_type: generate_until``, ``generation_kwargs``, ``metric_list``, ``metadata.version``)
plus recbench fields: ``doc_to_latents`` (which sequence is encoded into each ``<rec_emb>``
slot), ``target_items`` (which items the item metrics expect), ``inputs`` (what else the task's
metrics need: the recommender's top-1 / top-10, item genres, the round trip; see
:mod:`recbench.tasks.inputs`) and, optionally, ``answer_items`` (how an answer maps to catalogue items
for the round trip: ``titles`` (the title matcher, the default) or ``retrieval`` (free text: the
catalogue titles nearest it by MiniLM)).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from recbench import registry
from recbench.errors import ConfigError, UnknownNameError
from recbench.tasks.inputs import check_declared
from recbench.tasks.search import builtin_tasks_dir, task_files, task_versions

PLACEHOLDER = "<rec_emb>"
FIELDS = ("titles", "last_title", "next_title", "description", "main_genres", "era", "rec_top1_title")
LATENT_SOURCES = ("window", "window_minus_last")
TARGET_ITEMS = ("window", "last", "next", "rec_top1")
ANSWER_ITEMS = ("titles", "retrieval")
# what a target needs besides the window: template fields and target_items that name the recommender's top-1
_NEEDS_TOP1 = ("rec_top1_title", "rec_top1")
REQUIRED = (
    "task",
    "description",
    "output_type",
    "doc_to_latents",
    "doc_to_text",
    "doc_to_target",
    "target_items",
    "generation_kwargs",
    "metric_list",
    "metadata",
)
_FIELD = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_REF = re.compile(r"^(?P<name>[^@]+)@v?(?P<version>\d+)$")


@dataclass(frozen=True)
class TaskSpec:
    """One validated task definition."""

    name: str
    description: str
    version: int
    doc_to_latents: tuple[str, ...]
    doc_to_text: str
    doc_to_target: str
    target_items: str
    until: tuple[str, ...]
    max_new_tokens: int
    metrics: tuple[str, ...]
    main_metric: str
    path: str
    inputs: tuple[str, ...] = ()  # what the runner provides beyond the window (recbench/tasks/inputs.py)
    answer_items: str = "titles"  # how an answer maps to catalogue items for the round trip

    def render(self, template: str, doc: dict[str, str]) -> str:
        """Fill ``{{ field }}`` placeholders from a document."""
        return _FIELD.sub(lambda m: doc[m.group(1)], template)

    def identity(self) -> dict:
        """What a cache key needs to know about the task."""
        return {
            "name": self.name,
            "version": self.version,
            "text": self.doc_to_text,
            "target": self.doc_to_target,
        }


def tasks_dir() -> Path:
    """The built-in tasks' folder (package data); user tasks come from include paths (:mod:`.search`)."""
    return builtin_tasks_dir()


def available_tasks() -> list[str]:
    """Names of the built-in tasks and of those in the include paths."""
    return sorted(task_files())


def describe_tasks() -> list[tuple[str, str]]:
    """``(name, "v<latest> · description [· earlier: v1, …]")`` for every task, by name."""
    rows = []
    for name, versions in sorted(task_versions().items()):
        latest = max(versions)
        text = f"v{latest} · {load_task(str(versions[latest])).description}"
        if len(versions) > 1:
            earlier = ", ".join(f"v{v}" for v in sorted(versions)[:-1])
            text += f" · earlier: {earlier} (run one with --tasks {name}@{min(versions)})"
        rows.append((name, text))
    return rows


def parse_task_ref(ref: str) -> tuple[str, int | None]:
    """``"description"`` -> ``("description", None)`` (latest); ``"description@1"`` -> ``("description", 1)``."""
    match = _REF.match(ref.strip())
    if match is None:
        return ref, None
    return match["name"], int(match["version"])


def load_task(name_or_path: str, version: int | None = None) -> TaskSpec:
    """A task by name (built-in, then the include paths) or by path to a YAML file; validated.

    A name means the task's latest version; ``version`` (or ``"name@N"``) picks another one. A
    version the task does not have is an :class:`UnknownNameError` listing the versions it has.
    """
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        name, given = parse_task_ref(name_or_path)
        if version is not None and given is not None and given != version:
            raise ConfigError(f"task {name_or_path}: asked for version {version} too")
        version = given if version is None else version
        tasks = task_versions()
        if name not in tasks:
            raise UnknownNameError(registry.unknown_name_message("task", name, sorted(tasks)))
        versions = tasks[name]
        if version is None:
            version = max(versions)
        if version not in versions:
            have = ", ".join(str(v) for v in sorted(versions))
            raise UnknownNameError(f"task {name} has no version {version} (versions: {have})")
        path = versions[version]
    if not path.is_file():
        raise ConfigError(f"{path}: task file not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    spec = _validate(raw, path)
    if version is not None and spec.version != version:
        raise ConfigError(f"{path}: is version {spec.version} of task {spec.name}, not version {version}")
    return spec


def _validate(raw: object, path: Path) -> TaskSpec:
    """A :class:`TaskSpec` from a parsed task file; the first defect is a :class:`ConfigError` naming the file."""
    try:
        if not isinstance(raw, dict):
            raise ValueError("a task file must be a mapping")
        for key in REQUIRED:
            if key not in raw:
                raise ValueError(f"missing field '{key}'")
        if raw["output_type"] != "generate_until":
            raise ValueError(f"output_type must be 'generate_until', got {raw['output_type']!r}")
        latents, text, target = _prompt(raw)
        if raw["target_items"] not in TARGET_ITEMS:
            raise ValueError(
                f"target_items must be one of {', '.join(TARGET_ITEMS)}, got {raw['target_items']!r}"
            )
        until, max_new = _generation(raw["generation_kwargs"])
        inputs = check_declared(raw.get("inputs"))
        answer_items = raw.get("answer_items", "titles")
        if answer_items not in ANSWER_ITEMS:
            raise ValueError(f"answer_items must be one of {', '.join(ANSWER_ITEMS)}, got {answer_items!r}")
        uses = set(_FIELD.findall(target)) | {raw["target_items"]}
        if uses & set(_NEEDS_TOP1) and "rec_top1" not in inputs:
            raise ValueError("its target names the recommender's top-1: add rec_top1 to the task's inputs")
        metrics, main, version = _metrics(raw, inputs)
    except (ValueError, ConfigError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return TaskSpec(
        name=str(raw["task"]),
        description=str(raw["description"]),
        version=version,
        doc_to_latents=latents,
        doc_to_text=text,
        doc_to_target=target,
        target_items=raw["target_items"],
        until=until,
        max_new_tokens=max_new,
        metrics=metrics,
        main_metric=main,
        path=str(path),
        inputs=inputs,
        answer_items=answer_items,
    )


def _prompt(raw: dict) -> tuple[tuple[str, ...], str, str]:
    """``doc_to_latents``, ``doc_to_text`` and ``doc_to_target``: slots, sources and placeholders agree."""
    latents = raw["doc_to_latents"]
    if not isinstance(latents, list) or not latents:
        raise ValueError("doc_to_latents must be a non-empty list")
    for source in latents:
        if source not in LATENT_SOURCES:
            raise ValueError(
                f"doc_to_latents: unknown source {source!r} (known: {', '.join(LATENT_SOURCES)})"
            )
    text, target = str(raw["doc_to_text"]), str(raw["doc_to_target"])
    if PLACEHOLDER not in text:
        raise ValueError(f"doc_to_text has no {PLACEHOLDER} placeholder")
    if text.count(PLACEHOLDER) != len(latents):
        raise ValueError(
            f"doc_to_text has {text.count(PLACEHOLDER)} {PLACEHOLDER} slots but doc_to_latents names {len(latents)}"
        )
    for field_name, template in (("doc_to_text", text), ("doc_to_target", target)):
        for name in _FIELD.findall(template):
            if name not in FIELDS:
                raise ValueError(
                    f"{field_name}: unknown placeholder '{{{{{name}}}}}' (known: {', '.join(FIELDS)})"
                )
    return tuple(latents), text, target


def _generation(gen: object) -> tuple[tuple[str, ...], int]:
    """``generation_kwargs``: greedy, with a positive ``max_new_tokens``; returns (until, max_new_tokens)."""
    gen = gen or {}
    if not isinstance(gen, dict):
        raise ValueError("generation_kwargs must be a mapping")
    max_new = gen.get("max_new_tokens")
    if not isinstance(max_new, int) or max_new < 1:
        raise ValueError("generation_kwargs.max_new_tokens must be a positive integer")
    if gen.get("do_sample", False):
        raise ValueError("generation_kwargs.do_sample must be false: recbench decodes greedily")
    return tuple(str(s) for s in gen.get("until", [])), max_new


def _metrics(raw: dict, inputs: tuple[str, ...]) -> tuple[tuple[str, ...], str, int]:
    """``metric_list`` and ``metadata``: known metrics whose inputs the task declares; (metrics, main, version)."""
    metrics = []
    for entry in raw["metric_list"] or []:
        name = entry.get("metric") if isinstance(entry, dict) else None
        if not name:
            raise ValueError("every metric_list entry needs a 'metric' name")
        try:
            needs = getattr(registry.metrics.get(name), "needs", ())
        except UnknownNameError as exc:
            raise ValueError(str(exc)) from None
        missing = [n for n in needs if n not in inputs]
        if missing:
            raise ValueError(
                f"metric {name} needs input(s) {', '.join(missing)}: add them to the task's inputs"
            )
        metrics.append(name)
    if not metrics:
        raise ValueError("metric_list is empty")
    meta = raw["metadata"] or {}
    version = meta.get("version") if isinstance(meta, dict) else None
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError("metadata.version must be a positive integer")
    main = meta.get("main_metric", metrics[0])
    if main not in metrics:
        raise ValueError(f"metadata.main_metric {main!r} is not in metric_list")
    return tuple(metrics), main, meta["version"]
