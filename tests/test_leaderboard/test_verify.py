"""Verified submissions: outputs regenerated with the interpreter a submission carries must match."""

from __future__ import annotations

import json
import shutil

import pytest

from recbench.errors import RecbenchError
from recbench.leaderboard.verify import carries_interpreter, carry_models, model_file_defects, verify_run
from recbench.run import evaluate
from tests.conftest import TINY

TINY_RUN = dict(
    dataset="csv", data_dir=str(TINY), rec_epochs=2, window=4, limit=5, steps=2, batch_size=4,
    valid_limit=4, gen_batch_size=4, align_steps=20, tasks=["seq_recovery", "residual_id"],
)  # fmt: skip


@pytest.fixture(scope="module")
def submission(tmp_path_factory):
    """A tiny LLM run packed as a submission that carries its interpreter and recommender."""
    root = tmp_path_factory.mktemp("verify")
    results = evaluate("sasrec", "tiny-random", out_dir=root / "runs", **TINY_RUN)
    run = root / "runs" / results["run_id"]
    carried = carry_models(run, run)
    assert [p.rsplit("/", 1)[-1] for p in carried] == ["interpreter", "recommender"]
    return run


def copy(submission, tmp_path):
    dest = tmp_path / submission.name
    shutil.copytree(submission, dest)
    return dest


def test_an_honest_submission_verifies(submission):
    assert carries_interpreter(submission)
    assert verify_run(submission, 3, data_dir=str(TINY)) == []


def test_a_fabricated_output_is_caught(submission, tmp_path):
    run = copy(submission, tmp_path)
    rows = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    for row in rows:  # claim the interpreter named every target exactly
        row["output"] = row["target"]
    (run / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    defects = verify_run(run, 3, data_dir=str(TINY))
    assert defects and all("but the carried interpreter writes" in d for d in defects)
    assert len(defects) == 3 * 2 * 2  # 3 instances x 2 tasks x (real, shuffled)


def test_another_interpreter_is_refused(submission, tmp_path):
    run = copy(submission, tmp_path)
    meta = json.loads((run / "interpreter" / "adapter.json").read_text())
    meta["window"] = 9
    (run / "interpreter" / "adapter.json").write_text(json.dumps(meta))
    with pytest.raises(RecbenchError, match="cannot be loaded"):
        verify_run(run, 2, data_dir=str(TINY))


def test_an_edited_config_cannot_pass_for_the_run(submission, tmp_path):
    run = copy(submission, tmp_path)
    results = json.loads((run / "results.json").read_text())
    results["config"]["steps"] = 3
    (run / "results.json").write_text(json.dumps(results))
    with pytest.raises(RecbenchError, match="config was edited"):
        verify_run(run, 2, data_dir=str(TINY))


def test_unknown_files_and_symlinks_in_model_folders_are_defects(submission, tmp_path):
    run = copy(submission, tmp_path)
    (run / "interpreter" / "model.pkl").write_bytes(b"\x80\x04")
    (run / "recommender" / "config.json").unlink()
    (run / "recommender" / "config.json").symlink_to("/etc/passwd")
    defects = model_file_defects(run)
    assert any("model.pkl: not a file" in d for d in defects)
    assert any("config.json: must be a regular file" in d for d in defects)
    assert verify_run(run, 1, data_dir=str(TINY)) == defects


def test_a_submission_without_an_interpreter_cannot_be_verified(submission, tmp_path):
    run = copy(submission, tmp_path)
    shutil.rmtree(run / "interpreter")
    with pytest.raises(RecbenchError, match="carries no interpreter/ folder"):
        verify_run(run, 2, data_dir=str(TINY))
