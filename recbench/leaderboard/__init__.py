"""The public leaderboard: submit a run folder, validate submissions, build a static site.

Submissions live in ``leaderboard/submissions/<interpreter-slug>/<run-id>/`` (``results.json`` plus
``samples.jsonl`` or ``samples.jsonl.gz``); :func:`validate_run` re-scores each one from its samples
without any model, and :func:`build_site` renders them into ``leaderboard/site`` for ``file://``.
"""

from recbench.leaderboard.site import build_site
from recbench.leaderboard.submit import submit_run
from recbench.leaderboard.validate import MAX_FILE_BYTES, find_run_folders, validate_run
from recbench.names import interpreter_slug

__all__ = [
    "MAX_FILE_BYTES",
    "build_site",
    "find_run_folders",
    "interpreter_slug",
    "submit_run",
    "validate_run",
]
