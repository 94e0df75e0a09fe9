"""Reading a run folder for the lm-eval integration: one rule for the tasks it holds, clear messages.

The tasks a run holds are the keys of its results.json ``tasks`` block
(:func:`recbench.run.reload.run_tasks`), for the export and for the model alike. ``config.tasks``
only says what the run was asked to evaluate; when the two disagree the file was edited after the run,
and that is what the message says (rather than a run-id mismatch).
"""

from __future__ import annotations

from pathlib import Path

from recbench.errors import ConfigError
from recbench.results import load_results
from recbench.run.reload import config_of, run_tasks


def read_run(folder: str | Path) -> dict:
    """results.json of a run folder, checked (schema, and config.tasks against the tasks block)."""
    results = load_results(Path(folder))
    asked = (results.get("config") or {}).get("tasks")
    held = run_tasks(results)
    if isinstance(asked, list | tuple) and sorted(asked) != sorted(held):
        raise ConfigError(
            f"{Path(folder) / 'results.json'}: config.tasks lists {', '.join(asked) or 'no task'} but the run "
            f"holds {', '.join(held) or 'no task'} (its tasks block): the file was edited after the run; "
            "restore it, or re-run its command"
        )
    return results


def recorded_spec(results: dict, folder: str | Path):
    """The run's recorded settings (a RunSpec), checked against its run id."""
    return config_of(results, str(folder))
