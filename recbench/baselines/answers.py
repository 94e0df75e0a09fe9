"""Predicted item ids → a task's answer text, in exactly the format of the task's targets.

Shared by the baselines that predict items rather than write text (random, popular, knn_probe,
linear_probe). The format is not hard-coded per task: it is read from the task file's
``doc_to_target`` template (``" {{titles}}."``, ``" {{last_title}}."``, ``" {{description}}"`` …) and
filled from the predicted items the way :func:`recbench.tasks.build_instances` fills it from the
true ones. So when the predicted items equal an instance's ``target_items`` the answer *is* its
target string, and a new task file that uses the same fields works without any change here.
The taste fields (``{{main_genres}}``, ``{{era}}``: description v2) are filled from the predicted
items' metadata, as the reference is from the window's; :data:`TASTE_FIELDS` are window-kind.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from recbench.errors import RecbenchError
from recbench.metrics.taste import taste_fields
from recbench.tasks import Instance, describe_window, load_task, search_path

# Template fields that name the whole window, and those that name one item.
TASTE_FIELDS = frozenset({"main_genres", "era"})  # a window's taste, from item metadata
WINDOW_FIELDS = frozenset({"titles", "description"}) | TASTE_FIELDS
ITEM_FIELDS = frozenset({"last_title", "next_title", "rec_top1_title"})
FALLBACK_TEMPLATE = " {{titles}}."  # a task file we cannot load (e.g. given by path): list the titles
_FIELD = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


def target_template(task: str, version: int | None = None) -> str:
    """The ``doc_to_target`` template of ``task`` at ``version`` (None: its latest), or
    :data:`FALLBACK_TEMPLATE` when its file is not found."""
    return _template(search_path(), task, version)


@lru_cache(maxsize=64)
def _template(folders: tuple[str, ...], task: str, version: int | None) -> str:
    # keyed by the task search path too: include paths may change between calls
    try:
        return load_task(task, version).doc_to_target
    except RecbenchError:
        return FALLBACK_TEMPLATE


def template_fields(task: str, version: int | None = None) -> set[str]:
    return set(_FIELD.findall(target_template(task, version)))


def answer_size(inst: Instance, window: int) -> int:
    """How many items an answer to ``inst`` names: the window length for window-kind targets, else 1.

    Read from the target template's fields; a template with neither kind falls back to the number
    of target items (which is fixed by the task, not by the instance's content).
    """
    fields = template_fields(inst.task, inst.version)
    if fields & WINDOW_FIELDS:
        return window
    if fields & ITEM_FIELDS:
        return 1
    return max(1, len(inst.target_items))


def answer_document(items: Sequence[int], data) -> dict[str, str]:
    """The template fields filled from predicted ``items`` (what a task's ``doc`` holds for true ones)."""
    items = tuple(int(i) for i in items)
    if not items:
        return {"titles": "", "last_title": "", "next_title": "", "description": "", "rec_top1_title": ""}
    last = data.title(items[-1])
    return {
        "titles": ", ".join(data.title(i) for i in items),
        "last_title": last,
        "next_title": last,  # a one-item answer: the predicted item is "the last" / "the next" one
        "rec_top1_title": last,  # ... or the recommender's own top-1
        "description": describe_window(items, data)[0],
        **taste_fields(items, data),
    }


def answer_text(
    task: str, items: Sequence[int], data, version: int | None = None, fields: dict | None = None
) -> str:
    """The target template of ``task`` (at ``version``; None: its latest) filled from the predicted
    ``items`` (``fields`` replace some of the fields they give), stripped like the targets are."""
    doc = {**answer_document(items, data), **(fields or {})}
    if not items:
        return ""
    return _FIELD.sub(lambda m: doc.get(m.group(1), ""), target_template(task, version)).strip()
