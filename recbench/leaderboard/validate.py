"""Validate a submitted run: files, limits, schema, names, task definitions, the instances the
dataset and settings imply, and the scores re-computed from the samples.

:func:`validate_run` returns one line per defect, each naming the file and the field; an empty list
means the run may go on the leaderboard. What is read, and never anything else:

- the run folder's ``results.json`` and ``samples.jsonl`` / ``samples.jsonl.gz``, as regular files (a
  symlink anywhere in a submission is a defect, never followed), each under a size cap, its JSON
  nesting depth and row count checked on the bytes before anything is parsed;
- the dataset, identified by its sha256 among the datasets this recbench knows: ML-100K from the
  installed ``recbole`` wheel, and folders the caller names (``--data-dir``: local or test use). A
  folder or file named inside the submission (``dataset.data_dir``) is never opened;
- the task definitions installed with recbench (by name; never a path).

The test instances (ids, prompts, targets, target items) are re-derived from the dataset, the split
seed, the limit and the window exactly as ``recbench run`` derives them (:mod:`recbench.run.stages`),
so no row can be dropped, duplicated, invented or edited; then every score is re-computed. No model is
loaded but the MiniLM embedder, and that only for the metrics that need it and only for texts whose
embeddings are not cached (:class:`Embeddings`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import stat
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recbench import registry
from recbench.errors import ConfigError, RecbenchError, UnknownNameError
from recbench.leaderboard import beliefs
from recbench.metrics.base import MetricContext, RoundTrip, Sample
from recbench.names import MAX_NAME_CHARS, interpreter_slug, name_problem, printable, shown, type_name
from recbench.results.compare import compare_task, tolerance
from recbench.results.io import CONDITIONS, RESULTS, SAMPLES, SCHEMA_VERSION, parse_json_bytes
from recbench.results.schema import check_schema, non_finite
from recbench.results.scoring import summarise_task

# Largest file a submission may hold (results.json, samples.jsonl or samples.jsonl.gz): 5 MiB.
MAX_FILE_BYTES = 5 * 1024 * 1024
# Largest samples.jsonl once decompressed (read in chunks, stopping past the cap): 64 MiB.
MAX_UNPACKED_BYTES = 64 * 1024 * 1024
# Deepest JSON nesting accepted (results.json needs 6, a sample row 3), checked on the bytes.
MAX_JSON_DEPTH = 16
# Most rows samples.jsonl may hold: 4 tasks x 2 conditions x the 2,082 ML-100K test windows fit.
MAX_ROWS = 20_000
# Longest text a sample row may carry (an output is at most 96 generated tokens).
MAX_TEXT_CHARS = 4_096
# How many example ids a defect line quotes.
EXAMPLES = 1
PACKED = SAMPLES + ".gz"
RUN_FILES = (RESULTS, SAMPLES, PACKED)
# model folders a submission may carry for `verify` (recbench/leaderboard/verify.py)
CARRIED = ("interpreter", "recommender")
ML100K = "ml-100k"


class Defect(Exception):
    """One defect line (internal: raised where the rest of a check cannot go on)."""


# --- finding run folders, never through a symlink ----------------------------------------------------


def _has_run_files(folder: Path) -> bool:
    return any(os.path.lexists(folder / name) for name in RUN_FILES)


def walk_submissions(paths: Iterable[Path]) -> tuple[list[Path], list[str]]:
    """Run folders named by ``paths`` (each a run folder, or a folder searched for run folders), and
    one line per symlink met on the way (none is followed). A path that does not exist is a
    :class:`ConfigError`."""
    found: dict[Path, None] = {}
    problems: list[str] = []
    for path in paths:
        path = Path(path)
        if not os.path.lexists(path):
            raise ConfigError(f"{printable(str(path))}: no such file or folder")
        if path.is_symlink():
            problems.append(f"{path}: a symlink; submissions hold only real folders and regular files")
            continue
        if path.is_file():
            path = path.parent
        if _has_run_files(path):
            found[path] = None
            continue
        for top, dirs, files in os.walk(path, followlinks=False):
            here = Path(top)
            for name in sorted(dirs + files):
                if (here / name).is_symlink():
                    problems.append(
                        f"{here / name}: a symlink; submissions hold only real folders and regular files"
                    )
            dirs[:] = sorted(d for d in dirs if not (here / d).is_symlink())
            if _has_run_files(here):
                found[here] = None
    return list(found), [printable(p) for p in problems]


def find_run_folders(paths: Iterable[Path]) -> list[Path]:
    """Run folders named by ``paths`` (see :func:`walk_submissions`; symlinks are skipped)."""
    return walk_submissions(paths)[0]


# --- reading files: regular files only, capped --------------------------------------------------------


def _open_regular(path: Path) -> int:
    """A file descriptor of ``path``, which must be a regular file reached without a symlink."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if path.is_symlink():
            raise Defect(f"{path}: must be a regular file (not a symlink or folder)") from None
        raise Defect(f"{path}: cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise Defect(f"{path}: must be a regular file (not a symlink or folder)")
    return fd


def read_capped(path: Path, cap: int) -> bytes:
    """The bytes of the regular file ``path``; over ``cap`` bytes is a :class:`Defect`."""
    fd = _open_regular(path)
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > cap:
            raise Defect(f"{path}: {size} bytes is over the {cap} byte cap per file")
        data = f.read(cap + 1)
    if len(data) > cap:
        raise Defect(f"{path}: over the {cap} byte cap per file")
    return data


def read_gzip_capped(path: Path, cap: int, unpacked_cap: int = MAX_UNPACKED_BYTES) -> bytes:
    """Decompress ``path`` in chunks, stopping past ``unpacked_cap``: a small bomb never fills memory."""
    packed = read_capped(path, cap)
    out = bytearray()
    try:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        data = packed
        while True:
            chunk = d.decompress(data, min(1 << 20, unpacked_cap + 1 - len(out)))  # 1 MiB at a time
            out += chunk
            if len(out) > unpacked_cap:
                raise Defect(f"{path}: decompresses to over the {unpacked_cap} byte cap")
            data = d.unconsumed_tail
            if d.eof:
                data = d.unused_data
                if not data:
                    break
                d = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip allows members one after another
            elif not data and not chunk:
                raise Defect(f"{path}: not a valid gzip file (truncated)")
    except zlib.error as exc:
        raise Defect(f"{path}: not a valid gzip file ({exc})") from None
    return bytes(out)


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"?', re.S)  # always matches from a quote: linear time
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth(raw: bytes) -> int:
    """Deepest nesting of arrays and objects in JSON (or JSON lines) ``raw``, without parsing it."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    codes = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1)
    return int(np.cumsum(steps).max())


def _reject_constant(name: str):
    raise ValueError(f"non-finite number {name}")


def parse_json(path: Path, raw: bytes, where: str = "") -> object:
    """Parse ``raw`` (depth-checked first); a :class:`Defect` names the file and position only."""
    depth = json_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise Defect(f"{path}: {where}JSON nested {depth} deep; at most {MAX_JSON_DEPTH} levels are allowed")
    try:
        return parse_json_bytes(path, raw, where)
    except ConfigError as exc:
        raise Defect(str(exc)) from None


# --- a run folder, read and parsed ---------------------------------------------------------------------


@dataclass
class RunFiles:
    """A run folder's parsed files: results.json, and the samples grouped by task and condition."""

    folder: Path
    results: dict
    samples_path: Path
    samples_sha256: str
    rows: dict[str, dict[str, list[Sample]]]
    claimed_scores: dict[int, dict[str, float]] = field(default_factory=dict)  # id(sample) -> scores


def _entry_defects(folder: Path, strict: bool) -> list[str]:
    """Symlinks (always), the model folders a submission may carry (checked as
    :mod:`recbench.leaderboard.verify` reads them), and, when ``strict`` (inside the submissions
    tree), anything else but the run files."""
    out = []
    try:
        entries = sorted(os.listdir(folder))
    except OSError as exc:
        return [f"{folder}: cannot be listed ({exc.strerror})"]
    carried = False
    for name in entries:
        path = folder / name
        if path.is_symlink():
            out.append(f"{path}: a symlink; a submission holds regular files only (none is followed)")
        elif name in RUN_FILES:
            if not path.is_file():
                out.append(f"{path}: must be a regular file (not a symlink or folder)")
        elif name in CARRIED and path.is_dir():
            carried = True
        elif strict:
            out.append(
                f"{path}: not part of a submission (a run folder holds {RESULTS}, {SAMPLES}[.gz] and the "
                f"model folders {' and '.join(CARRIED)} only)"
            )
    if carried:
        from recbench.leaderboard.verify import model_file_defects  # imports the pipeline: only then

        out += model_file_defects(folder)
    return out


def read_results(folder: Path) -> dict:
    """results.json of ``folder``: capped, depth-checked, parsed, of this schema version and schema."""
    path = folder / RESULTS
    data = parse_json(path, read_capped(path, MAX_FILE_BYTES))
    if not isinstance(data, dict):
        raise Defect(f"{path}: top level must be a JSON object")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        older = isinstance(version, int) and not isinstance(version, bool) and version < SCHEMA_VERSION
        raise Defect(
            f"{path}: schema version {shown(version)} "
            + (
                f"is older than this recbench's {SCHEMA_VERSION}; re-run the command to refresh it"
                if older
                else f"is not supported (this recbench reads version {SCHEMA_VERSION})"
            )
        )
    return data


_ROW_FIELDS = ("condition", "id", "task", "prompt", "target", "output", "target_items", "rec_top1",
               "target_genres", "scores", "rec_top10", "next_item", "roundtrip")  # fmt: skip
_REQUIRED_ROW_FIELDS = frozenset(("condition", "id", "task", "prompt", "target", "output", "target_items"))


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_list(value: object) -> bool:
    return isinstance(value, list) and all(_int(i) for i in value)


def _row_problem(row: object) -> str | None:
    """Why a parsed samples.jsonl line is not a sample row (type by type), or None."""
    if not isinstance(row, dict):
        return f"must be a JSON object, got {type_name(row)}"
    missing = sorted(_REQUIRED_ROW_FIELDS - set(row))
    if missing:
        return f"missing field(s) {', '.join(missing)}"
    unknown = sorted(set(row) - set(_ROW_FIELDS))
    if unknown:
        return f"unknown field(s) {', '.join(shown(u) for u in unknown[:3])}"
    if row["condition"] not in CONDITIONS:
        return f"condition: {shown(row['condition'])} must be one of {', '.join(CONDITIONS)}"
    for key in ("id", "task", "prompt", "target", "output"):
        if not isinstance(row[key], str):
            return f"{key}: must be string, got {type_name(row[key])}"
        if len(row[key]) > MAX_TEXT_CHARS:
            return f"{key}: {len(row[key])} characters; at most {MAX_TEXT_CHARS} are allowed"
    if not isinstance(row["target_items"], list) or not all(_int(i) for i in row["target_items"]):
        return "target_items: must be an array of integers"
    if row.get("rec_top1") is not None and not _int(row["rec_top1"]):
        return f"rec_top1: must be integer or null, got {type_name(row['rec_top1'])}"
    if not _int_list(row.get("rec_top10", [])):
        return "rec_top10: must be an array of integers"
    if row.get("next_item") is not None and not _int(row["next_item"]):
        return f"next_item: must be integer or null, got {type_name(row['next_item'])}"
    trip = row.get("roundtrip")
    if trip is not None and not (
        isinstance(trip, dict)
        and set(trip) == {"items", "top10", "top1_rank"}
        and _int_list(trip["items"])
        and _int_list(trip["top10"])
        and (trip["top1_rank"] is None or _int(trip["top1_rank"]))
    ):
        return "roundtrip: must be null or an object of items, top10 (integer arrays) and top1_rank"
    genres = row.get("target_genres", [])
    if not isinstance(genres, list) or not all(isinstance(g, str) for g in genres):
        return "target_genres: must be an array of strings"
    scores = row.get("scores", {})
    if not isinstance(scores, dict) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in scores.values()
    ):
        return "scores: must be an object of numbers"
    return None


