"""The in-memory form every dataset loader produces, and the helpers they share."""

from __future__ import annotations

import gc
import hashlib
import json
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import NamedTuple

import numpy as np

from recbench.errors import ConfigError, DataError

TIE_BREAK = (
    "interactions are ordered by timestamp; ties (76% of ML-100K interactions share their "
    "user and timestamp) keep the order of the source file"
)

_YEAR_IN_TITLE = re.compile(r"\((\d{4})\)\s*$")


@dataclass(frozen=True)
class Item:
    """One catalogue entry. ``title`` is the display title, year kept: "Usual Suspects, The (1995)"."""

    raw_id: str
    title: str
    genres: tuple[str, ...] = ()
    year: int | None = None


@dataclass
class SequenceData:
    """A catalogue plus each user's chronological item sequence.

    Internal item ids run from 1 to ``n_items``; 0 is padding. ``items[i - 1]`` is item ``i``.
    """

    name: str
    items: list[Item]
    users: list[str]
    sequences: list[list[int]]
    files: dict[str, str] = field(default_factory=dict)  # file name -> sha256 (see read_source)
    # what the loader was told beyond its folder (a column mapping, file names); part of the identity
    options: dict[str, str] = field(default_factory=dict)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_interactions(self) -> int:
        return sum(len(s) for s in self.sequences)

    @property
    def sha256(self) -> str:
        """One hash over every source file (name and content hash), the dataset's cache identity.

        Loader options (a column mapping, other file names) are folded in when there are any, so two
        readings of the same files never share a cache; without options the hash is what it always was.
        """
        h = hashlib.sha256()
        for name in sorted(self.files):
            h.update(f"{name}:{self.files[name]}\n".encode())
        if self.options:
            h.update(f"options:{json.dumps(self.options, sort_keys=True, separators=(',', ':'))}\n".encode())
        return h.hexdigest()

    def title(self, item_id: int) -> str:
        return self.items[item_id - 1].title

    def card(self) -> dict:
        """Users, items, interactions and source hashes (window counts are added by the caller)."""
        return {
            "name": self.name,
            "users": len(self.users),
            "items": self.n_items,
            "interactions": self.n_interactions,
            "order": TIE_BREAK,
            "sha256": self.sha256,
            "files": dict(sorted(self.files.items())),
            **({"options": dict(sorted(self.options.items()))} if self.options else {}),
        }


def display_title(title: str, year: int | None) -> str:
    """Append "(year)" unless the title already ends with one."""
    title = title.strip()
    if year is None or _YEAR_IN_TITLE.search(title):
        return title
    return f"{title} ({year})"


def parse_year(raw: str, title: str) -> int | None:
    """A four-digit year from its own field, else from a trailing "(1995)" in the title, else None."""
    raw = raw.strip()
    if len(raw) == 4 and raw.isdigit():
        return int(raw)
    return year_in_title(title)


def year_in_title(title: str) -> int | None:
    m = _YEAR_IN_TITLE.search(title)
    return int(m.group(1)) if m else None


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a loop builds many objects that form no cycles.

    Every few hundred new containers start a collection, and the full ones walk every live object, so
    building windows under the collector cost more than the building and grew faster than the data
    (splits: CPU seconds as size^1.35 from 1x to 50x ML-100K, size^1.01 paused; docs/performance.md).
    Nothing built under the pause forms a reference cycle, so there is nothing for the collector to find.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# ---------------------------------------------------------------------------------------------
# Reading files: BOM-tolerant, CRLF-normalised, hashed as read


_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Source:
    """A source file's text and its identity hash (see :func:`read_source`)."""

    path: Path
    text: str
    sha256: str


