"""What ``leaderboard validate`` can check of the inputs the recommender computed, without its checkpoint.

``rec_top1``, ``rec_top10`` and the round trip's top-10 come from the recommender, which validate
does not load (``--verify`` does, from the checkpoint a submission carries or recbench ships). So
validate checks their shape and their consistency with everything it does re-derive:

* ``rec_top10``: distinct catalogue items outside the window, as many as the catalogue allows (10),
  starting with ``rec_top1`` when both are given, identical in every condition;
* a target built from the recommender's top-1 (``{{rec_top1_title}}``, ``target_items: rec_top1``):
  rebuilt from the row's own ``rec_top1`` and compared (so it is the recommender's, if that is);
* ``roundtrip``: its ``items`` re-derived from the output (title matching; retrieval-mapped items
  are only range-checked: MiniLM's last bits may differ between machines), its ``top10`` distinct
  items outside the window of the same length as ``rec_top10``, its ``top1_rank`` agreeing with
  where ``rec_top1`` stands in that top-10 (``None`` exactly when no item was named).

Scores are then re-computed from these lists (:mod:`recbench.metrics.roundtrip`), as for any metric.
"""

from __future__ import annotations

from pathlib import Path

from recbench.metrics.base import MetricContext, Sample
from recbench.metrics.roundtrip import title_items
from recbench.names import shown
from recbench.tasks.inputs import TOP_K


def provided_by_rows(rows: list[Sample], task: str, windows: list) -> dict[str, dict]:
    """The recommender inputs the rows claim, keyed by window id (what ``build_instances`` takes)."""
    window_of = {f"{task}:{w.id}": w.id for w in windows}  # instance ids, as build_instances makes them
    top1 = {window_of[s.id]: s.rec_top1 for s in rows if s.id in window_of and s.rec_top1 is not None}
    top10 = {window_of[s.id]: list(s.rec_top10) for s in rows if s.id in window_of}
    return {"rec_top1": top1, "rec_top10": top10}


def stand_in(derived) -> dict[str, dict]:
    """Some top-1 for every test window (an item outside it), to build instances whose ids and windows
    are all a check of ``rec_top1`` itself reads."""
    top1 = {}
    for w in derived.windows:
        top1[w.id] = next(i for i in range(1, derived.data.n_items + 1) if i not in w.items)
    return {"rec_top1": top1}


def _items_ok(items: list, n_items: int, window: tuple[int, ...]) -> bool:
    return (
        all(isinstance(i, int) and 1 <= i <= n_items for i in items)
        and len(set(items)) == len(items)
        and not set(items) & set(window)
    )


def _lines(path: Path, what: str, bad: dict[str, list[str]]) -> list[str]:
    return [
        f"{path}: {what}: {problem} in {len(ids)} row(s) (first: {shown(ids[0])})"
        for problem, ids in bad.items()
        if ids
    ]


def top10_defects(path: Path, what: str, rows: list[Sample], expected: list, n_items: int) -> list[str]:
    """``rec_top10`` of each row: distinct catalogue items outside the window, led by ``rec_top1``."""
    windows = {i.id: i.window for i in expected}
    bad: dict[str, list[str]] = {}
    for s in rows:
        w = windows.get(s.id)
        if w is None:
            continue
        size = min(TOP_K, n_items - len(set(w.items)))
        if len(s.rec_top10) != size or not _items_ok(s.rec_top10, n_items, w.items):
            bad.setdefault(f"rec_top10 is not {size} distinct catalogue items outside the window", []).append(
                s.id
            )
        elif s.rec_top1 is not None and s.rec_top10[0] != s.rec_top1:
            bad.setdefault("rec_top10 does not start with rec_top1", []).append(s.id)
    return _lines(path, what, bad)


def roundtrip_defects(
    path: Path, what: str, rows: list[Sample], expected: list, how: str, ctx: MetricContext
) -> list[str]:
    """Each row's round trip: present, its items the output's (titles), its lists and rank consistent."""
    windows = {i.id: i.window for i in expected}
    bad: dict[str, list[str]] = {}
    for s in rows:
        w = windows.get(s.id)
        if w is None:
            continue
        trip = s.roundtrip
        if trip is None:
            bad.setdefault("roundtrip missing", []).append(s.id)
            continue
        if not all(isinstance(i, int) and 1 <= i <= ctx.n_items for i in trip.items) or (
            how == "titles" and trip.items != title_items(s.output, ctx)
        ):
            bad.setdefault("roundtrip.items are not the items the output names", []).append(s.id)
            continue
        if not trip.items:
            if trip.top10 or trip.top1_rank is not None:
                bad.setdefault("roundtrip of an answer naming no item is not empty", []).append(s.id)
            continue
        if len(trip.top10) != len(s.rec_top10) or not _items_ok(trip.top10, ctx.n_items, w.items):
            bad.setdefault("roundtrip.top10 is not distinct catalogue items outside the window", []).append(
                s.id
            )
            continue
        top1 = s.rec_top10[0] if s.rec_top10 else None
        rank = trip.top1_rank
        where = trip.top10.index(top1) + 1 if top1 in trip.top10 else None
        limit = ctx.n_items - len(set(w.items))
        if not isinstance(rank, int) or (
            rank != where if where is not None else not len(trip.top10) < rank <= limit
        ):
            bad.setdefault("roundtrip.top1_rank disagrees with roundtrip.top10", []).append(s.id)
    return _lines(path, what, bad)


def same_in_every_condition(path: Path, task: str, groups: dict[str, list[Sample]]) -> list[str]:
    """A condition's rows carry the real rows' ``rec_top10`` (only the latents move)."""
    real = {s.id: s.rec_top10 for s in groups.get("real", [])}
    out = []
    for condition, rows in groups.items():
        moved = [s.id for s in rows if condition != "real" and s.id in real and s.rec_top10 != real[s.id]]
        if moved:
            out.append(
                f"{path}: {task} ({condition}): rec_top10 of {len(moved)} row(s) differs from the real "
                f"row's (first: {shown(moved[0])})"
            )
    return out