def read_samples(folder: Path, check_sizes: bool = True) -> tuple[Path, bytes]:
    """``(path, uncompressed bytes)`` of the run's samples, read within the caps."""
    plain, packed = folder / SAMPLES, folder / PACKED
    has_plain, has_packed = os.path.lexists(plain), os.path.lexists(packed)
    if not has_plain and not has_packed:
        raise Defect(f"{plain}: missing (neither {SAMPLES} nor {PACKED} is here)")
    if has_plain and has_packed:
        raise Defect(f"{packed}: both {SAMPLES} and {PACKED} are here; keep one")
    if has_plain:
        return plain, read_capped(plain, MAX_FILE_BYTES if check_sizes else MAX_UNPACKED_BYTES)
    return packed, read_gzip_capped(packed, MAX_FILE_BYTES)


def parse_samples(path: Path, raw: bytes) -> tuple[dict[str, dict[str, list[Sample]]], dict[int, dict]]:
    """Rows of samples.jsonl by task and condition (file order) and each sample's claimed scores.

    Limits are checked on the bytes first (rows, nesting depth); every malformed line is reported as
    one line per kind of problem, with the first line number and how many more.
    """
    rows = raw.count(b"\n") + (0 if raw.endswith(b"\n") or not raw else 1)
    if rows > MAX_ROWS:
        raise Defect(f"{path}: {rows} lines; at most {MAX_ROWS} rows are allowed")
    depth = json_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise Defect(f"{path}: JSON nested {depth} deep; at most {MAX_JSON_DEPTH} levels are allowed")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Defect(f"{path}: not UTF-8 text") from None
    out: dict[str, dict[str, list[Sample]]] = {}
    claimed: dict[int, dict] = {}
    bad: dict[str, list[int]] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            bad.setdefault(f"malformed JSON ({exc.msg})", []).append(number)
            continue
        except ValueError as exc:
            bad.setdefault(f"{exc} (NaN and infinities are not allowed)", []).append(number)
            continue
        problem = _row_problem(row)
        if problem:
            bad.setdefault(problem, []).append(number)
            continue
        sample = Sample(
            id=row["id"],
            task=row["task"],
            prompt=row["prompt"],
            target=row["target"],
            output=row["output"],
            target_items=list(row["target_items"]),
            rec_top1=row.get("rec_top1"),
            target_genres=list(row.get("target_genres", [])),
            rec_top10=list(row.get("rec_top10", [])),
            next_item=row.get("next_item"),
            roundtrip=RoundTrip.from_dict(row.get("roundtrip")),
        )
        claimed[id(sample)] = {str(k): float(v) for k, v in row.get("scores", {}).items()}
        out.setdefault(sample.task, {}).setdefault(row["condition"], []).append(sample)
    if bad:
        lines = [
            f"{path}: line {numbers[0]}: {problem}"
            + (f" (and {len(numbers) - 1} more line(s))" if len(numbers) > 1 else "")
            for problem, numbers in bad.items()
        ]
        raise Defect("\n".join(lines))
    return out, claimed


