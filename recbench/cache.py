"""On-disk cache: where it lives, how keys are made, and writes that never leave half an entry."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from recbench.errors import RecbenchError


def cache_dir() -> Path:
    """``$RECBENCH_CACHE``, else ``~/.cache/recbench``; created on first use."""
    root = Path(os.environ.get("RECBENCH_CACHE") or Path.home() / ".cache" / "recbench")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RecbenchError(f"cache directory {root} cannot be created: {exc.strerror}") from None
    if not os.access(root, os.W_OK):
        raise RecbenchError(f"cache directory {root} is not writable (set RECBENCH_CACHE to another folder)")
    return root


def stable_hash(obj: object, length: int = 16) -> str:
    """sha256 of the canonical JSON form of ``obj`` (sorted keys), truncated."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file beside ``path``, fsync, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


@contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temp folder to fill; on success it is renamed to ``final`` in one step.

    If the block raises (or the process dies), ``final`` is untouched: no half cache entry.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp"))
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def sha256_of_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def pretrained_dir() -> Path:
    """The read-only pretrained cache layer: ``$RECBENCH_PRETRAINED``, else the ``recbench/pretrained/``
    folder shipped in the package (committed entries, see docs/pretrained.md)."""
    env = os.environ.get("RECBENCH_PRETRAINED")
    if env:
        return Path(env)
    from recbench.resources import package_path

    return package_path("pretrained")


def find_entry(kind: str, name: str) -> Path | None:
    """A cache entry ``<kind>/<name>``: the user's cache first, then the committed pretrained layer."""
    for root in (cache_dir(), pretrained_dir()):
        path = root / kind / name
        if path.is_dir():
            return path
    return None
