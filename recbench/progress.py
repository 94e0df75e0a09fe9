"""Progress for long work: rich bars on a terminal, plain lines in logs, silence where no one watches.

When stderr is a terminal (or a notebook) :func:`bar` draws a rich progress bar. When it is not (CI
logs, ``nohup``, a pipe), it prints plain lines instead: one when the work starts, one every
``interval`` seconds (default 30, ``$RECBENCH_PROGRESS_INTERVAL``) with done/total, rate, elapsed
and remaining time, and one when it ends. ``--quiet`` (and the test suite) turn both off.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True)
_enabled = True
_interval: float | None = None  # None: $RECBENCH_PROGRESS_INTERVAL, else DEFAULT_INTERVAL
_plain: bool | None = None  # None: plain lines exactly when stderr is not a terminal
DEFAULT_INTERVAL = 30.0


def set_enabled(enabled: bool) -> None:
    """Turn every progress bar on or off (the CLI's --quiet, the test suite)."""
    global _enabled
    _enabled = enabled


def set_interval(seconds: float | None) -> None:
    """Seconds between plain progress lines (None: ``$RECBENCH_PROGRESS_INTERVAL``, else 30)."""
    global _interval
    _interval = seconds


def set_plain(plain: bool | None) -> None:
    """Force plain lines (True) or rich bars (False); None decides from stderr."""
    global _plain
    _plain = plain


def interval() -> float:
    if _interval is not None:
        return max(0.0, _interval)
    raw = os.environ.get("RECBENCH_PROGRESS_INTERVAL", "").strip()
    try:
        return max(0.0, float(raw)) if raw else DEFAULT_INTERVAL
    except ValueError:
        return DEFAULT_INTERVAL


def plain() -> bool:
    """Whether bars are written as plain lines: stderr is neither a terminal nor a notebook."""
    if _plain is not None:
        return _plain
    return not console.is_terminal and not console.is_jupyter


@contextmanager
def bar(description: str, total: int) -> Iterator[Callable[..., None]]:
    """Yield ``update(advance=1, note="", total=None)``; shows progress on stderr while the block runs.

    ``total`` replaces the bar's total (work whose size is known only once it starts).
    """
    if not _enabled:
        yield lambda advance=1, note="", total=None: None
        return
    if plain():
        with _plain_bar(description, total) as update:
            yield update
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[note]}"),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(description, total=total, note="")

        def update(advance: int = 1, note: str = "", total: int | None = None) -> None:
            progress.update(task, advance=advance, note=note, total=total)

        yield update


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _rate(done: float, elapsed: float) -> str:
    if done <= 0 or elapsed <= 0:
        return ""
    per_second = done / elapsed
    return f"{per_second:.2f}/s" if per_second >= 1 else f"{elapsed / done:.1f} s each"


@contextmanager
def _plain_bar(description: str, total: int) -> Iterator[Callable[..., None]]:
    """Plain lines on stderr: at the start, every ``interval()`` seconds, and at the end."""
    every = interval()
    start = time.monotonic()
    state = {"done": 0, "total": total, "note": "", "last": start}

    def line(head: str) -> str:
        done, size = state["done"], state["total"]
        elapsed = time.monotonic() - start
        parts = [f"{description}: {head}{done}/{size}" + (f" ({100 * done / size:.0f}%)" if size else "")]
        rate = _rate(done, elapsed)
        if rate:
            parts.append(rate)
        parts.append(f"elapsed {_clock(elapsed)}")
        if head == "" and done and size and done < size:
            parts.append(f"remaining {_clock(elapsed / done * (size - done))}")
        if state["note"]:
            parts.append(str(state["note"]))
        return ", ".join(parts)

    def emit(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def update(advance: int = 1, note: str = "", total: int | None = None) -> None:
        state["done"] += advance
        if total is not None:
            state["total"] = total
        state["note"] = note  # as the rich bar: each update's note replaces the last
        now = time.monotonic()
        if now - state["last"] >= every:
            state["last"] = now
            emit(line(""))

    emit(f"{description}: started, {total} to do")
    try:
        yield update
    except BaseException:
        emit(line("stopped at "))
        raise
    emit(line("done "))
