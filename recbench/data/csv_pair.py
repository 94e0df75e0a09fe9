"""Any catalogue as two CSV files: interactions.csv (user, item, timestamp) and items.csv."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from recbench.data.base import (
    Item,
    SequenceData,
    build_sequences,
    display_title,
    parse_float,
    read_text,
    sha256_file,
)
from recbench.errors import DataError


class CsvPairDataset:
    """Generic pair of CSV files: interactions.csv (user,item,timestamp), items.csv (item,title[,genres,year])."""

    name = "csv"

    @classmethod
    def load(cls, data_dir: Path | None = None) -> SequenceData:
        if data_dir is None:
            raise DataError("dataset 'csv' needs --data-dir, a folder with interactions.csv and items.csv")
        inter_path, item_path = Path(data_dir) / "interactions.csv", Path(data_dir) / "items.csv"
        interactions = [
            (row["user"], row["item"], parse_float(row["timestamp"], inter_path, line, "timestamp"))
            for line, row in _read_csv(inter_path, ["user", "item", "timestamp"])
        ]
        items: dict[str, Item] = {}
        for line, row in _read_csv(item_path, ["item", "title"]):
            if not row["title"].strip():
                raise DataError(f"{item_path}: line {line}: field 'title' is empty")
            year_text = (row.get("year") or "").strip()
            year = None
            if year_text:
                if not year_text.isdigit():
                    raise DataError(
                        f"{item_path}: line {line}: field 'year' is not an integer: {year_text!r}"
                    )
                year = int(year_text)
            genres = tuple(g.strip() for g in (row.get("genres") or "").split("|") if g.strip())
            items[row["item"]] = Item(row["item"], display_title(row["title"], year), genres, year)
        files = {p.name: sha256_file(p) for p in (inter_path, item_path)}
        return build_sequences("csv", items, interactions, files, inter_path)


def _read_csv(path: Path, required: list[str]):
    text = read_text(path)
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in reader.fieldnames or []]
    for col in required:
        if col not in columns:
            raise DataError(f"{path}: missing column '{col}' (header has: {', '.join(columns)})")
    for line, row in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "") for k, v in row.items()}
        for col in required:
            if not row.get(col, "").strip():
                raise DataError(f"{path}: line {line}: field '{col}' is empty")
        row = {k: v.strip() for k, v in row.items()}
        yield line, row