def read_run(
    folder: Path, check_sizes: bool = True, strict: bool = True
) -> tuple[RunFiles | None, list[str]]:
    """Read and parse a run folder within every limit: ``(files, [])`` or ``(None, defects)``.

    Checks the folder (a real folder; no symlink; with ``strict`` nothing but the run files), the caps,
    the JSON depth and rows, the schema and every field's type and range. No dataset is read.
    """
    folder = Path(folder)
    if folder.is_symlink():
        return None, [f"{folder}: run folder must be a real folder, not a symlink"]
    if not folder.is_dir():
        return None, [f"{folder}: not a folder"]
    out = _entry_defects(folder, strict)
    if not os.path.lexists(folder / RESULTS):
        out.append(f"{folder / RESULTS}: missing")
    if out:
        return None, out
    where = folder / RESULTS
    try:
        results = read_results(folder)
    except Defect as exc:
        return None, str(exc).split("\n")
    # a non-finite number is reported alone: the range checks would only repeat it
    out = [f"{where}: {problem}" for problem in non_finite(results) or check_schema(results)]
    if out:
        return None, out
    try:
        path, raw = read_samples(folder, check_sizes)
        rows, claimed = parse_samples(path, raw)
    except Defect as exc:
        return None, str(exc).split("\n")
    return RunFiles(folder, results, path, hashlib.sha256(raw).hexdigest(), rows, claimed), []


