"""MovieLens-100K, from the copy inside the installed recbole wheel or a GroupLens folder."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from recbench.data.base import (
    Item,
    SequenceData,
    build_sequences,
    display_title,
    parse_float,
    parse_int,
    parse_year,
    read_text,
    sha256_file,
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


def _rows(path: Path, text: str, sep: str, header: list[str], min_fields: int, skip_header: bool):
    """Yield (line number, fields) for non-empty lines, checking the field count against ``header``."""
    lines = text.splitlines()
    start = 1 if skip_header else 0
    for number, line in enumerate(lines[start:], start=start + 1):
        if not line.strip():
            continue
        fields = line.split(sep)
        if len(fields) < min_fields:
            missing = (
                header[len(fields)] if header and len(fields) < len(header) else f"field {len(fields) + 1}"
            )
            raise DataError(
                f"{path}: line {number}: missing field '{missing}' ({len(fields)} of {min_fields})"
            )
        yield number, fields


def _header_columns(path: Path, text: str, wanted: list[str]) -> tuple[list[str], list[int]]:
    """RecBole atomic files name columns as ``name:type``; find each wanted column by name."""
    header = [h.split(":")[0].strip() for h in text.splitlines()[0].split("\t")]
    positions = []
    for col in wanted:
        if col not in header:
            raise DataError(f"{path}: missing column '{col}' (header has: {', '.join(header)})")
        positions.append(header.index(col))
    return header, positions


def _load_recbole(folder: Path) -> SequenceData:
    inter_path, item_path = folder / "ml-100k.inter", folder / "ml-100k.item"
    inter_text = read_text(inter_path)
    item_text = read_text(item_path)
    header, (c_user, c_item, c_ts) = _header_columns(
        inter_path, inter_text, ["user_id", "item_id", "timestamp"]
    )
    interactions = []
    for line, f in _rows(inter_path, inter_text, "\t", header, len(header), skip_header=True):
        user = str(parse_int(f[c_user], inter_path, line, "user_id"))
        item = str(parse_int(f[c_item], inter_path, line, "item_id"))
        interactions.append((user, item, parse_float(f[c_ts], inter_path, line, "timestamp")))
    header, (c_id, c_title, c_year, c_class) = _header_columns(
        item_path, item_text, ["item_id", "movie_title", "release_year", "class"]
    )
    items: dict[str, Item] = {}
    for line, f in _rows(item_path, item_text, "\t", header, len(header), skip_header=True):
        raw = str(parse_int(f[c_id], item_path, line, "item_id"))
        title = f[c_title].strip()
        if not title:
            raise DataError(f"{item_path}: line {line}: field 'movie_title' is empty")
        year = parse_year(f[c_year], title)
        items[raw] = Item(raw, display_title(title, year), tuple(f[c_class].split()), year)
    files = {p.name: sha256_file(p) for p in (inter_path, item_path)}
    return build_sequences("ml-100k", items, interactions, files, inter_path)


def _load_grouplens(folder: Path) -> SequenceData:
    """The original GroupLens layout: u.data (tab separated) and u.item (pipe separated, Latin-1)."""
    data_path, item_path = folder / "u.data", folder / "u.item"
    for path in (data_path, item_path):
        if not path.is_file():
            raise DataError(f"{path}: file not found (a GroupLens ML-100K folder holds u.data and u.item)")
    data_text = read_text(data_path)
    # GroupLens ships u.item in ISO-8859-1/cp1252; cp1252 leaves a few bytes undefined, which we reject.
    item_text = read_text(item_path, encodings=("utf-8", "cp1252"))
    names = ["user id", "item id", "rating", "timestamp"]
    interactions = []
    for line, f in _rows(data_path, data_text, "\t", names, 4, skip_header=False):
        user = str(parse_int(f[0], data_path, line, "user id"))
        item = str(parse_int(f[1], data_path, line, "item id"))
        interactions.append((user, item, parse_float(f[3], data_path, line, "timestamp")))
    item_names = ["movie id", "movie title", "release date", "video release date", "IMDb URL"]
    items: dict[str, Item] = {}
    for line, f in _rows(
        item_path, item_text, "|", item_names + list(GROUPLENS_GENRES), 5 + 19, skip_header=False
    ):
        raw = str(parse_int(f[0], item_path, line, "movie id"))
        title = f[1].strip()
        if not title:
            raise DataError(f"{item_path}: line {line}: field 'movie title' is empty")
        flags = f[5:24]
        genres = tuple(g for g, flag in zip(GROUPLENS_GENRES, flags, strict=False) if flag.strip() == "1")
        year = parse_year(f[2][-4:] if f[2].strip() else "", title)
        items[raw] = Item(raw, display_title(title, year), genres, year)
    files = {p.name: sha256_file(p) for p in (data_path, item_path)}
    return build_sequences("ml-100k", items, interactions, files, data_path)
