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
    assert verify_run(submission, 3, data_dirs=[TINY]) == []


def test_a_fabricated_output_is_caught(submission, tmp_path):
    run = copy(submission, tmp_path)
    rows = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    for row in rows:  # claim the interpreter named every target exactly
        row["output"] = row["target"]
    (run / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    defects = verify_run(run, 3, data_dirs=[TINY])
    assert defects and all("but the carried interpreter writes" in d for d in defects)
    assert len(defects) == 3 * 2 * 2  # 3 instances x 2 tasks x (real, shuffled)


def test_another_interpreter_is_refused(submission, tmp_path):
    run = copy(submission, tmp_path)
    meta = json.loads((run / "interpreter" / "adapter.json").read_text())
    meta["window"] = 9
    (run / "interpreter" / "adapter.json").write_text(json.dumps(meta))
    with pytest.raises(RecbenchError, match="cannot be loaded"):
        verify_run(run, 2, data_dirs=[TINY])


def test_an_edited_config_cannot_pass_for_the_run(submission, tmp_path):
    run = copy(submission, tmp_path)
    results = json.loads((run / "results.json").read_text())
    results["config"]["steps"] = 3
    (run / "results.json").write_text(json.dumps(results))
    with pytest.raises(RecbenchError, match="config was edited"):
        verify_run(run, 2, data_dirs=[TINY])


def test_unknown_files_and_symlinks_in_model_folders_are_defects(submission, tmp_path):
    run = copy(submission, tmp_path)
    (run / "interpreter" / "model.pkl").write_bytes(b"\x80\x04")
    (run / "recommender" / "config.json").unlink()
    (run / "recommender" / "config.json").symlink_to("/etc/passwd")
    defects = model_file_defects(run)
    assert any("model.pkl: not a file" in d for d in defects)
    assert any("config.json: must be a regular file" in d for d in defects)
    assert verify_run(run, 1, data_dirs=[TINY]) == defects


def test_a_submission_without_an_interpreter_cannot_be_verified(submission, tmp_path):
    run = copy(submission, tmp_path)
    shutil.rmtree(run / "interpreter")
    with pytest.raises(RecbenchError, match="carries no interpreter/ folder"):
        verify_run(run, 2, data_dirs=[TINY])


def test_cli_validate_verify_passes_an_honest_run_and_fails_a_fabricated_one(submission, tmp_path):
    from typer.testing import CliRunner

    from recbench.cli import app

    honest = copy(submission, tmp_path / "a")
    args = ["--quiet", "leaderboard", "validate", "--data-dir", str(TINY), "--verify", "2"]
    result = CliRunner().invoke(app, [*args, str(honest)])
    assert result.exit_code == 0, result.output
    assert f"verified {honest}" in result.stdout
    faked = copy(submission, tmp_path / "b")
    forge(faked)  # outputs fabricated, every score re-computed to match: validate alone cannot tell
    result = CliRunner().invoke(app, [*args[:-2], str(faked)])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, [*args, str(faked)])
    assert result.exit_code == 1, result.output
    assert "but the carried interpreter writes" in result.stderr and "failed validation" in result.stderr


def forge(run) -> None:
    """Set every real output to its target and re-score everything consistently (a fabricated run)."""
    from recbench.metrics.base import MetricContext, RoundTrip
    from recbench.metrics.roundtrip import title_items
    from recbench.results import read_samples, summarise_task, write_run
    from recbench.results.io import RunSamples

    results = json.loads((run / "results.json").read_text())
    samples = read_samples(run)
    ctx = MetricContext(
        __import__("recbench.data", fromlist=["load_dataset"]).load_dataset("csv", TINY).items
    )
    out = RunSamples()
    for task, groups in samples.by_task.items():
        for row in groups["real"]:  # the interpreter "named every item"
            row.output = row.target
            # with a round trip consistent with it (the recommender's own top-10 back, its top-1 first)
            items = title_items(row.output, ctx)
            row.roundtrip = RoundTrip(items, list(row.rec_top10), 1) if items else RoundTrip([], [], None)
        names = list(results["tasks"][task]["metrics"])
        block = summarise_task(
            groups["real"], groups.get("shuffled"), names, ctx, seed=results["seeds"]["bootstrap"]
        )
        results["tasks"][task].update(block)
        for condition, rows in groups.items():
            for row in rows:
                out.add(condition, row)
    keep = run.parent / "models"
    for sub in ("interpreter", "recommender"):  # write_run replaces the run folder whole
        shutil.move(str(run / sub), str(keep / sub))
    write_run(run, results, out)
    for sub in ("interpreter", "recommender"):
        shutil.move(str(keep / sub), str(run / sub))


def test_submit_with_models_carries_what_verify_needs(submission, tmp_path):
    from typer.testing import CliRunner

    from recbench.cli import app

    run = copy(submission, tmp_path / "run")
    for sub in ("interpreter", "recommender"):
        shutil.rmtree(run / sub)  # as `recbench run` wrote it: the models are in the cache only
    to = tmp_path / "submissions"
    args = [
        "--quiet",
        "leaderboard",
        "submit",
        str(run),
        "--to",
        str(to),
        "--data-dir",
        str(TINY),
        "--with-models",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (dest,) = to.glob("*/*")
    assert (dest / "interpreter" / "adapter.safetensors").is_file() and (dest / "recommender").is_dir()
    check = [
        "--quiet",
        "leaderboard",
        "validate",
        "--submissions",
        str(to),
        "--data-dir",
        str(TINY),
        "--verify",
        "1",
    ]
    result = CliRunner().invoke(app, check)
    assert result.exit_code == 0, result.output
    assert "verified" in result.stdout


def test_what_the_recommender_said_is_re_derived_from_its_checkpoint(submission, tmp_path):
    run = copy(submission, tmp_path)
    rows = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    for row in rows:  # outputs untouched; the recommender's top-10 and every round trip edited
        row["rec_top10"] = row["rec_top10"][::-1]
        if row["roundtrip"]["items"]:
            row["roundtrip"]["top1_rank"] += 1
    (run / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    defects = verify_run(run, 3, data_dirs=[TINY])
    assert len([d for d in defects if "submitted rec_top10" in d]) == 3 * 2 * 2
    assert all("but the recommender gives" in d for d in defects)
