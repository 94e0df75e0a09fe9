"""Any catalogue as two CSV files: interactions.csv (user, item, timestamp) and items.csv.

Column names and file names can be mapped (``--columns user=user_id,item=movie_id``,
``--items-file movies.csv``); the mapping becomes part of the dataset's name and identity.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from recbench.data.base import (
    TIMESTAMP_HINT,
    Interaction,
    Item,
    ItemTable,
    Problems,
    SequenceData,
    Source,
    build_sequences,
    display_title,
    gc_paused,
    join_dataset_name,
    read_source,
    to_timestamp,
    year_in_title,
)
from recbench.errors import ConfigError, DataError

# field -> which file(s) hold it; the default column name is the field's own name
FIELDS = {
    "user": ("interactions",),
    "item": ("interactions", "items"),
    "timestamp": ("interactions",),
    "title": ("items",),
    "genres": ("items",),
    "year": ("items",),
}
FILES = {"interactions_file": "interactions.csv", "items_file": "items.csv"}
DELIMITERS = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
GENRE_SEPARATOR = "|"


class CsvPairDataset:
    """Generic pair of CSV files: interactions.csv (user,item,timestamp), items.csv (item,title[,genres,year])."""

    name = "csv"
    options = (*FIELDS, *FILES)

    @classmethod
    def normalise_options(cls, options: dict[str, str]) -> dict[str, str]:
        """Check the options and drop those that change nothing (``user=user``, ``items_file=items.csv``)."""
        from recbench.registry import unknown_name_message

        out: dict[str, str] = {}
        for key, value in options.items():
            value = str(value).strip()
            if key not in cls.options:
                raise ConfigError(
                    unknown_name_message("field of dataset 'csv'", key, list(cls.options))
                    + " (map columns as --columns user=user_id,item=movie_id)"
                )
            if key in FILES:
                if value in ("", ".", "..") or "/" in value or "\\" in value:
                    raise ConfigError(
                        f"--{key.replace('_', '-')} {value!r}: give the name of a file inside --data-dir"
                    )
                if value != FILES[key]:
                    out[key] = value
            elif value != key:
                out[key] = value
        names = {k: out.get(k, default) for k, default in FILES.items()}
        if names["interactions_file"] == names["items_file"]:
            raise ConfigError(f"interactions and items both read from {names['items_file']!r}")
        for file in ("interactions", "items"):
            seen: dict[str, str] = {}
            for fld, where in FIELDS.items():
                if file not in where:
                    continue
                column = out.get(fld, fld)
                if column in seen:
                    raise ConfigError(
                        f"--columns: fields '{seen[column]}' and '{fld}' both read column '{column}' of the {file} file"
                    )
                seen[column] = fld
        return out

    @classmethod
    def load(cls, data_dir: Path | None = None, **options: str) -> SequenceData:
        options = cls.normalise_options(options)
        inter_name = options.get("interactions_file", FILES["interactions_file"])
        item_name = options.get("items_file", FILES["items_file"])
        if data_dir is None:
            raise DataError(f"dataset 'csv' needs --data-dir, a folder with {inter_name} and {item_name}")
        data_dir = Path(data_dir)
        if not data_dir.is_dir():
            raise DataError(f"{data_dir}: --data-dir is not a folder")
        columns = {fld: options.get(fld, fld) for fld in FIELDS}
        mapped = {fld for fld in FIELDS if fld in options}
        inter_path, item_path = data_dir / inter_name, data_dir / item_name
        for path, option in ((inter_path, "--interactions-file"), (item_path, "--items-file")):
            if not path.is_file():
                raise DataError(
                    f"{path}: file not found (dataset 'csv' reads {inter_name} and {item_name} from "
                    f"--data-dir; name other files with {option})"
                )
        problems = Problems()

        # millions of row objects and no reference cycles: the collector would only walk them (base.gc_paused)
        with gc_paused():
            item_source = read_source(item_path)
            table = ItemTable(item_path, problems)
            for line, row in read_table(
                item_source, columns, ("item", "title"), ("genres", "year"), mapped, problems
            ):
                year = _year(row.get("year", ""), row["title"])
                genres = tuple(g.strip() for g in row.get("genres", "").split(GENRE_SEPARATOR) if g.strip())
                table.add(line, Item(row["item"], display_title(row["title"], year), genres, year))

            inter_source = read_source(inter_path)
            interactions = []
            bad_time = f"field '{columns['timestamp']}' is not a number or an ISO-8601 time"
            for line, row in read_table(
                inter_source, columns, ("user", "item", "timestamp"), (), mapped, problems
            ):
                ts = to_timestamp(row["timestamp"])
                if ts is None:
                    problems.add(inter_path, bad_time, line, repr(row["timestamp"]), TIMESTAMP_HINT)
                    continue
                interactions.append(Interaction(row["user"], row["item"], ts, line))
            problems.raise_if_any()

        files = {inter_path.name: inter_source.sha256, item_path.name: item_source.sha256}
        name = join_dataset_name(cls.name, options)
        return build_sequences(name, table.items, interactions, files, inter_path, item_path, options)


def _year(text: str, title: str) -> int | None:
    """The year field when it is a whole number (``1995``, ``1995.0``), else the title's "(1995)"."""
    text = text.strip()
    if text.endswith(".0"):  # a spreadsheet's or pandas' float column
        text = text.rstrip("0").rstrip(".")
    if text.isdigit():
        try:
            return int(text)
        except ValueError:  # a digit int() does not read, such as '²'
            pass
    return year_in_title(title)


