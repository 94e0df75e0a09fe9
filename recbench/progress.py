"""Rich progress bars for long work, silenced where no one is watching (tests, --quiet)."""

from __future__ import annotations

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


def set_enabled(enabled: bool) -> None:
    """Turn every progress bar on or off (the CLI's --quiet, the test suite)."""
    global _enabled
    _enabled = enabled


@contextmanager
def bar(description: str, total: int) -> Iterator[Callable[..., None]]:
    """Yield ``update(advance=1, note="", total=None)``; draws a bar on stderr while the block runs.

    ``total`` replaces the bar's total (work whose size is known only once it starts).
    """
    if not _enabled:
        yield lambda advance=1, note="", total=None: None
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
