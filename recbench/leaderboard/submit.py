"""``recbench leaderboard submit``: copy a validated run folder into the submissions tree."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

from recbench.cache import atomic_dir
from recbench.errors import ConfigError, RecbenchError
from recbench.leaderboard.validate import MAX_FILE_BYTES, PACKED, validate_run
from recbench.names import interpreter_slug
from recbench.results.io import RESULTS, SAMPLES, load_results

# samples.jsonl above this size is stored gzip-compressed (samples.jsonl.gz).
COMPRESS_ABOVE_BYTES = 256 * 1024


class InvalidSubmission(RecbenchError):
    """A run that fails validation; ``defects`` holds one line per problem."""

    def __init__(self, run: Path, defects: list[str]):
        self.defects = defects
        super().__init__(f"{run} is not valid ({len(defects)} defect(s) above); nothing was copied")


def pack_samples(data: bytes) -> bytes:
    """Deterministic gzip: no file name, mtime 0, so the same samples always give the same bytes."""
    return gzip.compress(data, compresslevel=9, mtime=0)


def submit_run(run: Path, to: Path, force: bool = False, contexts: dict | None = None) -> tuple[Path, bool]:
    """Validate ``run``, then copy it to ``<to>/<interpreter-slug>/<run-id>/``.

    samples.jsonl over :data:`COMPRESS_ABOVE_BYTES` is written as samples.jsonl.gz. An existing
    submission is replaced only with ``force``. Returns the new folder and whether samples were
    compressed. Raises :class:`InvalidSubmission` listing every defect, and writes nothing, when the
    run is not valid.
    """
    run = Path(run)
    defects = validate_run(run, contexts=contexts, check_sizes=False)
    if defects:
        raise InvalidSubmission(run, defects)
    results = load_results(run)
    dest = Path(to) / interpreter_slug(results) / results["run_id"]
    if dest.exists() and not force:
        raise ConfigError(f"{dest} already exists; pass --force to replace that submission")
    if (run / SAMPLES).is_file():
        name, data = SAMPLES, (run / SAMPLES).read_bytes()
        if len(data) > COMPRESS_ABOVE_BYTES:
            name, data = PACKED, pack_samples(data)
    else:
        name, data = PACKED, (run / PACKED).read_bytes()
    results_size = (run / RESULTS).stat().st_size
    for what, size in ((RESULTS, results_size), (name, len(data))):
        if size > MAX_FILE_BYTES:
            raise ConfigError(
                f"{run / what}: {size} bytes (as submitted) is over the {MAX_FILE_BYTES} byte cap"
            )
    with atomic_dir(dest) as tmp:
        shutil.copyfile(run / RESULTS, tmp / RESULTS)
        (tmp / name).write_bytes(data)
    return dest, name == PACKED and not (run / PACKED).is_file()
