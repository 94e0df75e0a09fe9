"""On-disk cache: where it lives, how keys are made, and writes that never leave half an entry.

What a kill (or a second process) can and cannot do here:

* a file is written to a temp file beside it, fsynced and renamed over the old one
  (:func:`atomic_write_bytes`): a reader sees the old file or the new one, never half of one;
* an entry folder is filled in a temp folder and renamed into place (:func:`atomic_dir`), under the
  entry's lock (:func:`entry_lock`, an ``flock`` on ``<cache>/.locks/<kind>/<entry>.lock``), so two
  processes writing the same entry take turns, and one that trains-or-loads an entry under the lock
  waits for the other instead of doing the same work again;
* whoever creates a temp file or folder holds an ``flock`` on it while it lives. A temp (``.*.tmp``)
  older than this process that nobody holds was left by a dead process: it is removed the first time
  this process writes (or locks an entry) in that folder (:func:`sweep_stale`);
* files and folders get the user's umask (``mkstemp``/``mkdtemp`` alone would make them private);
* a full disk (``ENOSPC``, ``EDQUOT``) is one :class:`~recbench.errors.DiskFullError` line naming what
  was being written; what was saved before is untouched.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from recbench.errors import DiskFullError, RecbenchError

PROCESS_START = time.time()  # temps older than this and unlocked belong to a process that is gone
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}


def cache_dir() -> Path:
    """``$RECBENCH_CACHE``, else ``~/.cache/recbench``; created on first use."""
    root = _cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RecbenchError(f"cache directory {root} cannot be created: {exc.strerror}") from None
    if not os.access(root, os.W_OK):
        raise RecbenchError(f"cache directory {root} is not writable (set RECBENCH_CACHE to another folder)")
    return root


def _cache_root() -> Path:
    return Path(os.environ.get("RECBENCH_CACHE") or Path.home() / ".cache" / "recbench")


def stable_hash(obj: object, length: int = 16) -> str:
    """sha256 of the canonical JSON form of ``obj`` (sorted keys), truncated."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


# --- permissions and a full disk ---------------------------------------------------------------------


def current_umask() -> int:
    """The process's umask, read without changing it (``/proc``), else by setting and restoring it."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def is_disk_full(exc: BaseException) -> bool:
    """An ``OSError`` saying the disk (or the user's quota) is full."""
    return isinstance(exc, OSError) and exc.errno in _DISK_FULL


def disk_full(what: object, exc: OSError | None = None) -> DiskFullError:
    """The one-line error for a full disk while writing ``what``."""
    reason = "disk quota exceeded" if exc is not None and exc.errno == errno.EDQUOT else "disk full"
    return DiskFullError(f"{reason} while writing {what}; nothing saved before is lost")


def _mkdirs(folder: Path, what: object) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)  # mkdir applies the umask itself
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full(what, exc) from None
        raise


# --- atomic files ------------------------------------------------------------------------------------


