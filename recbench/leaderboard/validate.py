"""Validate a submitted run: files, schema, names, metric names, and scores re-computed from samples.

:func:`validate_run` returns one line per defect, each naming the file and the field; an empty list
means the run may go on the leaderboard. No model is loaded: the dataset gives the catalogue, and the
MiniLM embedder is loaded only for the metrics that need it.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable
from pathlib import Path

from recbench import registry
from recbench.errors import ConfigError, RecbenchError
from recbench.metrics.base import MetricContext
from recbench.names import interpreter_slug
from recbench.results.compare import compare_task
from recbench.results.io import RESULTS, SAMPLES, load_results
from recbench.results.schema import check_schema, non_finite
from recbench.results.scoring import context_for, rescore_run

# Largest file a submission may hold (results.json, samples.jsonl or samples.jsonl.gz): 5 MiB.
MAX_FILE_BYTES = 5 * 1024 * 1024
# Largest samples.jsonl.gz once decompressed (a guard against decompression bombs): 64 MiB.
MAX_UNPACKED_BYTES = 64 * 1024 * 1024
PACKED = SAMPLES + ".gz"
RUN_FILES = (RESULTS, SAMPLES, PACKED)

def find_run_folders(paths: Iterable[Path]) -> list[Path]:
    """Run folders named by ``paths``: each path is a run folder, or a folder searched for run folders.

    A run folder is a directory holding results.json, samples.jsonl or samples.jsonl.gz. A path that
    does not exist is a :class:`ConfigError`.
    """
    found: dict[Path, None] = {}
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"{path}: no such file or folder")
        if path.is_file():
            path = path.parent
        if any((path / name).exists() for name in RUN_FILES):
            found[path] = None
            continue
        for sub in sorted(p for p in path.rglob("*") if p.is_dir() and not p.is_symlink()):
            if any((sub / name).exists() for name in RUN_FILES):
                found[sub] = None
    return list(found)


def _file_defects(folder: Path, check_sizes: bool = True) -> list[str]:
    out = []
    if folder.is_symlink():
        return [f"{folder}: run folder must be a real folder, not a symlink"]
    present = [
        folder / name for name in RUN_FILES if (folder / name).exists() or (folder / name).is_symlink()
    ]
    for path in present:
        if path.is_symlink() or not path.is_file():
            out.append(f"{path}: must be a regular file (not a symlink or folder)")
        elif check_sizes and path.stat().st_size > MAX_FILE_BYTES:
            out.append(f"{path}: {path.stat().st_size} bytes is over the {MAX_FILE_BYTES} byte cap per file")
    if not (folder / RESULTS).exists():
        out.append(f"{folder / RESULTS}: missing")
    plain, packed = folder / SAMPLES, folder / PACKED
    if not plain.exists() and not packed.exists():
        out.append(f"{plain}: missing (neither {SAMPLES} nor {PACKED} is here)")
    elif plain.exists() and packed.exists():
        out.append(f"{packed}: both {SAMPLES} and {PACKED} are here; keep one")
    elif packed.exists() and not out:
        out += _unpacked_size_defects(packed)
    return out


def _unpacked_size_defects(packed: Path) -> list[str]:
    """Decompress in chunks, stopping past the cap, so a tiny bomb never fills memory."""
    total = 0
    try:
        with gzip.open(packed, "rb") as f:
            while chunk := f.read(1 << 20):
                total += len(chunk)
                if total > MAX_UNPACKED_BYTES:
                    return [f"{packed}: decompresses to over the {MAX_UNPACKED_BYTES} byte cap"]
    except (OSError, EOFError, zlib.error) as exc:
        return [f"{packed}: not a valid gzip file ({exc})"]
    return []


def _name_defects(folder: Path, results: dict, submissions: Path | None) -> list[str]:
    where = folder / RESULTS
    out = []
    run_id = results["run_id"]
    if folder.name != run_id:
        out.append(f"{where}: run_id: {run_id!r} differs from its folder name {folder.name!r}")
    try:
        slug = interpreter_slug(results)
    except ConfigError as exc:
        return out + [f"{where}: {exc}"]
    if submissions is not None and _inside(folder, submissions):
        expected = submissions / slug / run_id
        if folder.resolve() != expected.resolve():
            out.append(
                f"{where}: interpreter.label: a run of {slug!r} belongs in {expected}, not in {folder}"
            )
    return out


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def _metric_defects(where: Path, results: dict) -> list[str]:
    known = registry.metrics.names()
    out = []
    for task, block in results["tasks"].items():
        groups = [("metrics", block["metrics"]), ("gap", block.get("gap", {}))]
        groups += [(f"controls.{c}", scores) for c, scores in block.get("controls", {}).items()]
        for section, scores in groups:
            for name in scores:
                if name not in known:
                    message = registry.unknown_name_message("metric", name, known)
                    out.append(f"{where}: tasks.{task}.{section}.{name}: {message}")
                elif section != "metrics" and name not in block["metrics"]:
                    out.append(f"{where}: tasks.{task}.{section}.{name}: not one of the task's metrics")
        if results["interpreter"]["kind"] == "llm" and not block.get("controls", {}).get("shuffled"):
            out.append(
                f"{where}: tasks.{task}.controls.shuffled: missing; "
                "an LLM run must report its shuffled control"
            )
    return out


def _context(results: dict, contexts: dict) -> MetricContext:
    card = results["dataset"]
    key = (card["name"], card.get("data_dir"), card["sha256"])
    if key not in contexts:
        contexts[key] = context_for(results)
    return contexts[key]


def validate_run(
    folder: Path,
    submissions: Path | None = None,
    contexts: dict | None = None,
    rescore: bool = True,
    check_sizes: bool = True,
) -> list[str]:
    """Every defect of the run in ``folder``, one line each (``<file>: <field>: <problem>``).

    ``submissions``: the submissions root; a run inside it must sit at ``<root>/<slug>/<run_id>``.
    ``contexts``: a dict shared across calls so each dataset is loaded once. ``rescore=False`` skips
    the (slowest) step, re-scoring the samples. ``check_sizes=False`` skips the per-file size cap
    (``submit`` checks it on the files it writes, after compressing the samples).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return [f"{folder}: not a folder"]
    out = _file_defects(folder, check_sizes)
    if out:
        return out
    where = folder / RESULTS
    try:
        results = load_results(folder)
    except ConfigError as exc:
        return [str(exc)]
    out = [f"{where}: {problem}" for problem in non_finite(results)]
    out += [f"{where}: {problem}" for problem in check_schema(results)]
    if out:
        return out
    out = _name_defects(folder, results, submissions) + _metric_defects(where, results)
    if out or not rescore:
        return out
    samples = folder / (SAMPLES if (folder / SAMPLES).exists() else PACKED)
    try:
        ctx = _context(results, {} if contexts is None else contexts)
    except RecbenchError as exc:
        return [f"{where}: dataset: {exc}"]
    try:
        claimed, recomputed = rescore_run(folder, ctx)
    except RecbenchError as exc:
        message = str(exc)
        return [message if message.startswith(str(folder)) else f"{samples}: {message}"]
    for task, block in claimed["tasks"].items():
        out += [f"{where}: {problem}" for problem in compare_task(task, block, recomputed[task])]
    return out
