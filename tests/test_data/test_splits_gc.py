"""Building splits and windows starts no cyclic garbage collection (whose full passes walk every live
object, so their cost grew faster than the data), and leaves the collector as it found it."""

from __future__ import annotations

import gc

from recbench.data.base import Item, SequenceData, gc_paused
from recbench.data.splits import leave_one_out, make_windows


def big_data(users: int, length: int = 61) -> SequenceData:
    items = [Item(str(i), f"Title {i}") for i in range(1, 101)]
    sequences = [[(u + k) % 100 + 1 for k in range(length)] for u in range(users)]
    return SequenceData("big", items, [str(u) for u in range(users)], sequences)


def collections_while_splitting(users: int) -> list[int]:
    """The generations of the garbage collections started while windows and leave-one-out are built."""
    data = big_data(users)
    started: list[int] = []

    def count(phase: str, info: dict) -> None:
        if phase == "start":
            started.append(info["generation"])

    gc.collect()
    gc.callbacks.append(count)
    try:
        windows = make_windows(data, 5)
        split = leave_one_out(data)
    finally:
        gc.callbacks.remove(count)
    # 12 windows of 5 (each with its next item) per 61-item user, every user split leave-one-out
    assert (
        len(windows) == users * 12 and windows[13].items == (7, 8, 9, 10, 11) and windows[13].next_item == 12
    )
    assert len(split.test) == users and split.test[0] == (list(range(1, 61)), 61)
    return started


def test_splits_and_windows_start_no_more_collections_on_more_data():
    # under the collector a collection would start every few hundred windows: ~70 here, ~280 at 4x
    small, large = collections_while_splitting(1000), collections_while_splitting(4000)
    assert len(small) <= 2 and len(large) == len(small)  # at most one as each pause ends
    assert gc.isenabled()


def test_the_pause_restores_the_collector_as_it_was():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # a caller's own pause is not lifted
    finally:
        gc.enable()


def collections_while_loading(folder, rows: int) -> int:
    """How many garbage collections start while a CSV pair of ``rows`` interactions is loaded."""
    from recbench.data import load_dataset

    folder.mkdir()
    (folder / "items.csv").write_text("item,title\n" + "".join(f"{i},Title {i}\n" for i in range(1, 201)))
    lines = "".join(f"{r % 300},{r % 200 + 1},{r // 7}\n" for r in range(rows))
    (folder / "interactions.csv").write_text("user,item,timestamp\n" + lines)
    started = []

    def count(phase: str, info: dict) -> None:
        if phase == "start":
            started.append(info["generation"])

    gc.collect()
    gc.callbacks.append(count)
    try:
        data = load_dataset("csv", folder)
    finally:
        gc.callbacks.remove(count)
    assert data.n_interactions == rows and data.sequences[1][:3] == [2, 102, 2]  # user 1: rows 1, 301, 601
    return len(started)


def test_loading_starts_no_more_collections_on_more_rows(tmp_path):
    # under the collector: a collection every few hundred rows (~30 and ~120 here)
    small, large = (
        collections_while_loading(tmp_path / "a", 5_000),
        collections_while_loading(tmp_path / "b", 20_000),
    )
    assert large <= small + 1 and small <= 3
