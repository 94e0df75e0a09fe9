"""MovieLens-100K, from the copy inside the installed recbole wheel or a GroupLens folder."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

from recbench.data.base import (
    TIMESTAMP_HINT,
    Interaction,
    Item,
    ItemTable,
    Problems,
    SequenceData,
    build_sequences,
    display_title,
    parse_year,
    read_source,
    text_lines,
    to_int,
    to_timestamp,
)
from recbench.errors import DataError

GROUPLENS_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip


def recbole_ml100k_dir() -> Path:
    """Where the recbole wheel keeps ML-100K; found without importing recbole."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "ML-100K not found: the recbole wheel is not installed "
            "(run `make demo` or `pip install --no-deps recbole==1.2.1`), or pass --data-dir"
        )
    path = Path(spec.submodule_search_locations[0]) / "dataset_example" / "ml-100k"
    if not path.is_dir():
        raise DataError(f"{path}: ML-100K folder missing from the installed recbole wheel")
    return path


class MovieLens100K:
    """MovieLens-100K: 943 users, 1682 movies with titles, years and genres (GroupLens)."""

    name = "ml-100k"

    @classmethod
    def load(cls, data_dir: Path | None = None) -> SequenceData:
        if data_dir is None:
            return _load_recbole(recbole_ml100k_dir())
        data_dir = Path(data_dir)
        if not data_dir.is_dir():
            raise DataError(f"{data_dir}: --data-dir is not a folder")
        if (data_dir / "ml-100k.inter").exists():
            return _load_recbole(data_dir)
        return _load_grouplens(data_dir)


def _rows(
    path: Path,
    text: str,
    sep: str,
    header: list[str],
    min_fields: int,
    skip_header: bool,
    problems: Problems,
):
    """Yield (line number, fields) for non-empty lines with enough fields; short lines go to ``problems``."""
    for number, line in text_lines(text):
        if (skip_header and number == 1) or not line.strip():
            continue
        fields = line.split(sep)
        if len(fields) < min_fields:
            missing = (
                header[len(fields)] if header and len(fields) < len(header) else f"field {len(fields) + 1}"
            )
            problems.add(path, f"missing field '{missing}'", number, f"{len(fields)} of {min_fields} fields")
            continue
        yield number, fields


class _Fields:
    """Parses one row's fields, sending each bad value to ``problems`` (``ok`` turns False)."""

    def __init__(self, path: Path, line: int, problems: Problems):
        self.path, self.line, self.problems, self.ok = path, line, problems, True

    def int(self, value: str, name: str) -> int:
        number = to_int(value)
        if number is None:
            self.problems.add(self.path, f"field '{name}' is not an integer", self.line, repr(value.strip()))
            self.ok = False
            return 0
        return number

    def timestamp(self, value: str, name: str) -> float:
        ts = to_timestamp(value)
        if ts is None:
            what = f"field '{name}' is not a number or an ISO-8601 time"
            self.problems.add(self.path, what, self.line, repr(value.strip()), TIMESTAMP_HINT)
            self.ok = False
            return 0.0
        return ts

    def text(self, value: str, name: str) -> str:
        if not value.strip():
            self.problems.add(self.path, f"field '{name}' is empty", self.line)
            self.ok = False
        return value.strip()


def _interaction(
    path: Path, line: int, problems: Problems, user: str, item: str, ts: str, names: tuple[str, str, str]
) -> Interaction | None:
    """One interaction from its three fields; bad values go to ``problems`` (and give None)."""
    try:  # the common case first: integers and a finite number
        seconds = float(ts)
        if math.isfinite(seconds):
            return Interaction(str(int(user)), str(int(item)), seconds, line)
    except ValueError:
        pass
    row = _Fields(path, line, problems)
    user_id, item_id = row.int(user, names[0]), row.int(item, names[1])
    seconds = row.timestamp(ts, names[2])
    return Interaction(str(user_id), str(item_id), seconds, line) if row.ok else None


