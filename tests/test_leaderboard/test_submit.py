"""`recbench leaderboard submit`: validate, copy to <to>/<slug>/<run-id>, gzip big samples, no overwrite."""

from __future__ import annotations

import gzip
import json

import pytest
from typer.testing import CliRunner

from recbench.cli import app
from recbench.errors import ConfigError
from recbench.leaderboard import submit as submit_module
from recbench.leaderboard.submit import InvalidSubmission, submit_run
from tests.conftest import TINY
from tests.test_leaderboard.conftest import DATA_DIRS, check

runner = CliRunner()


def test_submit_copies_run_into_interpreter_folder(tmp_path, make):
    run = make(tmp_path / "runs" / "run-1", "run-1", label="SmolLM2 135M + Per-Position", n=8)
    to = tmp_path / "submissions"
    result = runner.invoke(app, ["leaderboard", "submit", str(run), "--to", str(to), "--data-dir", str(TINY)])
    assert result.exit_code == 0, result.output
    dest = to / "smollm2-135m-per-position" / "run-1"
    assert result.stdout.splitlines()[0] == f"submitted {dest}"
    assert sorted(p.name for p in dest.iterdir()) == ["results.json", "samples.jsonl"]
    assert (dest / "results.json").read_bytes() == (run / "results.json").read_bytes()
    assert (dest / "samples.jsonl").read_bytes() == (run / "samples.jsonl").read_bytes()
    assert check(dest, submissions=to) == []


def test_large_samples_are_gzipped_deterministically(tmp_path, make, monkeypatch):
    monkeypatch.setattr(submit_module, "COMPRESS_ABOVE_BYTES", 4096)  # the tiny dataset makes small runs
    run = make(tmp_path / "runs" / "big", "big", n=8, tasks=["seq_recovery"])
    raw = (run / "samples.jsonl").read_bytes()
    assert len(raw) > 4096
    dest, packed = submit_run(run, tmp_path / "submissions", data_dirs=DATA_DIRS)
    assert packed and sorted(p.name for p in dest.iterdir()) == ["results.json", "samples.jsonl.gz"]
    first = (dest / "samples.jsonl.gz").read_bytes()
    assert first[4:8] == b"\0\0\0\0"  # gzip header mtime is zero
    assert gzip.decompress(first) == raw
    submit_run(run, tmp_path / "submissions", force=True, data_dirs=DATA_DIRS)
    assert (dest / "samples.jsonl.gz").read_bytes() == first
    assert check(dest, submissions=tmp_path / "submissions") == []


def test_small_samples_stay_plain(tmp_path, make):
    run = make(tmp_path / "runs" / "small", "small", n=8)
    dest, packed = submit_run(run, tmp_path / "submissions", data_dirs=DATA_DIRS)
    assert not packed and (dest / "samples.jsonl").is_file() and not (dest / "samples.jsonl.gz").exists()


def test_existing_submission_is_not_overwritten_without_force(tmp_path, make):
    run = make(tmp_path / "runs" / "run-1", "run-1", n=8)
    to = tmp_path / "submissions"
    dest, _ = submit_run(run, to, data_dirs=DATA_DIRS)
    (dest / "results.json").write_text("kept")
    with pytest.raises(ConfigError, match="already exists; pass --force to replace that submission"):
        submit_run(run, to, data_dirs=DATA_DIRS)
    assert (dest / "results.json").read_text() == "kept"
    result = runner.invoke(app, ["leaderboard", "submit", str(run), "--to", str(to), "--data-dir", str(TINY)])
    assert result.exit_code == 2
    assert result.stderr == f"error: {dest} already exists; pass --force to replace that submission\n"
    submit_run(run, to, force=True, data_dirs=DATA_DIRS)
    assert json.loads((dest / "results.json").read_text())["run_id"] == "run-1"


def test_invalid_run_is_not_copied(tmp_path, make):
    run = make(tmp_path / "runs" / "run-1", "run-1", n=8)
    data = json.loads((run / "results.json").read_text())
    data["tasks"]["next_item"]["n"] = 7
    (run / "results.json").write_text(json.dumps(data))
    to = tmp_path / "submissions"
    with pytest.raises(InvalidSubmission) as caught:
        submit_run(run, to, data_dirs=DATA_DIRS)
    assert caught.value.defects[0].startswith(f"{run / 'results.json'}: tasks.next_item.n: claimed 7")
    assert not to.exists()
    result = runner.invoke(app, ["leaderboard", "submit", str(run), "--to", str(to), "--data-dir", str(TINY)])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0] == caught.value.defects[0]
    assert lines[-1] == f"error: {run} is not valid (1 defect(s) above); nothing was copied"