def read_source(path: Path, encodings: tuple[str, ...] = ("utf-8",)) -> Source:
    """Read a whole text file; undecodable bytes become one line naming the file and line.

    A leading UTF-8 byte-order mark is dropped and CRLF line ends become LF *before* hashing, so the
    same content saved by another editor or OS keeps the dataset's identity; a file with LF line ends
    and no BOM hashes to the sha256 of its bytes, exactly as before.
    """
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(f"{path}: file is UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8")
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    data = data.replace(b"\r\n", b"\n")
    if not data.strip():
        raise DataError(f"{path}: file is empty")
    sha = hashlib.sha256(data).hexdigest()
    error: UnicodeDecodeError | None = None
    for enc in encodings:
        try:
            return Source(path, data.decode(enc), sha)
        except UnicodeDecodeError as exc:
            error = error or exc
    assert error is not None
    line = data[: error.start].count(b"\n") + 1
    raise DataError(
        f"{path}: line {line}: undecodable byte {data[error.start : error.start + 1]!r} "
        f"(tried {', '.join(encodings)})"
    )


def read_text(path: Path, encodings: tuple[str, ...] = ("utf-8",)) -> str:
    """The text of :func:`read_source` (BOM dropped, CRLF read as LF)."""
    return read_source(path, encodings).text


def sha256_file(path: Path) -> str:
    """A source file's identity hash: sha256 of its bytes after dropping a BOM and CRLF -> LF."""
    return read_source(path, encodings=("latin-1",)).sha256


def text_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) for every line, blank ones included: numbers are the file's own lines."""
    lines = re.split(r"\r\n|\r|\n", text)
    if lines and lines[-1] == "":
        lines.pop()
    return enumerate(lines, start=1)


# ---------------------------------------------------------------------------------------------
# Problems: every bad row of one kind, reported together in one line


@dataclass
class _Kind:
    path: str
    what: str
    hint: str
    count: int = 0
    examples: list[tuple[int | None, str | None]] = field(default_factory=list)

    def line(self, show: int) -> str:
        if self.count == 1:
            number, value = self.examples[0]
            where = f"line {number}: " if number is not None else ""
            text = f"{self.path}: {where}{self.what}" + (f": {value}" if value is not None else "")
        else:
            shown = ", ".join(
                f"line {n}" + (f" ({v})" if v is not None else "") for n, v in self.examples[:show]
            )
            more = self.count - min(len(self.examples), show)
            text = f"{self.path}: {self.what} on {self.count} lines: {shown}" + (
                f" and {more} more" if more else ""
            )
        return text + (f"; {self.hint}" if self.hint else "")


class Problems:
    """Bad rows collected while a file is read, so one error reports all of them.

    Each kind of problem in a file becomes one line: the first few lines and values, then a count.
    """

    show = 5

    def __init__(self) -> None:
        self._kinds: dict[tuple[str, str], _Kind] = {}

    def add(self, path: Path, what: str, line: int | None, value: str | None = None, hint: str = "") -> None:
        kind = self._kinds.setdefault((str(path), what), _Kind(str(path), what, hint))
        kind.count += 1
        if len(kind.examples) < self.show:
            kind.examples.append((line, value))

    def __bool__(self) -> bool:
        return bool(self._kinds)

    def message(self) -> str:
        return "\n".join(kind.line(self.show) for kind in self._kinds.values())

    def raise_if_any(self) -> None:
        if self:
            raise DataError(self.message())


# ---------------------------------------------------------------------------------------------
# Field values


def to_int(value: str) -> int | None:
    """An integer, or None when the text is not one."""
    try:
        return int(value.strip())
    except ValueError:
        return None


TIMESTAMP_HINT = (
    "accepted: a number (Unix seconds, e.g. 881250949) or ISO-8601 "
    "(1997-12-04T15:55:49Z, 1997-12-04T16:55:49+01:00; no offset means UTC)"
)

_ISO_8601 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"(Z|z|[+-]\d{2}(?::?\d{2})?)?)?"
)


def to_timestamp(value: str) -> float | None:
    """Seconds: a finite number as it is, or an ISO-8601 time as Unix seconds (naive = UTC); else None.

    ISO-8601 here is ``YYYY-MM-DD``, optionally followed by ``T`` (or a space) and ``HH:MM``,
    ``HH:MM:SS`` or ``HH:MM:SS.fraction``, optionally followed by ``Z`` or an offset ``+HH:MM``,
    ``+HHMM`` or ``+HH`` (``-`` too). A date alone is midnight UTC.
    """
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        return _iso_8601(text)
    return number if math.isfinite(number) else None


