"""What every command shares: turning user errors into one line and a non-zero exit."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

import typer
from rich.console import Console

from recbench.errors import RecbenchError

err_console = Console(stderr=True, highlight=False, soft_wrap=True)
out_console = Console(highlight=False)


INCLUDE_PATH_HELP = (
    "A folder of task YAMLs, searched after the built-in tasks; repeatable (also $RECBENCH_INCLUDE_PATH)."
)


def use_include_paths(paths: list[str] | None) -> None:
    """Add ``--include-path`` folders to the task search path (checked: each must hold task files)."""
    if paths:
        from recbench.tasks import set_include_paths

        set_include_paths(paths)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr and return the exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", markup=True, emoji=False)
    return typer.Exit(code)


def user_errors(func: Callable) -> Callable:
    """Wrap a command so a RecbenchError (or Ctrl-C) prints one line instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except RecbenchError as exc:
            raise fail(_escape(str(exc)), exc.exit_code) from None
        except OSError as exc:  # a full disk anywhere (a library's own write) is one line too
            from recbench.cache import disk_full, is_disk_full

            if not is_disk_full(exc):
                raise
            err = disk_full(exc.filename or "a file", exc)
            raise fail(_escape(str(err)), err.exit_code) from None
        except KeyboardInterrupt:
            print("interrupted; completed work is cached and a re-run resumes from it", file=sys.stderr)
            raise typer.Exit(130) from None

    return wrapper


def _escape(text: str) -> str:
    return text.replace("[", r"\[")


# Dataset options shared by the commands that read a dataset (run, train-rec, card).
COLUMNS_HELP = (
    "csv dataset: your column names as FIELD=COLUMN, comma separated (fields: user, item, timestamp, "
    "title, genres, year), e.g. user=user_id,item=movie_id,timestamp=ts,title=name."
)
INTERACTIONS_FILE_HELP = "csv dataset: the interactions file inside --data-dir (default: interactions.csv)."
ITEMS_FILE_HELP = "csv dataset: the items file inside --data-dir (default: items.csv)."
THREADS_HELP = "torch CPU threads (default: the cores free now; 1 on a busy machine)."


def dataset_name(
    dataset: str | None, columns: str | None, interactions_file: str | None, items_file: str | None
) -> str | None:
    """``--dataset`` with ``--columns``/``--interactions-file``/``--items-file`` folded into one name.

    ``csv`` with ``--columns user=user_id`` becomes ``csv[user=user_id]``: the name a dataset card
    records, so a re-read, a cache key and a run id all carry the mapping. Without options ``dataset``
    comes back unchanged.
    """
    from recbench.data.base import resolve_dataset_name

    return resolve_dataset_name(dataset, columns, interactions_file=interactions_file, items_file=items_file)


def auto_threads(cores: int | None = None, load: float | None = None) -> int:
    """CPU threads for torch when ``--threads`` is not given: the cores not already busy, at least 1.

    On a machine that is doing other work, torch's OpenMP threads wait for each other: on this
    project's 2-core machine under a load of 9, alignment steps took 1.2 s with 2 threads and 0.15 s
    with 1 (docs/footguns.md). Thread count does not change recbench's numbers.
    """
    import os

    cores = cores or len(os.sched_getaffinity(0))
    load = busy_cores() if load is None else load
    return max(1, min(cores, cores - int(load + 0.5)))


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat; None where there is none."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def busy_cores(seconds: float = 0.25) -> float:
    """How many CPUs other processes keep busy now: measured over ``seconds`` from /proc/stat while this
    process sleeps; the 1-minute load average where /proc/stat is missing. (The load average lags: right
    after ``make install`` it still counted the finished pip as a busy core, and the demo ran on one
    thread, 271 s of generation instead of about 100.)"""
    import os
    import time

    first = _cpu_times()
    if first is not None:
        time.sleep(seconds)
        second = _cpu_times()
        if second is not None and second[1] > first[1]:
            return (second[0] - first[0]) / (second[1] - first[1]) * os.cpu_count()
    return os.getloadavg()[0]


def set_threads(threads: int | None) -> int:
    """``--threads``, or :func:`auto_threads` when unset; returns the count torch now uses."""
    import torch

    torch.set_num_threads(threads or auto_threads())
    return torch.get_num_threads()