# --- what the task definitions, names and settings require --------------------------------------------


def task_definition(name: str, version: int | None = None):
    """The installed definition of task ``name`` at ``version`` (None: its latest), by name only, never
    as a path. recbench keeps every version's definition (``tasks/builtin/versions/``), so a run is
    checked against the version it recorded."""
    from recbench.tasks.search import task_versions

    tasks = task_versions()
    if name not in tasks:
        raise UnknownNameError(registry.unknown_name_message("task", printable(name[:60]), sorted(tasks)))
    versions = tasks[name]
    if version is None:
        version = max(versions)
    if version not in versions:
        have = ", ".join(str(v) for v in sorted(versions))
        raise UnknownNameError(f"recbench defines no version {version} of task {name} (versions: {have})")
    path = Path(versions[version])
    return _load_task_file(str(path), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _load_task_file(path: str, mtime_ns: int):
    from recbench.tasks import load_task

    return load_task(path)


def definition_defects(where: Path, results: dict) -> list[str]:
    """Each task must be an installed task at a version recbench defines, with its main metric and metric list."""
    out = []
    for task, block in results["tasks"].items():
        try:
            spec = task_definition(task, block["version"])
        except UnknownNameError as exc:
            field = "version" if task in _defined_versions() else ""
            out.append(f"{where}: tasks.{task}{'.' + field if field else ''}: {exc}")
            continue
        except RecbenchError as exc:
            out.append(f"{where}: tasks.{task}: {exc}")
            continue
        if block["main_metric"] != spec.main_metric:
            out.append(
                f"{where}: tasks.{task}.main_metric: {shown(block['main_metric'])}, but {task} "
                f"v{spec.version} defines {spec.main_metric!r}"
            )
        want = set(spec.metrics)
        sections = [("metrics", block["metrics"])]
        sections += [(f"controls.{c}", scores) for c, scores in block.get("controls", {}).items()]
        for section, scores in sections:
            missing, extra = sorted(want - set(scores)), sorted(set(scores) - want)
            if missing:
                out.append(
                    f"{where}: tasks.{task}.{section}: missing {', '.join(missing)} "
                    f"({task} v{spec.version} scores {', '.join(spec.metrics)})"
                )
            if extra:
                out.append(
                    f"{where}: tasks.{task}.{section}: {', '.join(shown(e) for e in extra)} "
                    f"not among {task} v{spec.version}'s metrics ({', '.join(spec.metrics)})"
                )
        extra_gap = sorted(set(block.get("gap", {})) - want)
        if extra_gap:
            out.append(
                f"{where}: tasks.{task}.gap: {', '.join(shown(e) for e in extra_gap)} not among its metrics"
            )
        if results["interpreter"]["kind"] == "llm" and not block.get("controls", {}).get("shuffled"):
            out.append(
                f"{where}: tasks.{task}.controls.shuffled: missing; an LLM run must report its shuffled control"
            )
    return out


def _defined_versions() -> dict[str, set[int]]:
    from recbench.tasks.search import task_versions

    return {name: set(versions) for name, versions in task_versions().items()}


def _relative(path: Path, root: Path) -> Path | None:
    """``path`` relative to ``root``, lexically (a symlink on the way is not resolved), or None."""
    try:
        return Path(os.path.abspath(path)).relative_to(os.path.abspath(root))
    except ValueError:
        return None


def _inside(path: Path, root: Path) -> bool:
    return _relative(path, root) is not None


def name_defects(folder: Path, results: dict, submissions: Path | None) -> list[str]:
    """Leaderboard names (at most MAX_NAME_CHARS), the folder name, and the place in the tree."""
    where = folder / RESULTS
    out = []
    run_id = results["run_id"]
    for field_name, value in (("run_id", run_id), ("interpreter.name", results["interpreter"]["name"])):
        if problem := name_problem(value, MAX_NAME_CHARS):
            out.append(f"{where}: {field_name}: {problem}")
    for task in results["tasks"]:
        if problem := name_problem(task, MAX_NAME_CHARS):
            out.append(f"{where}: tasks: task name {problem}")
    if folder.name != run_id:
        out.append(f"{where}: run_id: {shown(run_id)} differs from its folder name {shown(folder.name)}")
    try:
        slug = interpreter_slug(results)
    except ConfigError as exc:
        return out + [f"{where}: {exc}"]
    relative = _relative(folder, submissions) if submissions is not None else None
    if relative is not None:
        root = Path(submissions)
        expected = root / slug / run_id
        if os.path.abspath(folder) != os.path.abspath(expected):
            out.append(
                f"{where}: interpreter.label: a run of {slug!r} belongs in {expected}, not in {folder}"
            )
        node = root
        for part in relative.parts[:-1]:  # no symlink between the root and the run folder
            node = node / part
            if node.is_symlink():
                out.append(f"{node}: a symlink; submissions hold only real folders and regular files")
        if not out and root.is_dir():
            others = sorted(
                p
                for p in root.iterdir()
                if p.name != slug and os.path.lexists(p / run_id) and not p.is_symlink()
            )
            out += [f"{where}: run_id: {run_id!r} is also submitted at {p / run_id}" for p in others]
    return out


def check_structure(run: RunFiles, submissions: Path | None = None) -> list[str]:
    """Everything checkable without the dataset: names, place, task definitions, config and seeds."""
    where = run.folder / RESULTS
    results = run.results
    out = name_defects(run.folder, results, submissions) + definition_defects(where, results)
    try:
        spec = run_spec(results)
    except ConfigError as exc:
        return out + [f"{where}: {exc}"]
    tasks = list(results["tasks"])
    missing = [t for t in spec.tasks if t not in results["tasks"]]
    if missing:
        out.append(
            f"{where}: tasks: missing {', '.join(missing)} (config.tasks runs {', '.join(spec.tasks)})"
        )
    extra = [t for t in tasks if t not in spec.tasks]
    if extra:
        out.append(f"{where}: tasks: {', '.join(shown(t) for t in extra)} not in config.tasks")
    defined = _defined_versions()
    for task, block in results["tasks"].items():
        if block["version"] not in defined.get(task, ()):
            continue  # definition_defects said so
        if task in spec.tasks and block["version"] != spec.task_version(task):
            out.append(
                f"{where}: tasks.{task}.version: {block['version']}, but config.task_versions gives "
                f"version {spec.task_version(task)}"
            )
    if spec.dataset != results["dataset"]["name"]:
        out.append(
            f"{where}: config.dataset: {shown(spec.dataset)}, but dataset.name is {shown(results['dataset']['name'])}"
        )
    for key, value in spec.seeds.items():
        if key in results["seeds"] and results["seeds"][key] != value:
            out.append(f"{where}: seeds.{key}: {results['seeds'][key]!r}, but config.seed is {spec.seed}")
    extra_rows = sorted(set(run.rows) - set(results["tasks"]))
    if extra_rows:
        out.append(
            f"{run.samples_path}: rows of task(s) not in results.json: {', '.join(shown(t) for t in extra_rows[:5])}"
        )
    claimed = results.get("samples_sha256")
    if claimed is not None and claimed != run.samples_sha256:
        out.append(
            f"{where}: samples_sha256: {claimed[:12]}…, but the samples (uncompressed) hash to "
            f"{run.samples_sha256[:12]}…"
        )
    return out


def run_spec(results: dict):
    """The run's settings (results.json ``config``) as a checked RunSpec; a ConfigError names the field."""
    from recbench.run.spec import RunSpec

    try:
        return RunSpec.from_dict(results["config"])
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"config: {exc}") from None


