"""Crash and concurrency safety of the cache: two writers, waiting, stale temps, permissions, full disk."""

from __future__ import annotations

import errno
import fcntl
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recbench import cache
from recbench.cache import atomic_dir, atomic_write_bytes, entry_lock, sweep_stale
from recbench.errors import DiskFullError
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parents[2]

WRITER = """
import sys
from pathlib import Path
from recbench.cache import atomic_dir, entry_lock
final, rounds, me = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for i in range(rounds):
    token = f"{me}-{i}"
    with atomic_dir(final) as tmp:
        (tmp / "a").write_text(token)
        (tmp / "b").write_text(token)
    with entry_lock(final):  # a reader under the entry's lock sees one writer's whole entry
        names = sorted(p.name for p in final.iterdir())
        a, b = (final / "a").read_text(), (final / "b").read_text()
        assert names == ["a", "b"] and a == b, (names, a, b)
print("ok")
"""


@pytest.mark.parametrize("inside_cache", [True, False], ids=["cache-entry", "other-folder"])
def test_two_processes_write_one_entry_hundreds_of_times(tmp_path, fresh_cache, inside_cache):
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(WRITER))
    final = (fresh_cache / "interpreters" if inside_cache else tmp_path / "runs") / "entry"
    env = {**os.environ, "RECBENCH_CACHE": str(fresh_cache)}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(final), "300", name],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name in ("p", "q")
    ]
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0 and out.decode().strip() == "ok", err.decode()[-2000:]
    assert sorted(p.name for p in final.parent.iterdir()) == ["entry"]  # no temp left behind
    assert (final / "a").read_text() == (final / "b").read_text()


def test_second_identical_training_waits_for_the_first_and_loads_it(fresh_cache, tiny_data):
    from recbench.recommenders.train import train_recommender

    out: dict[str, object] = {}
    errors: list[BaseException] = []

    def train(name: str) -> None:
        try:
            out[name] = train_recommender(tiny_data, "sasrec", epochs=2, max_len=8)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=train, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert sorted(r.from_cache for r in out.values()) == [False, True]  # one trained, one loaded
    assert out["a"].sha256 == out["b"].sha256
    assert not list(fresh_cache.glob(".partial/recommenders/*"))  # checkpoints go with the entry


def test_lock_is_reentrant_and_excludes_another_holder(fresh_cache):
    final = cache.cache_dir() / "interpreters" / "x"
    with entry_lock(final), entry_lock(final):  # the same thread may take it again
        fd = os.open(cache.lock_path(final), os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    assert cache.lock_path(final) == fresh_cache / ".locks" / "interpreters" / "x.lock"
    assert not (fresh_cache / "interpreters").exists()  # the lock file is not beside the entries


def test_stale_temps_are_removed_live_and_new_ones_kept(tmp_path):
    folder = tmp_path / "interpreters"
    folder.mkdir()
    old = time.time() - 3600
    stale_dir = folder / ".llm-abc.x1y2.tmp"
    stale_dir.mkdir()
    (stale_dir / "adapter.safetensors").write_bytes(b"half")
    stale_file = folder / ".results.json.k3j4.tmp"
    stale_file.write_text("{")
    live = folder / ".llm-def.live.tmp"
    live.mkdir()
    new = folder / ".llm-ghi.new.tmp"  # younger than this process: maybe a writer that just started
    new.mkdir()
    entry = folder / "llm-abc"
    entry.mkdir()
    for p in (stale_dir, stale_file, live, entry):
        os.utime(p, (old, old))
    os.utime(new, (time.time() + 5, time.time() + 5))
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # its writer is alive
    try:
        removed = sweep_stale(folder)
    finally:
        os.close(fd)
    assert sorted(removed) == sorted([stale_file.name, stale_dir.name])
    assert sorted(p.name for p in folder.iterdir()) == sorted([live.name, new.name, entry.name])


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_files_and_folders_follow_the_umask(tmp_path, fresh_cache, tiny_data, umask):
    from recbench.checkpoint import Checkpointer
    from recbench.recommenders.train import train_recommender

    previous = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "run" / "results.json", b"{}")
        with atomic_dir(tmp_path / "entry") as tmp:
            (tmp / "model.safetensors").write_bytes(b"x")
        Checkpointer(tmp_path / "partial").save("train", 1, {}, {})
        trained = train_recommender(tiny_data, "sasrec", epochs=1, max_len=8)
    finally:
        os.umask(previous)
    files = [
        tmp_path / "run" / "results.json",
        tmp_path / "entry" / "model.safetensors",
        tmp_path / "partial" / "checkpoint.safetensors",
        *trained.checkpoint.iterdir(),
        *(fresh_cache / ".locks").rglob("*.lock"),
    ]
    folders = [tmp_path / "run", tmp_path / "entry", tmp_path / "partial", trained.checkpoint]
    assert len(files) >= 6
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~umask, f
    for d in folders:
        assert stat.S_IMODE(d.stat().st_mode) == 0o777 & ~umask, d


