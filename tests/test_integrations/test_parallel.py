"""Data-parallel runs: 2 CPU processes (gloo) generate the numbers of 1 process; with data-parallel
training the run id names the process count; bad --num-processes; the launcher's one error line."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from recbench.cli import app
from recbench.errors import ConfigError, RecbenchError
from recbench.results import read_samples
from recbench.run import evaluate
from recbench.run.parallel import _wait_all
from recbench.run.spec import RunSpec
from tests.conftest import TINY

# gen_batch_size 2: chunks of 4 prompts, so 6 instances make 2 chunks per task and condition (8 in all)
TINY_RUN = dict(
    dataset="csv", data_dir=str(TINY), rec_epochs=2, window=4, limit=6, steps=3, batch_size=4,
    valid_limit=4, gen_batch_size=2, align_steps=0, tasks=["seq_recovery", "residual_id"],
)  # fmt: skip


def scores(results: dict) -> dict:
    return {
        task: {"metrics": block["metrics"], "controls": block["controls"], "gap": block["gap"]}
        for task, block in results["tasks"].items()
    }


def outputs(folder) -> dict:
    samples = read_samples(folder)
    return {
        (task, cond, s.id): s.output
        for task, groups in samples.by_task.items()
        for cond, rows in groups.items()
        for s in rows
    }


@pytest.mark.slow
def test_two_processes_match_one(tmp_path, monkeypatch):
    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path / "cache-1"))
    one = evaluate("sasrec", "tiny-random", out_dir=tmp_path / "one", **TINY_RUN)
    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path / "cache-2"))
    # one-process training, generation shared out: the run of one process
    two = evaluate(
        "sasrec", "tiny-random", out_dir=tmp_path / "two", num_processes=2, train_processes=1, **TINY_RUN
    )
    assert two["run_id"] == one["run_id"] and two["hardware"]["processes"] == 2
    assert scores(two) == scores(one)
    assert outputs(tmp_path / "two" / two["run_id"]) == outputs(tmp_path / "one" / one["run_id"])
    # each distinct prompt was generated once, by one of the two ranks, into the shared cache
    db = sqlite3.connect(tmp_path / "cache-2" / "generations.sqlite")
    assert db.execute("SELECT COUNT(*) FROM gen").fetchone()[0] == 2 * 6


@pytest.mark.parametrize("n", [0, -2])
def test_num_processes_must_be_positive(tmp_path, n):
    with pytest.raises(ConfigError, match="--num-processes must be a positive integer"):
        evaluate("sasrec", "tiny-random", out_dir=tmp_path, num_processes=n, **TINY_RUN)


def test_num_processes_larger_than_the_work(tmp_path):
    with pytest.raises(ConfigError, match="--num-processes 9 is more than the work: .* 8 batch"):
        evaluate("sasrec", "tiny-random", out_dir=tmp_path, num_processes=9, **TINY_RUN)


@pytest.mark.parametrize("n, message", [("0", "must be a positive integer"), ("50", "more than the work")])
def test_cli_num_processes_errors_are_one_line(tmp_path, n, message):
    result = CliRunner().invoke(
        app,
        ["run", "--llm", "tiny-random", "--dataset", "csv", "--data-dir", str(TINY), "--window", "4",
         "--limit", "6", "--tasks", "seq_recovery", "--num-processes", n, "--out", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 2
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.output


def test_launch_inside_a_launched_run_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="not both"):
        evaluate("sasrec", "tiny-random", out_dir=tmp_path, num_processes=2, **TINY_RUN)
    assert os.environ["WORLD_SIZE"] == "2"


@pytest.mark.slow
def test_data_parallel_training_is_a_run_of_its_own(tmp_path, monkeypatch):
    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path / "cache"))
    two = evaluate("sasrec", "tiny-random", out_dir=tmp_path / "runs", num_processes=2, **TINY_RUN)
    one_id = RunSpec.resolve(llm="tiny-random", rec="sasrec", **TINY_RUN).run_id()
    assert two["config"]["train_processes"] == 2 and two["run_id"] != one_id
    assert (
        two["interpreter"]["config"]["train_processes"] == 2 and two["interpreter"]["training"]["steps"] == 3
    )
    entries = list((tmp_path / "cache" / "interpreters").iterdir())
    assert len(entries) == 1 and not list((tmp_path / "cache").glob(".partial/interpreters/*"))
    # a second launch finds the entry the two ranks trained: same numbers, nothing retrained
    again = evaluate("sasrec", "tiny-random", out_dir=tmp_path / "again", num_processes=2, **TINY_RUN)
    assert again["interpreter"]["training"]["from_cache"] and scores(again) == scores(two)


def test_train_processes_must_be_one_or_all(tmp_path):
    with pytest.raises(ConfigError, match="--train-processes 2 with 3 processes"):
        evaluate("sasrec", "tiny-random", out_dir=tmp_path, num_processes=3, train_processes=2, **TINY_RUN)


def _ended(tmp_path, codes: list[int], errors: dict[int, dict]) -> RecbenchError | None:
    status = tmp_path / "status"
    status.mkdir()
    for rank, info in errors.items():
        (status / f"error-{rank}.json").write_text(json.dumps(info))
    procs = [subprocess.Popen([sys.executable, "-c", f"import sys; sys.exit({c})"]) for c in codes]
    return _wait_all(procs, status)


def test_launcher_reports_the_failing_rank_not_the_one_that_lost_it(tmp_path):
    lost = {
        "message": "rank 0 of 2: another rank of the data-parallel training stopped (...)",
        "secondary": True,
    }
    err = _ended(tmp_path, [2, 2], {0: lost, 1: {"message": "rank 1's own error", "exit_code": 2}})
    assert str(err) == "rank 1's own error" and err.exit_code == 2


def test_launcher_points_at_a_crashed_rank(tmp_path):
    lost = {"message": "rank 0 of 2: another rank of the data-parallel training stopped", "secondary": True}
    err = _ended(tmp_path, [2, 1], {0: lost})
    assert str(err) == "a rank of the data-parallel run failed (rank 1: exit 1); see its output above"


# Started with every rank (PYTHONPATH): rank 1's second training batch fails with a user error.
SITECUSTOMIZE = """
import os
if os.environ.get("RANK") == "1":
    from recbench.errors import RecbenchError
    from recbench.interpreters import soft_prompt
    real, calls = soft_prompt.SoftPromptModel._loss_sum, [0]
    def _loss_sum(self, batch):
        calls[0] += 1
        if calls[0] == 2:
            raise RecbenchError("rank 1 cannot read its batch")
        return real(self, batch)
    soft_prompt.SoftPromptModel._loss_sum = _loss_sum
"""


@pytest.mark.slow
def test_a_rank_failing_in_training_ends_the_run_with_its_own_line(tmp_path, monkeypatch):
    import signal

    (tmp_path / "inject").mkdir()
    (tmp_path / "inject" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(tmp_path / "inject"), os.environ.get("PYTHONPATH", "")])
    )
    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path / "cache"))
    signal.alarm(300)  # a hang fails the test instead of blocking the suite
    try:
        with pytest.raises(RecbenchError) as err:
            evaluate("sasrec", "tiny-random", out_dir=tmp_path / "runs", num_processes=2, **TINY_RUN)
    finally:
        signal.alarm(0)
    # the cause, not rank 0's "another rank ... stopped"; no run folder, no cache entry
    assert str(err.value) == "rank 1 cannot read its batch" and err.value.exit_code == 2
    assert not (tmp_path / "runs").exists() and not list((tmp_path / "cache").glob("interpreters/*"))