def _iso_8601(text: str) -> float | None:
    m = _ISO_8601.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = m.groups()
    tz = timezone.utc
    if offset and offset not in ("Z", "z"):
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        minutes = int(digits[:2]) * 60 + (int(digits[2:]) if len(digits) > 2 else 0)
        if minutes >= 24 * 60 or (len(digits) > 2 and int(digits[2:]) >= 60):
            return None
        tz = timezone(sign * timedelta(minutes=minutes))
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), tzinfo=tz
        )
    except ValueError:
        return None
    return moment.timestamp() + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


# ---------------------------------------------------------------------------------------------
# Building the sequences


class Interaction(NamedTuple):
    user: str
    item: str
    timestamp: float
    line: int  # the line of the source file it came from


def build_sequences(
    name: str,
    items: dict[str, Item],
    interactions: list[Interaction],
    files: dict[str, str],
    interactions_path: Path,
    items_path: Path,
    options: dict[str, str] | None = None,
) -> SequenceData:
    """Order each user's interactions chronologically (stable: ties keep file order).

    Every interaction naming an item the item file lacks is reported, with its line, in one error.
    """
    if not items:
        raise DataError(f"{items_path}: no items: the file has no data rows")
    if not interactions:
        raise DataError(f"{interactions_path}: no interactions: the file has no data rows")
    keys = sorted(items, key=_id_sort_key)
    index = {raw: i + 1 for i, raw in enumerate(keys)}
    problems = Problems()
    code: dict[str, int] = {}  # user -> number, in order of first appearance
    users_of, items_of, stamps = [], [], []
    for row in interactions:
        item = index.get(row.item)
        if item is None:
            problems.add(interactions_path, f"item has no row in {items_path.name}", row.line, repr(row.item))
            continue
        users_of.append(code.setdefault(row.user, len(code)))
        items_of.append(item)
        stamps.append(row.timestamp)
    problems.raise_if_any()
    users = sorted(code, key=_id_sort_key)
    rank = np.empty(len(code), dtype=np.int64)
    rank[[code[u] for u in users]] = np.arange(len(users))
    user_rank = rank[np.asarray(users_of, dtype=np.int64)]
    # One stable sort of every interaction by (user, timestamp): equal timestamps keep file order, the
    # documented tie-break. (Sorting per-user lists of tuples did the same with scattered memory reads,
    # which grew costlier per row as the data grew.)
    order = np.lexsort((np.asarray(stamps, dtype=np.float64), user_rank))
    ordered = np.asarray(items_of, dtype=np.int64)[order].tolist()
    ends = np.cumsum(np.bincount(user_rank, minlength=len(users))).tolist()
    sequences = [ordered[start:end] for start, end in zip([0, *ends[:-1]], ends, strict=True)]
    return SequenceData(name, [items[k] for k in keys], users, sequences, files, dict(options or {}))


def _id_sort_key(raw: str) -> tuple[int, int, str]:
    return (0, int(raw), "") if raw.isdigit() else (1, 0, raw)


class ItemTable:
    """Items by raw id, reporting every id that appears twice with both of its lines."""

    def __init__(self, path: Path, problems: Problems):
        self.path, self.problems = path, problems
        self.items: dict[str, Item] = {}
        self._lines: dict[str, int] = {}

    def add(self, line: int, item: Item) -> None:
        first = self._lines.get(item.raw_id)
        if first is not None:
            self.problems.add(self.path, "duplicate item id", line, f"{item.raw_id!r}, first on line {first}")
            return
        self._lines[item.raw_id] = line
        self.items[item.raw_id] = item


# ---------------------------------------------------------------------------------------------
# Dataset names with options: csv[item=movie_id,user=user_id]

_NAME_WITH_OPTIONS = re.compile(r"([^\[\]]+)\[(.*)\]")
_FORBIDDEN = re.compile(r"[,=\[\]\n\r]")