# --- a full disk ---------------------------------------------------------------------------------------


def _full(*_args, **_kw):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_full_disk_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "embeddings" / "ab" / "x.npy"
    atomic_write_bytes(path, b"old")
    monkeypatch.setattr(cache, "_write_all", _full)
    with pytest.raises(
        DiskFullError, match=r"^disk full while writing .*x\.npy; nothing saved before is lost$"
    ):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in path.parent.iterdir()] == ["x.npy"]


def test_full_disk_in_an_entry_folder_keeps_the_old_entry(tmp_path, monkeypatch):
    final = tmp_path / "runs" / "run-1"
    with atomic_dir(final) as tmp:
        (tmp / "results.json").write_text("old")
    monkeypatch.setattr(cache, "_write_all", _full)
    with pytest.raises(DiskFullError, match=r"disk full while writing .*samples\.jsonl"):
        with atomic_dir(final) as tmp:  # as write_run does
            atomic_write_bytes(tmp / "samples.jsonl", b"")
    with pytest.raises(
        DiskFullError, match=r"disk full while writing .*run-1; nothing saved before is lost$"
    ):
        with atomic_dir(final) as tmp:
            raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(DiskFullError, match="disk quota exceeded while writing"):
        with atomic_dir(final) as tmp:
            raise OSError(errno.EDQUOT, "Disk quota exceeded")
    assert (final / "results.json").read_text() == "old"
    assert sorted(p.name for p in final.parent.iterdir()) == ["run-1"]


def test_full_disk_in_the_generation_cache_keeps_committed_rows(tmp_path):
    from recbench.gencache import GenerationCache

    gc = GenerationCache(tmp_path / "generations.sqlite")
    gc.put_many([("k1", "saved")])

    class FullDB:  # what sqlite3 raises when the disk fills in a transaction
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def executemany(self, *_args):
            raise sqlite3.OperationalError("database or disk is full")

    real, gc.db = gc.db, FullDB()
    with pytest.raises(
        DiskFullError, match=r"disk full while writing the generation cache .*generations\.sqlite"
    ):
        gc.put_many([("k2", "lost")])
    gc.db = real
    assert gc.get_many(["k1", "k2"]) == {"k1": "saved"}
    gc.close()


@pytest.mark.parametrize("where", ["checkpoint", "entry"])
def test_full_disk_is_one_line_and_a_nonzero_exit(fresh_cache, monkeypatch, where):
    from recbench.cli import app
    from recbench.recommenders import base

    if where == "checkpoint":  # the first write: the checkpoint after epoch 1
        monkeypatch.setattr(cache, "_write_all", _full)
    else:  # the final entry (safetensors writes the file itself)
        monkeypatch.setattr(base, "save_file", _full)
    args = [
        "--quiet",
        "train-rec",
        "--dataset",
        "csv",
        "--data-dir",
        str(TINY),
        "--epochs",
        "2",
        "--max-len",
        "8",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    target = "checkpoint.safetensors" if where == "checkpoint" else "recommenders/sasrec-"
    assert lines[0].startswith("error: disk full while writing ") and target in lines[0]
    assert lines[0].endswith("; nothing saved before is lost")
    assert not list(fresh_cache.glob("recommenders/sasrec-*"))  # no entry, and no half of one
