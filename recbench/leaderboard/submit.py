"""``recbench leaderboard submit``: copy a validated run folder into the submissions tree."""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from pathlib import Path

from recbench.cache import atomic_dir
from recbench.errors import ConfigError, RecbenchError
from recbench.leaderboard.validate import (
    MAX_FILE_BYTES,
    MAX_UNPACKED_BYTES,
    PACKED,
    Validator,
    read_capped,
    read_run,
)
from recbench.names import interpreter_slug, printable
from recbench.results.io import RESULTS, SAMPLES

# samples.jsonl above this size is stored gzip-compressed (samples.jsonl.gz).
COMPRESS_ABOVE_BYTES = 256 * 1024


class InvalidSubmission(RecbenchError):
    """A run that fails validation; ``defects`` holds one line per problem."""

    def __init__(self, run: Path, defects: list[str]):
        self.defects = defects
        super().__init__(
            printable(f"{run} is not valid ({len(defects)} defect(s) above); nothing was copied")
        )


def pack_samples(data: bytes) -> bytes:
    """Deterministic gzip: no file name, mtime 0, so the same samples always give the same bytes."""
    return gzip.compress(data, compresslevel=9, mtime=0)


def submit_run(
    run: Path,
    to: Path,
    force: bool = False,
    validator: Validator | None = None,
    data_dirs: Iterable[Path] = (),
) -> tuple[Path, bool]:
    """Validate ``run``, then copy it to ``<to>/<interpreter-slug>/<run-id>/``.

    samples.jsonl over :data:`COMPRESS_ABOVE_BYTES` is written as samples.jsonl.gz. An existing
    submission is replaced only with ``force``. Returns the new folder and whether samples were
    compressed. Raises :class:`InvalidSubmission` listing every defect, and writes nothing, when the
    run is not valid. ``data_dirs``: csv dataset folders the run may have used (see ``validate``).
    """
    run = Path(run)
    validator = validator or Validator(data_dirs)
    defects = validator.validate(run, check_sizes=False)
    if defects:
        raise InvalidSubmission(run, defects)
    files, _ = read_run(run, check_sizes=False, strict=False)
    results = files.results
    dest = Path(to) / interpreter_slug(results) / results["run_id"]
    if dest.exists() and not force:
        raise ConfigError(printable(f"{dest} already exists; pass --force to replace that submission"))
    # the bytes validated are the bytes copied: read once, as regular files, within the caps
    results_bytes = read_capped(run / RESULTS, MAX_FILE_BYTES)
    if files.samples_path.name == SAMPLES:
        name, data = SAMPLES, read_capped(files.samples_path, MAX_UNPACKED_BYTES)
        if len(data) > COMPRESS_ABOVE_BYTES:
            name, data = PACKED, pack_samples(data)
    else:
        name, data = PACKED, read_capped(files.samples_path, MAX_FILE_BYTES)
    for what, size in ((RESULTS, len(results_bytes)), (name, len(data))):
        if size > MAX_FILE_BYTES:
            raise ConfigError(
                printable(f"{run / what}: {size} bytes (as submitted) is over the {MAX_FILE_BYTES} byte cap")
            )
    with atomic_dir(dest) as tmp:
        (tmp / RESULTS).write_bytes(results_bytes)
        (tmp / name).write_bytes(data)
    return dest, name == PACKED and files.samples_path.name == SAMPLES