def _header_columns(path: Path, text: str, wanted: list[str]) -> tuple[list[str], list[int]]:
    """RecBole atomic files name columns as ``name:type``; find each wanted column by name."""
    header = [h.split(":")[0].strip() for h in text.split("\n", 1)[0].split("\t")]
    positions = []
    for col in wanted:
        if col not in header:
            raise DataError(f"{path}: missing column '{col}' (header has: {', '.join(header)})")
        positions.append(header.index(col))
    return header, positions


def _load_recbole(folder: Path) -> SequenceData:
    inter_path, item_path = folder / "ml-100k.inter", folder / "ml-100k.item"
    inter = read_source(inter_path)
    item = read_source(item_path)
    problems = Problems()
    header, (c_user, c_item, c_ts) = _header_columns(
        inter_path, inter.text, ["user_id", "item_id", "timestamp"]
    )
    interactions = []
    names = ("user_id", "item_id", "timestamp")
    for line, f in _rows(inter_path, inter.text, "\t", header, len(header), True, problems):
        row = _interaction(inter_path, line, problems, f[c_user], f[c_item], f[c_ts], names)
        if row is not None:
            interactions.append(row)
    header, (c_id, c_title, c_year, c_class) = _header_columns(
        item_path, item.text, ["item_id", "movie_title", "release_year", "class"]
    )
    table = ItemTable(item_path, problems)
    for line, f in _rows(item_path, item.text, "\t", header, len(header), True, problems):
        row = _Fields(item_path, line, problems)
        raw, title = row.int(f[c_id], "item_id"), row.text(f[c_title], "movie_title")
        if row.ok:
            year = parse_year(f[c_year], title)
            table.add(line, Item(str(raw), display_title(title, year), tuple(f[c_class].split()), year))
    problems.raise_if_any()
    files = {inter_path.name: inter.sha256, item_path.name: item.sha256}
    return build_sequences("ml-100k", table.items, interactions, files, inter_path, item_path)


def _load_grouplens(folder: Path) -> SequenceData:
    """The original GroupLens layout: u.data (tab separated) and u.item (pipe separated, Latin-1)."""
    data_path, item_path = folder / "u.data", folder / "u.item"
    for path in (data_path, item_path):
        if not path.is_file():
            raise DataError(f"{path}: file not found (a GroupLens ML-100K folder holds u.data and u.item)")
    data = read_source(data_path)
    # GroupLens ships u.item in ISO-8859-1/cp1252; cp1252 leaves a few bytes undefined, which we reject.
    item = read_source(item_path, encodings=("utf-8", "cp1252"))
    problems = Problems()
    names = ["user id", "item id", "rating", "timestamp"]
    interactions = []
    for line, f in _rows(data_path, data.text, "\t", names, 4, False, problems):
        row = _interaction(data_path, line, problems, f[0], f[1], f[3], ("user id", "item id", "timestamp"))
        if row is not None:
            interactions.append(row)
    item_names = ["movie id", "movie title", "release date", "video release date", "IMDb URL"]
    table = ItemTable(item_path, problems)
    for line, f in _rows(
        item_path, item.text, "|", item_names + list(GROUPLENS_GENRES), 5 + 19, False, problems
    ):
        row = _Fields(item_path, line, problems)
        raw, title = row.int(f[0], "movie id"), row.text(f[1], "movie title")
        if not row.ok:
            continue
        flags = f[5:24]
        genres = tuple(g for g, flag in zip(GROUPLENS_GENRES, flags, strict=False) if flag.strip() == "1")
        year = parse_year(f[2][-4:] if f[2].strip() else "", title)
        table.add(line, Item(str(raw), display_title(title, year), genres, year))
    problems.raise_if_any()
    files = {data_path.name: data.sha256, item_path.name: item.sha256}
    return build_sequences("ml-100k", table.items, interactions, files, data_path, item_path)