def _write_all(f, data: bytes, path: Path) -> None:
    """Write ``path``'s bytes to its temp file ``f``, flush and fsync (one place, so a test can make the
    disk full or kill the process halfway)."""
    f.write(data)
    f.flush()
    os.fsync(f.fileno())


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file beside ``path``, fsync, then rename over it (mode from the umask).

    A full disk raises :class:`DiskFullError`; the old ``path``, if any, is untouched.
    """
    path = Path(path)
    _mkdirs(path.parent, path)
    sweep_stale(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full(path, exc) from None
        raise
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # alive: no sweeper removes it
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600
        with os.fdopen(fd, "wb") as f:
            _write_all(f, data, path)
            os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if is_disk_full(exc):
            raise disk_full(path, exc) from None  # type: ignore[arg-type]
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


# --- locks -------------------------------------------------------------------------------------------

_held = threading.local()  # lock path -> depth, per thread: a thread may take a lock it holds again


def lock_path(final: Path) -> Path:
    """Where the lock of ``final`` lives: ``<cache>/.locks/<path inside the cache>.lock`` for a cache
    entry (outside the entry's folder, so listings of a cache folder show entries only); for anything
    else the folder that holds ``final`` is locked itself."""
    final = Path(final).absolute()
    try:
        inside = final.relative_to(_cache_root().absolute())
    except ValueError:
        return final.parent
    if not inside.parts or inside.parts[0] == ".locks":
        return final.parent
    return _cache_root().absolute() / ".locks" / inside.parent / f"{inside.name}.lock"


@contextmanager
def entry_lock(final: Path) -> Iterator[None]:
    """Hold ``final``'s exclusive lock (``flock``; released by the kernel when the process dies).

    Re-entrant within a thread. Another process (or thread) that holds it makes this wait: a second
    identical run waits for the first to write the entry, then reads it.
    """
    path = lock_path(Path(final))
    held: dict[str, int] = _held.__dict__.setdefault("depth", {})
    key = str(path)
    if held.get(key):
        held[key] += 1
        try:
            yield
        finally:
            held[key] -= 1
        return
    if path == Path(final).absolute().parent:
        _mkdirs(path, final)
        fd = os.open(path, os.O_RDONLY)
    else:
        _mkdirs(path.parent, path)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another process that is writing {Path(final).name} ...", file=sys.stderr)
            fcntl.flock(fd, fcntl.LOCK_EX)
        held[key] = 1
        sweep_stale(Path(final).parent)
        try:
            yield
        finally:
            held.pop(key, None)
    finally:
        os.close(fd)  # releases the lock


# --- stale temps -------------------------------------------------------------------------------------

_swept: set[str] = set()


def sweep_stale(folder: Path, force: bool = False) -> list[str]:
    """Remove ``.*.tmp`` files and folders in ``folder`` that a dead process left behind.

    A temp is stale when it is older than this process and nobody holds its ``flock`` (its creator
    holds one as long as it writes). Done once per folder per process (``force``: again); returns
    the names removed.
    """
    folder = Path(folder)
    key = str(folder.absolute())
    if key in _swept and not force:
        return []
    _swept.add(key)
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    removed = []
    for entry in entries:
        if not (entry.name.startswith(".") and entry.name.endswith(".tmp")):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if st.st_mtime >= PROCESS_START or not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
                continue
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # its writer is alive
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                Path(entry.path).unlink(missing_ok=True)
            removed.append(entry.name)
        finally:
            os.close(fd)
    return removed


# --- atomic folders ----------------------------------------------------------------------------------


@contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temp folder to fill; on success it replaces ``final`` in one rename.

    If the block raises (or the process dies), ``final`` is untouched: no half cache entry. Runs under
    ``final``'s :func:`entry_lock`, so two processes writing the same entry take turns (the second one
    replaces the first's entry whole). The folder gets the umask's mode; a full disk while filling it
    is one :class:`DiskFullError`.
    """
    final = Path(final)
    _mkdirs(final.parent, final)
    with entry_lock(final):
        try:
            tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp"))
        except OSError as exc:
            if is_disk_full(exc):
                raise disk_full(final, exc) from None
            raise
        fd = os.open(tmp, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # alive: no sweeper removes it
            os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700
            try:
                yield tmp
                _umask_modes(tmp)
                _swap_in(tmp, final)
            except OSError as exc:
                if is_disk_full(exc):
                    raise disk_full(final, exc) from None
                raise
        finally:
            os.close(fd)
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def _umask_modes(folder: Path) -> None:
    """Give what the block wrote the umask's modes: some writers (safetensors) create files 0600."""
    mask = current_umask()
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o777 & ~mask, follow_symlinks=False)
        for name in files:
            path = os.path.join(root, name)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):  # execute bits are kept where the writer set them
                os.chmod(path, (0o666 | (st.st_mode & 0o111)) & ~mask)


def _swap_in(tmp: Path, final: Path) -> None:
    """Rename ``tmp`` to ``final``; an existing ``final`` is moved aside first and then deleted."""
    try:
        os.rename(tmp, final)  # final absent (or an empty folder)
        return
    except OSError as exc:
        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
            raise
    aside = final.parent / f".{final.name}.{secrets.token_hex(4)}.old.tmp"  # a name sweep_stale knows
    os.rename(final, aside)
    os.rename(tmp, final)
    if aside.is_dir() and not aside.is_symlink():
        shutil.rmtree(aside, ignore_errors=True)
    else:
        aside.unlink(missing_ok=True)


def partial_dir(kind: str, entry: str) -> Path:
    """The folder of a training's checkpoints, keyed like its final entry ``<kind>/<entry>``
    (see :mod:`recbench.checkpoint`); removed once the final entry is written."""
    return cache_dir() / ".partial" / kind / entry


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