# --- the dataset, identified by its sha256 -------------------------------------------------------------


def _trusted_dirs(name: str, data_dirs: list[Path]) -> list[Path | None]:
    """Where a dataset called ``name`` may be read: ML-100K from the installed wheel, and ``data_dirs``."""
    return ([None] if name == ML100K else []) + list(data_dirs)


def _name_defect(name: str) -> str | None:
    """A dataset name whose options could name a file outside the dataset folder is refused."""
    from recbench.data.base import split_dataset_name

    try:
        _, options = split_dataset_name(name)
    except ConfigError as exc:
        return str(exc)
    for key, value in options.items():
        if name_problem(key) or name_problem(value):
            return f"dataset option {shown(key)}={shown(value)}: option values must be plain names"
    return None


# --- embeddings: each distinct text once, whole lists cached on disk -----------------------------------


class Embeddings:
    """The sentence embedder one run is scored with: a memo in front of
    :class:`~recbench.metrics.embedding_cache.CachedEmbedder`.

    Texts are embedded in three large calls (:func:`prefetch_embeddings`), each cached on disk by its
    exact list: the catalogue titles as a run embeds them (a machine that ran the benchmark has them
    already), the run's distinct targets, its distinct outputs. The metrics' own calls
    (:meth:`encode`) are then served text by text from the memo: each distinct text is embedded once,
    and validating the same run again loads no model at all. One memo per run, so a run's scores never
    depend on which runs were scored before it in the same process.
    """

    def __init__(self, cached=None, device: str = "cpu") -> None:
        self._cached = cached
        self.device = device
        self.vectors: dict[str, np.ndarray] = {}

    @property
    def cached(self):
        if self._cached is None:
            from recbench.metrics.embedding_cache import CachedEmbedder

            self._cached = CachedEmbedder(self.device)
        return self._cached

    def prefetch(self, texts: list[str]) -> None:
        """Embed ``texts`` in one call (cached on disk by the exact list) unless all are known."""
        if all(t in self.vectors for t in texts):
            return
        for text, vector in zip(texts, self.cached.encode(texts), strict=True):
            self.vectors.setdefault(text, vector)

    @property
    def dim(self) -> int:
        if self.vectors:
            return int(next(iter(self.vectors.values())).shape[0])
        return self.cached.dim

    def encode(self, texts) -> np.ndarray:
        texts = list(texts)
        missing = sorted({t for t in texts if t not in self.vectors})
        if missing:
            self.prefetch(missing)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.vectors[t] for t in texts])


