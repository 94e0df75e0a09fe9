"""Run folders: ``results.json`` + ``samples.jsonl`` (see docs/results_format.md)."""

from recbench.results.io import (
    SCHEMA_VERSION,
    RunSamples,
    load_results,
    new_results,
    read_samples,
    write_run,
)
from recbench.results.scoring import rescore_run, summarise_task

__all__ = [
    "SCHEMA_VERSION",
    "RunSamples",
    "load_results",
    "new_results",
    "read_samples",
    "rescore_run",
    "summarise_task",
    "write_run",
]
