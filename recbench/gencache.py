"""Per-instance generation cache in SQLite: a killed run restarts without redoing finished prompts.

Each key is a hash of (interpreter identity, generation settings, prompt, latent bytes), computed by
:func:`recbench.run.spec.generation_keys` (the one module for keys). SQLite
commits are atomic, so a kill -9 mid-write loses at most the batch in flight, never corrupts; a full
disk is one :class:`~recbench.errors.DiskFullError` line, and the batches committed before it stay.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from recbench.cache import cache_dir, disk_full, is_disk_full
from recbench.errors import RecbenchError


class GenerationCache:
    """A key → output text table in ``<cache>/generations.sqlite``."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else cache_dir() / "generations.sqlite"
        try:
            self.db = sqlite3.connect(self.path, timeout=60)
            self.db.execute("CREATE TABLE IF NOT EXISTS gen (key TEXT PRIMARY KEY, output TEXT NOT NULL)")
            self.db.commit()
        except sqlite3.Error as exc:
            if _is_full(exc):
                raise disk_full(f"the generation cache {self.path}") from None
            raise RecbenchError(f"generation cache {self.path} cannot be used: {exc}") from None

    def get_many(self, keys: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            marks = ",".join("?" * len(chunk))
            found.update(
                self.db.execute(f"SELECT key, output FROM gen WHERE key IN ({marks})", chunk).fetchall()
            )
        return found

    def put_many(self, pairs: list[tuple[str, str]]) -> None:
        try:
            with self.db:  # one transaction: all of the batch or none of it
                self.db.executemany("INSERT OR REPLACE INTO gen (key, output) VALUES (?, ?)", pairs)
        except sqlite3.OperationalError as exc:
            if _is_full(exc):  # the transaction is rolled back; every batch committed before stays
                raise disk_full(f"the generation cache {self.path}") from None
            raise

    def delete(self, keys: list[str]) -> None:
        with self.db:
            self.db.executemany("DELETE FROM gen WHERE key = ?", [(k,) for k in keys])

    def close(self) -> None:
        self.db.close()


def _is_full(exc: sqlite3.Error) -> bool:
    """SQLITE_FULL ("database or disk is full"), or an I/O error that is a full disk or quota."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code == sqlite3.SQLITE_FULL or "disk is full" in str(exc) or is_disk_full(exc.__cause__ or exc)