def uses_embedder(metric: str) -> bool:
    try:
        return bool(getattr(registry.metrics.get(metric), "uses_embedder", False))
    except UnknownNameError:
        return False


def scoring_context(data, embeddings: Embeddings | None = None, matcher=None) -> MetricContext:
    """A metric context over ``data``'s catalogue scoring with ``embeddings`` (a fresh one by default)."""
    ctx = MetricContext(data.items, embedder=embeddings or Embeddings())
    if matcher is not None:
        ctx.__dict__["matcher"] = matcher  # a cached_property: the title matcher is shared
    return ctx


def prefetch_embeddings(
    ctx: MetricContext, embeddings: Embeddings, tasks: dict[str, tuple], rows: dict
) -> None:
    """Embed, in three cached calls, what the tasks' embedder metrics will ask for: the catalogue
    titles (the exact list a run embeds), the distinct targets, the distinct outputs."""
    from recbench.metrics.titles import natural_title

    need = {t: [m for m in metrics if uses_embedder(m)] for t, metrics in tasks.items()}
    need = {t: ms for t, ms in need.items() if ms}
    if not need:
        return
    if any(m.startswith("retrieval") for ms in need.values() for m in ms):
        embeddings.prefetch([natural_title(item.title) for item in ctx.catalog])
    samples = [s for t in need for group in rows.get(t, {}).values() for s in group]
    if any("embedding_similarity" in ms for ms in need.values()):
        embeddings.prefetch(sorted({s.target for s in samples}))
    embeddings.prefetch(sorted({s.output for s in samples}))


def sample_test_windows(data, window: int, seed: int, limit: int | None) -> list:
    """The test windows ``recbench run`` evaluates for these settings (no torch import on this path)."""
    from recbench.data.splits import test_windows

    return test_windows(data, window, seed, limit)


# --- the validator -------------------------------------------------------------------------------------


@dataclass
class _Derived:
    data: object  # SequenceData
    instances: dict[str, list]  # task -> [Instance], as `recbench run` builds them
    windows: list  # the test windows they come from


