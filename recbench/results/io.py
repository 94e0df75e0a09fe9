"""Read and write run folders; a run is written whole or not at all."""

from __future__ import annotations

import gzip
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from recbench.cache import atomic_dir, atomic_write_text
from recbench.errors import ConfigError, RecbenchError
from recbench.metrics.base import Sample
from recbench.results.schema import check_schema

SCHEMA_VERSION = 1
RESULTS = "results.json"
SAMPLES = "samples.jsonl"
CONDITIONS = ("real", "shuffled")


@dataclass
class RunSamples:
    """A run's samples grouped by task and condition."""

    by_task: dict[str, dict[str, list[Sample]]] = field(default_factory=dict)

    def add(self, condition: str, sample: Sample) -> None:
        self.by_task.setdefault(sample.task, {}).setdefault(condition, []).append(sample)

    def rows(self) -> list[dict]:
        return [
            {"condition": cond, **s.to_dict()}
            for task in self.by_task.values()
            for cond, samples in task.items()
            for s in samples
        ]


def _finite(obj, where: str) -> None:
    """Refuse NaN and infinities anywhere in a results tree (JSON would carry them as NaN/Infinity)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        raise RecbenchError(f"{where}: non-finite number {obj}")
    if isinstance(obj, dict):
        for k, v in obj.items():
            _finite(v, f"{where}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _finite(v, f"{where}[{i}]")


def new_results(**sections) -> dict:
    """A results object of this schema version: ``sections`` are its top-level fields (see
    docs/results_format.md); :func:`write_run` checks them against :mod:`recbench.results.schema`."""
    return {"schema_version": SCHEMA_VERSION, **sections}


def write_run(folder: Path, results: dict, samples: RunSamples) -> Path:
    """Write samples and results.json into a temp folder renamed to ``folder`` (replacing a previous
    run folder whole): a run folder is complete or absent, never half a run, even after a kill.

    The results must pass the same schema check the reader and ``leaderboard validate`` apply;
    ``results["samples_sha256"]`` is set to the sha256 of the samples.jsonl bytes written.
    """
    _finite(results, "results")
    problems = check_schema(results)
    if problems:
        raise RecbenchError(f"results for {folder} break the results schema: {problems[0]}")
    lines = "".join(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n" for row in samples.rows())
    # the samples' fingerprint (docs/results_format.md): sha256 of the exact bytes of samples.jsonl
    results["samples_sha256"] = hashlib.sha256(lines.encode("utf-8")).hexdigest()
    with atomic_dir(Path(folder)) as tmp:
        atomic_write_text(tmp / SAMPLES, lines)
        atomic_write_text(
            tmp / RESULTS, json.dumps(results, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        )
    return folder


def _reject_constant(name: str):
    raise ValueError(f"non-finite number {name}")


def parse_json_bytes(path: Path, raw: bytes, where: str = "") -> object:
    """Parse a JSON file's bytes; every defect is one :class:`ConfigError` naming the file and position.

    ``where`` prefixes the problem (``"line 3: "``). NaN and infinities are refused.
    """
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: {where}not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: {where}malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except ValueError as exc:
        raise ConfigError(f"{path}: {where}{exc} (NaN and infinities are not allowed)") from None
    except RecursionError:
        raise ConfigError(f"{path}: {where}JSON nested too deep") from None


def load_results(path: Path) -> dict:
    """Parse and check a results.json (or the folder holding it); one-line errors for every defect."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS
    if not path.is_file():
        raise ConfigError(f"{path}: no results.json here (is this a run folder?)")
    data = parse_json_bytes(path, path.read_bytes())
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a JSON object")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        older = isinstance(version, int) and version < SCHEMA_VERSION
        raise ConfigError(
            f"{path}: schema version {version!r} "
            + (
                f"is older than this recbench's {SCHEMA_VERSION}; re-run the command to refresh it"
                if older
                else f"is not supported (this recbench reads version {SCHEMA_VERSION})"
            )
        )
    problems = check_schema(data)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConfigError(f"{path}: {problems[0]}{more}")
    return data


def read_samples(folder: Path) -> RunSamples:
    """Read ``samples.jsonl`` (or ``samples.jsonl.gz``) of a run folder."""
    folder = Path(folder)
    plain, packed = folder / SAMPLES, folder / (SAMPLES + ".gz")
    if plain.is_file():
        raw = plain.read_bytes()
        path = plain
    elif packed.is_file():
        try:
            raw = gzip.decompress(packed.read_bytes())
        except (OSError, EOFError) as exc:
            raise ConfigError(f"{packed}: not a valid gzip file ({exc})") from None
        path = packed
    else:
        raise ConfigError(f"{folder}: no {SAMPLES} here")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    out = RunSamples()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line, parse_constant=_reject_constant)
        except (json.JSONDecodeError, ValueError) as exc:
            raise ConfigError(f"{path}: line {number}: malformed JSON ({exc})") from None
        if not isinstance(row, dict):
            raise ConfigError(f"{path}: line {number}: each line must be a JSON object")
        condition = row.pop("condition", None)
        if condition not in CONDITIONS:
            raise ConfigError(f"{path}: line {number}: condition must be one of {', '.join(CONDITIONS)}")
        try:
            out.add(condition, Sample.from_dict(row))
        except ConfigError as exc:
            raise ConfigError(f"{path}: line {number}: {exc}") from None
    return out
