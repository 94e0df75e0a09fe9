"""The in-memory form every dataset loader produces, and the helpers they share."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from recbench.cache import sha256_of_file as sha256_file  # noqa: F401  (re-exported for loaders)
from recbench.errors import DataError

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
    files: dict[str, str] = field(default_factory=dict)  # file name -> sha256

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_interactions(self) -> int:
        return sum(len(s) for s in self.sequences)

    @property
    def sha256(self) -> str:
        """One hash over every source file (name and content hash), the dataset's cache identity."""
        h = hashlib.sha256()
        for name in sorted(self.files):
            h.update(f"{name}:{self.files[name]}\n".encode())
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
    m = _YEAR_IN_TITLE.search(title)
    return int(m.group(1)) if m else None


def read_text(path: Path, encodings: tuple[str, ...] = ("utf-8",)) -> str:
    """Read a whole text file; undecodable bytes become one line naming the file and line."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    data = path.read_bytes()
    if not data.strip():
        raise DataError(f"{path}: file is empty")
    error: UnicodeDecodeError | None = None
    for enc in encodings:
        try:
            return data.decode(enc)
        except UnicodeDecodeError as exc:
            error = error or exc
    assert error is not None
    line = data[: error.start].count(b"\n") + 1
    raise DataError(
        f"{path}: line {line}: undecodable byte {data[error.start : error.start + 1]!r} "
        f"(tried {', '.join(encodings)})"
    )


def parse_int(value: str, path: Path, line: int, field_name: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise DataError(
            f"{path}: line {line}: field '{field_name}' is not an integer: {value.strip()!r}"
        ) from None


def parse_float(value: str, path: Path, line: int, field_name: str) -> float:
    try:
        return float(value.strip())
    except ValueError:
        raise DataError(
            f"{path}: line {line}: field '{field_name}' is not a number: {value.strip()!r}"
        ) from None


def build_sequences(
    name: str,
    items: dict[str, Item],
    interactions: list[tuple[str, str, float]],
    files: dict[str, str],
    interactions_path: Path,
) -> SequenceData:
    """Order each user's interactions chronologically (stable: ties keep file order)."""
    if not interactions:
        raise DataError(f"{interactions_path}: no interactions")
    keys = sorted(items, key=_id_sort_key)
    index = {raw: i + 1 for i, raw in enumerate(keys)}
    by_user: dict[str, list[tuple[float, int]]] = {}
    for user, raw_item, ts in interactions:
        if raw_item not in index:
            raise DataError(f"{interactions_path}: item {raw_item!r} has no row in the item file")
        by_user.setdefault(user, []).append((ts, index[raw_item]))
    users = sorted(by_user, key=_id_sort_key)
    # sorted() is stable, so equal timestamps keep file order: the documented tie-break.
    sequences = [[item for _, item in sorted(by_user[u], key=lambda p: p[0])] for u in users]
    return SequenceData(name, [items[k] for k in keys], users, sequences, files)


def _id_sort_key(raw: str) -> tuple[int, int, str]:
    return (0, int(raw), "") if raw.isdigit() else (1, 0, raw)


def load_dataset(name: str, data_dir: str | Path | None = None) -> SequenceData:
    """Load a registered dataset by name, optionally from a folder of the user's."""
    from recbench import registry

    cls = registry.datasets.get(name)
    return cls.load(Path(data_dir) if data_dir is not None else None)