class Validator:
    """Validates runs one by one, sharing what they share: datasets, derived instances, embeddings.

    ``data_dirs``: dataset folders (csv) a run's dataset may be matched against by sha256, besides
    ML-100K from the installed wheel; the tests' tiny dataset is one. ``submissions``: the tree's
    root; a run inside it must sit at ``<root>/<slug>/<run-id>``.
    """

    def __init__(self, data_dirs: Iterable[Path] = (), submissions: Path | None = None) -> None:
        self.data_dirs = [Path(d).resolve() for d in data_dirs]
        self.submissions = Path(submissions) if submissions is not None else None
        self._embedder = None  # one CachedEmbedder (one model) for every run
        self._datasets: dict[tuple, object] = {}
        self._derived: dict[tuple, _Derived] = {}
        self._contexts: dict[str, MetricContext] = {}
        self._seen: dict[str, str] = {}

    # the dataset and the instances it implies
    def dataset(self, card: dict):
        """The run's dataset (SequenceData), matched by name and sha256 among the trusted ones."""
        from recbench.data import load_dataset

        name, sha = card["name"], card["sha256"]
        if (name, sha) in self._datasets:
            return self._datasets[(name, sha)]
        if problem := _name_defect(name):
            raise Defect(f"dataset.name: {problem}")
        seen = []
        for place in _trusted_dirs(name, self.data_dirs):
            try:
                data = load_dataset(name, place)
            except (RecbenchError, OSError, ValueError):
                continue  # not this folder: the next trusted one may be it
            seen.append(data.sha256)
            if data.sha256 == sha:
                self._datasets[(name, sha)] = data
                return data
        if name == ML100K and seen and seen[0] != sha:
            raise Defect(
                f"dataset.sha256: {sha[:12]}…, but ml-100k here (the installed recbole wheel) has "
                f"{seen[0][:12]}…: scores would not be comparable"
            )
        known = "ml-100k from the installed recbole wheel" + (
            " and the folders given with --data-dir" if self.data_dirs else ""
        )
        raise Defect(
            f"dataset: {shown(name)} with sha256 {sha[:12]}… is none of the datasets known here ({known}); "
            "a path named in the submission is never read"
        )

    def derive(self, spec, card: dict) -> _Derived:
        """The test instances ``recbench run`` builds for these settings: same windows, same ids."""
        from recbench.tasks import build_instances
        from recbench.tasks.instances import targets_recommender

        tasks = tuple((t, spec.task_version(t)) for t in spec.tasks)
        key = (card["name"], card["sha256"], spec.window, spec.seed, spec.limit, tasks)
        if key not in self._derived:
            data = self.dataset(card)
            test = sample_test_windows(data, spec.window, spec.seed, spec.limit)
            # a task whose target is the recommender's top-1 is built per run, from the rows' own
            # rec_top1 (instance_defects): validate has no checkpoint to re-derive it
            instances = {
                t: [] if targets_recommender(d) else build_instances(d, test, data, {})
                for t, d in ((t, task_definition(t, v)) for t, v in tasks)
            }
            self._derived[key] = _Derived(data, instances, test)
        return self._derived[key]

    def context(self, data) -> tuple[MetricContext, Embeddings]:
        """A fresh metric context for one run (its own embedding memo), sharing the title matcher."""
        if data.sha256 not in self._contexts:
            self._contexts[data.sha256] = MetricContext(data.items)
        if self._embedder is None:
            self._embedder = Embeddings().cached
        embeddings = Embeddings(self._embedder)
        return scoring_context(data, embeddings, self._contexts[data.sha256].matcher), embeddings

    # the whole check
    def validate(self, folder: Path, rescore: bool = True, check_sizes: bool = True) -> list[str]:
        """Every defect of the run in ``folder``, one printable line each."""
        try:
            lines = self._validate(Path(folder), rescore, check_sizes)
        except Defect as exc:
            lines = str(exc).split("\n")
        except RecbenchError as exc:
            lines = [f"{folder}: {exc}"]
        except (RecursionError, MemoryError, OSError, ValueError, TypeError, KeyError, IndexError) as exc:
            # not expected past the checks above; still one line, never a traceback
            lines = [f"{folder}: cannot be validated ({type(exc).__name__}: {shown(str(exc), 120)})"]
        return [printable(line) for line in dict.fromkeys(lines)]

    def _validate(self, folder: Path, rescore: bool, check_sizes: bool) -> list[str]:
        strict = self.submissions is not None and _inside(folder, self.submissions)
        run, out = read_run(folder, check_sizes=check_sizes, strict=strict)
        if run is None:
            return out
        where = folder / RESULTS
        results = run.results
        run_id = results["run_id"]
        if not strict and run_id in self._seen and self._seen[run_id] != os.path.abspath(folder):
            # (inside the submissions tree, name_defects looks for every other folder of this id)
            out.append(f"{where}: run_id: {run_id!r} is also validated at {self._seen[run_id]}")
        self._seen.setdefault(run_id, os.path.abspath(folder))
        out += check_structure(run, self.submissions if strict else None)
        if out:
            return out
        spec = run_spec(results)
        try:
            derived = self.derive(spec, results["dataset"])
        except Defect as exc:
            return [f"{where}: {exc}"]
        out = self.instance_defects(run, spec, derived)
        if out or not rescore:
            return out
        return self.score_defects(run, spec, derived)

    def instance_defects(self, run: RunFiles, spec, derived: _Derived) -> list[str]:
        """Rows must be exactly the derived instances: none dropped, duplicated, invented or edited."""
        where, path = run.folder / RESULTS, run.samples_path
        settings = f"config.seed {spec.seed}, config.limit {spec.limit}, config.window {spec.window}"
        out = []
        for task, block in run.results["tasks"].items():
            definition = task_definition(task, block["version"])
            groups = run.rows.get(task, {})
            expected = derived.instances[task]
            if {"rec_top1", "rec_top10"} & set(definition.inputs):
                # rebuilt with what the rows claim the recommender said; checked below for shape
                from recbench.tasks import build_instances
                from recbench.tasks.instances import targets_recommender

                real = groups.get("real", [])
                if targets_recommender(definition):  # a target made from a bad rec_top1 means nothing
                    plain = build_instances(
                        definition, derived.windows, derived.data, beliefs.stand_in(derived)
                    )
                    if bad := _top1_defects(path, f"{task} (real)", real, plain, derived.data.n_items):
                        out += bad
                        continue
                claimed = beliefs.provided_by_rows(real, task, derived.windows)
                expected = build_instances(definition, derived.windows, derived.data, claimed)
            if block["n"] != len(expected):
                out.append(
                    f"{where}: tasks.{task}.n: claimed {block['n']}, but {settings} give {len(expected)} instances"
                )
            if not groups.get("real"):
                out.append(f"{path}: task {task} has no real rows")
            declared = "rec_top1" in definition.inputs
            real_top1 = {s.id: s.rec_top1 for s in groups.get("real", [])}
            for condition, rows in groups.items():
                out += _row_defects(path, f"{task} ({condition})", rows, expected, settings)
                if declared:
                    out += _top1_defects(path, f"{task} ({condition})", rows, expected, derived.data.n_items)
                out += self.belief_defects(path, f"{task} ({condition})", rows, expected, definition, derived)
                if condition != "real":
                    moved = [s.id for s in rows if s.id in real_top1 and s.rec_top1 != real_top1[s.id]]
                    if moved:
                        out.append(
                            f"{path}: {task} ({condition}): rec_top1 of {len(moved)} row(s) differs from the real "
                            f"row's (first: {shown(moved[0])})"
                        )
            out += beliefs.same_in_every_condition(path, task, groups)
        return out

    def belief_defects(
        self, path: Path, what: str, rows: list, expected: list, definition, derived
    ) -> list[str]:
        """``rec_top10`` and ``roundtrip`` of a condition's rows, as far as they can be checked (see beliefs)."""
        out = []
        if "rec_top10" in definition.inputs:
            out += beliefs.top10_defects(path, what, rows, expected, derived.data.n_items)
        if "roundtrip" in definition.inputs:
            ctx = self.context(derived.data)[0]  # the title matcher only: no text is embedded here
            out += beliefs.roundtrip_defects(path, what, rows, expected, definition.answer_items, ctx)
        return out

    def score_defects(self, run: RunFiles, spec, derived: _Derived) -> list[str]:
        """Re-score every task from the samples: every claimed number, and each row's scores."""
        where, path = run.folder / RESULTS, run.samples_path
        ctx, embeddings = self.context(derived.data)
        seed = int(run.results["seeds"].get("bootstrap", spec.seed))
        tasks = {t: task_definition(t, b["version"]).metrics for t, b in run.results["tasks"].items()}
        try:
            prefetch_embeddings(ctx, embeddings, tasks, run.rows)
        except RecbenchError as exc:
            return [f"{where}: {exc}"]
        out = []
        for task, block in run.results["tasks"].items():
            groups = run.rows[task]
            try:
                recomputed = summarise_task(
                    groups["real"], groups.get("shuffled"), list(tasks[task]), ctx, seed
                )
            except RecbenchError as exc:
                out.append(f"{path}: {task}: {exc}")
                continue
            out += [f"{where}: {problem}" for problem in compare_task(task, block, recomputed)]
            for condition, rows in groups.items():
                out += _sample_score_defects(path, f"{task} ({condition})", rows, run.claimed_scores)
        return out