def _counted(lines: Iterator[str], counter: list[int]) -> Iterator[str]:
    for line in lines:
        counter[0] += 1
        yield line


def _sniff(header_line: str, wanted: list[str]) -> tuple[str, list[str]]:
    """The delimiter whose split of the header finds most wanted columns, then most columns; comma on ties."""
    best: tuple[tuple[int, int], str, list[str]] | None = None
    for delimiter in DELIMITERS:
        names = [c.strip() for c in next(csv.reader([header_line], delimiter=delimiter))]
        score = (sum(c in names for c in wanted), len(names))
        if best is None or score > best[0]:
            best = (score, delimiter, names)
    assert best is not None
    return best[1], best[2]


def read_table(
    source: Source,
    columns: dict[str, str],
    required: tuple[str, ...],
    optional: tuple[str, ...],
    mapped: set[str],
    problems: Problems,
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line where the record starts, {field: stripped value}) for every good data row.

    Bad rows (an empty required field, more fields than the header) go to ``problems``; blank lines
    are skipped but counted, so every line number is the file's own.
    """
    path = source.path
    counter = [0]
    lines = _counted(iter(io.StringIO(source.text, newline="")), counter)
    header_line = next((line for line in lines if line.strip()), "")
    wanted = [columns[f] for f in required] + [columns[f] for f in optional if f in mapped]
    delimiter, header = _sniff(header_line, wanted)
    missing = [c for c in wanted if c not in header]
    if missing:
        field_of = {columns[f]: f for f in (*required, *optional)}
        raise DataError(
            f"{path}: missing column{'s' if len(missing) > 1 else ''} {', '.join(repr(c) for c in missing)} "
            f"(header has: {', '.join(header)}; read as {DELIMITERS[delimiter]}-separated); "
            f"map yours with --columns, e.g. --columns {field_of[missing[0]]}=NAME"
        )
    for name in wanted:
        if header.count(name) > 1:
            raise DataError(f"{path}: column '{name}' appears {header.count(name)} times in the header")
    positions = {f: header.index(columns[f]) for f in (*required, *optional) if columns[f] in header}
    reader = csv.reader(lines, delimiter=delimiter)
    while True:
        start = counter[0] + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DataError(f"{path}: line {counter[0]}: {exc}") from None
        if not any(value.strip() for value in row):
            continue  # a blank line
        if len(row) > len(header) and any(value.strip() for value in row[len(header) :]):
            problems.add(
                path,
                "more fields than the header",
                start,
                f"{len(row)} fields where the header has {len(header)}",
                f"quote a field that holds the delimiter ('{delimiter}')" if delimiter != "\t" else "",
            )
            continue
        values = {f: (row[i].strip() if i < len(row) else "") for f, i in positions.items()}
        empty = [f for f in required if not values[f]]
        for f in empty:
            problems.add(path, f"field '{columns[f]}' is empty", start)
        if not empty:
            yield start, values