def split_dataset_name(name: str) -> tuple[str, dict[str, str]]:
    """``csv[user=user_id,items_file=movies.csv]`` -> ``("csv", {"user": "user_id", ...})``."""
    m = _NAME_WITH_OPTIONS.fullmatch(name.strip())
    if m is None:
        return name.strip(), {}
    options: dict[str, str] = {}
    for part in m.group(2).split(","):
        if not part.strip():
            continue
        key, sep, value = (s.strip() for s in part.partition("="))
        if not sep or not key or not value:
            raise ConfigError(f"dataset {name!r}: option {part.strip()!r} is not KEY=VALUE")
        if key in options:
            raise ConfigError(f"dataset {name!r}: option '{key}' given twice")
        options[key] = value
    return m.group(1).strip(), options


def join_dataset_name(base: str, options: dict[str, str]) -> str:
    """The canonical name of a dataset read with options (sorted keys); ``base`` alone without any."""
    for key, value in options.items():
        if _FORBIDDEN.search(key) or _FORBIDDEN.search(value) or not value.strip():
            raise ConfigError(
                f"dataset option {key}={value!r}: names may not be empty or hold ',', '=', '[' or ']'"
            )
    if not options:
        return base
    return f"{base}[{','.join(f'{k}={options[k]}' for k in sorted(options))}]"


def parse_columns(text: str | None) -> dict[str, str]:
    """``user=user_id,item=movie_id`` -> ``{"user": "user_id", "item": "movie_id"}`` (the --columns syntax)."""
    columns: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        key, sep, value = (s.strip() for s in part.partition("="))
        if not sep or not key or not value:
            raise ConfigError(
                f"--columns: {part.strip()!r} is not FIELD=COLUMN (e.g. --columns user=user_id,item=movie_id)"
            )
        if key in columns:
            raise ConfigError(f"--columns: field '{key}' given twice")
        columns[key] = value
    return columns


def _dataset_class(base: str, options: dict[str, str]):
    from recbench import registry

    cls = registry.datasets.get(base)
    if options and not getattr(cls, "options", ()):
        raise ConfigError(
            f"dataset '{base}' takes no options (given: {', '.join(sorted(options))}); "
            "--columns, --interactions-file and --items-file apply to --dataset csv"
        )
    return cls


def _merge_options(
    name: str, columns: dict[str, str] | str | None, options: dict
) -> tuple[str, dict[str, str]]:
    base, merged = split_dataset_name(name)
    extra = {**(parse_columns(columns) if isinstance(columns, str) else dict(columns or {}))}
    extra.update({k: v for k, v in options.items() if v is not None})
    for key, value in extra.items():
        if key in merged and merged[key] != value:
            raise ConfigError(f"dataset {name!r}: option '{key}' is {merged[key]!r} there and {value!r} here")
        merged[key] = str(value)
    return base, merged


def resolve_dataset_name(
    name: str | None, columns: dict[str, str] | str | None = None, **options: str | None
) -> str | None:
    """The canonical dataset name for a name plus a column mapping / file names (the CLI's options).

    Mappings that change nothing (``user=user``, ``items_file=items.csv``) are dropped, so they name
    the same dataset as no mapping; a name that carries options (``csv[user=user]``) is made canonical
    too. A plain ``name`` comes back unchanged (None included) when nothing is given.
    """
    given = {k: v for k, v in options.items() if v is not None}
    if not columns and not given and (name is None or "[" not in name):
        return name
    base, merged = _merge_options(name or "ml-100k", columns, given)
    cls = _dataset_class(base, merged)
    return join_dataset_name(base, cls.normalise_options(merged))


def load_dataset(
    name: str, data_dir: str | Path | None = None, columns: dict[str, str] | str | None = None, **options: str
) -> SequenceData:
    """Load a registered dataset by name, optionally from a folder of the user's.

    ``name`` may carry options, as recorded in a dataset card: ``csv[item=movie_id,user=user_id]``;
    ``columns`` (a dict or ``user=user_id,...``) and ``options`` (``items_file=...``) add to them.
    """
    base, merged = _merge_options(name, columns, options)
    cls = _dataset_class(base, merged)
    path = Path(data_dir) if data_dir is not None else None
    return cls.load(path, **merged) if merged else cls.load(path)