def _row_defects(path: Path, what: str, rows: list[Sample], expected: list, settings: str) -> list[str]:
    ids = [s.id for s in rows]
    want = [i.id for i in expected]
    out = []
    if ids != want:
        counts = Counter(ids)
        wanted = set(want)
        missing = [i for i in want if i not in counts]
        extra = [i for i in counts if i not in wanted]
        twice = [i for i, c in counts.items() if c > 1]
        if missing:
            out.append(
                f"{path}: {what}: {len(missing)} of the {len(want)} instances that {settings} give are "
                f"missing (first: {shown(missing[0])})"
            )
        if extra:
            out.append(
                f"{path}: {what}: {len(extra)} instance id(s) that {settings} do not give "
                f"(first: {shown(extra[0])})"
            )
        if twice:
            out.append(
                f"{path}: {what}: {len(twice)} instance id(s) appear more than once "
                f"(first: {shown(twice[0])}, {counts[twice[0]]} times)"
            )
        if not out:
            out.append(f"{path}: {what}: rows are not in the order of the instances")
    by_id = {i.id: i for i in expected}
    edited: dict[str, list[str]] = {}
    for s in rows:
        inst = by_id.get(s.id)
        if inst is None:
            continue
        for name, got, exp in (
            ("target", s.target, inst.target),
            ("prompt", s.prompt, inst.prompt),
            ("target_items", list(s.target_items), list(inst.target_items)),
            ("target_genres", list(s.target_genres), list(inst.target_genres)),
            ("next_item", s.next_item, inst.next_item),
        ):
            if got != exp:
                edited.setdefault(name, []).append(s.id)
    for name, which in edited.items():
        out.append(
            f"{path}: {what}: {name} of {len(which)} row(s) is not the one the dataset gives "
            f"(first: {shown(which[0])})"
        )
    return out


def _top1_defects(path: Path, what: str, rows: list[Sample], expected: list, n_items: int) -> list[str]:
    """rec_top1 cannot be re-derived without the recommender's checkpoint: only its type and range
    (an item of the catalogue, not one of the window's items) are checked."""
    windows = {i.id: i.window for i in expected}
    bad = [
        s.id
        for s in rows
        if not (isinstance(s.rec_top1, int) and 1 <= s.rec_top1 <= n_items)
        or (s.id in windows and s.rec_top1 in windows[s.id].items)
    ]
    if not bad:
        return []
    return [
        f"{path}: {what}: rec_top1 of {len(bad)} row(s) is not an item of the catalogue outside the "
        f"window (1..{n_items}) (first: {shown(bad[0])})"
    ]


def _sample_score_defects(path: Path, what: str, rows: list[Sample], claimed: dict[int, dict]) -> list[str]:
    wrong: dict[str, list[str]] = {}
    for s in rows:
        mine = claimed.get(id(s), {})
        for metric, value in s.scores.items():
            if metric not in mine:
                wrong.setdefault(f"scores.{metric} missing", []).append(s.id)
            elif abs(mine[metric] - value) > tolerance(metric):
                wrong.setdefault(f"scores.{metric} not reproduced", []).append(s.id)
        for metric in mine:
            if metric not in s.scores:
                wrong.setdefault(f"scores.{shown(metric)} is not one of the task's metrics", []).append(s.id)
    return [
        f"{path}: {what}: {problem} in {len(ids)} row(s) (first: {shown(ids[0])})"
        for problem, ids in wrong.items()
    ]


# --- entry points --------------------------------------------------------------------------------------


def validate_run(
    folder: Path,
    submissions: Path | None = None,
    validator: Validator | None = None,
    rescore: bool = True,
    check_sizes: bool = True,
    data_dirs: Iterable[Path] = (),
) -> list[str]:
    """Every defect of the run in ``folder``, one printable line each (``<file>: <field>: <problem>``).

    ``submissions``: the submissions root; a run inside it must sit at ``<root>/<slug>/<run_id>`` and
    hold nothing but its files. ``validator``: shared across calls so each dataset is loaded and each
    text embedded once (its own ``data_dirs`` and ``submissions`` then apply). ``data_dirs``: csv
    dataset folders a run may have used (besides ML-100K from the installed wheel). ``rescore=False``
    skips the (slowest) step, re-scoring the samples. ``check_sizes=False`` lets samples.jsonl exceed
    the per-file cap (``submit`` checks it on the files it writes, after compressing the samples).
    """
    if validator is None:
        validator = Validator(data_dirs, submissions)
    elif submissions is not None and validator.submissions is None:
        validator.submissions = Path(submissions)
    return validator.validate(Path(folder), rescore=rescore, check_sizes=check_sizes)
