"""`recbench leaderboard validate`: a good run passes; each defect is one line naming file and field."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from recbench.cli import app
from recbench.leaderboard.validate import MAX_FILE_BYTES, validate_run
from recbench.results.compare import compare_task
from tests.conftest import TINY
from tests.test_leaderboard.conftest import check

runner = CliRunner()


def edit(run, change) -> None:
    """Apply ``change`` to the parsed results.json of ``run`` and write it back."""
    path = run / "results.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


@pytest.fixture
def run(tmp_path, make):
    return make(tmp_path / "run-1", "run-1", n=8)


def test_good_run_has_no_defects_and_cli_prints_ok(run):
    assert check(run) == []
    result = runner.invoke(app, ["leaderboard", "validate", str(run), "--data-dir", str(TINY)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"ok {run}\n"


def test_malformed_json_is_one_line(run):
    (run / "results.json").write_text('{"schema_version": 1,')
    defects = check(run)
    assert len(defects) == 1
    assert defects[0].startswith(f"{run / 'results.json'}: malformed JSON at line 1 column 22")


def test_missing_field_names_file_and_field(run):
    edit(run, lambda d: d["interpreter"].pop("label"))
    assert check(run) == [f"{run / 'results.json'}: interpreter.label: missing field"]


def test_wrong_type_names_field_and_types(run):
    edit(run, lambda d: d["dataset"].update(users="943"))
    assert check(run) == [f"{run / 'results.json'}: dataset.users: must be integer, got string"]


def test_wrong_type_in_a_score_block(run):
    edit(run, lambda d: d["tasks"]["next_item"]["metrics"]["hit_at_1"].update(n=8.5))
    assert check(run) == [
        f"{run / 'results.json'}: tasks.next_item.metrics.hit_at_1.n: must be integer, got number"
    ]


def test_claimed_score_that_rescoring_does_not_reproduce(run):
    claimed = json.loads((run / "results.json").read_text())
    true = claimed["tasks"]["seq_recovery"]["metrics"]["item_recall"]["value"]
    edit(run, lambda d: d["tasks"]["seq_recovery"]["metrics"]["item_recall"].update(value=true + 1e-6))
    assert check(run) == [
        f"{run / 'results.json'}: tasks.seq_recovery.metrics.item_recall.value: "
        f"claimed {true + 1e-6!r}, re-scoring the samples gives {true!r}"
    ]


def test_tampered_sample_output_is_caught(run):
    rows = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    # the first real next_item sample now names its target exactly: hit_at_1 rises
    row = next(
        r
        for r in rows
        if r["task"] == "next_item" and r["condition"] == "real" and r["scores"]["hit_at_1"] == 0
    )
    row["output"] = row["target"]
    # its round trip made to agree (validate re-derives the items from the output before re-scoring)
    row["roundtrip"] = {"items": list(row["target_items"]), "top10": row["rec_top10"], "top1_rank": 1}
    (run / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    edit(run, lambda d: d.pop("samples_sha256"))  # an old-style run: no fingerprint to stop it earlier
    defects = check(run)
    assert f"{run / 'results.json'}: tasks.next_item.metrics.hit_at_1.value: claimed" in defects[0]


def test_gap_is_checked(run):
    edit(run, lambda d: d["tasks"]["next_item"]["gap"].update(hit_at_1=0.99))
    (defect,) = check(run)
    assert defect.startswith(
        f"{run / 'results.json'}: tasks.next_item.gap.hit_at_1: claimed 0.99, re-scoring gives"
    )


def test_shuffled_control_is_checked(run):
    edit(run, lambda d: d["tasks"]["next_item"]["controls"]["shuffled"]["hit_at_1"].update(high=0.999))
    (defect,) = check(run)
    assert defect.startswith(
        f"{run / 'results.json'}: tasks.next_item.controls.shuffled.hit_at_1.high: claimed 0.999"
    )


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_literals_are_rejected(run, literal):
    path = run / "results.json"
    text = path.read_text().replace('"hr@10": 0.25', f'"hr@10": {literal}')
    path.write_text(text)
    assert check(run) == [f"{path}: non-finite number {literal} (NaN and infinities are not allowed)"]


def test_overflowing_number_is_rejected_as_infinite(run):
    path = run / "results.json"
    path.write_text(path.read_text().replace('"hr@10": 0.25', '"hr@10": 1e999'))
    assert check(run) == [
        f"{path}: recommender.test.hr@10: non-finite number inf (NaN and infinities are not allowed)"
    ]


@pytest.mark.parametrize("run_id", ["../evil", "a/b", "a..b", "."])
def test_unsafe_run_id_is_rejected(run, run_id):
    edit(run, lambda d: d.update(run_id=run_id))
    (defect,) = check(run)
    assert defect.startswith(f"{run / 'results.json'}: run_id: {run_id!r} must")


def test_run_id_must_match_folder_name(run):
    edit(run, lambda d: d.update(run_id="run-2"))
    assert check(run) == [f"{run / 'results.json'}: run_id: 'run-2' differs from its folder name 'run-1'"]


@pytest.mark.parametrize("label", ["..", "/", "../.."])
def test_interpreter_label_without_a_usable_slug_is_rejected(run, label):
    edit(run, lambda d: d["interpreter"].update(label=label))
    (defect,) = check(run)
    assert defect.startswith(
        f"{run / 'results.json'}: interpreter.label: {label!r} gives no usable folder name"
    )


def test_interpreter_name_with_slash_is_rejected(run):
    edit(run, lambda d: d["interpreter"].update(name="a/b"))
    (defect,) = check(run)
    assert defect.startswith(f"{run / 'results.json'}: interpreter.name: 'a/b' must match")


def test_submission_in_the_wrong_interpreter_folder_is_rejected(tmp_path, make):
    root = tmp_path / "submissions"
    run = make(root / "someone-else" / "run-1", "run-1", label="alpha + linear", n=8)
    (defect,) = check(run, submissions=root)
    assert defect == (
        f"{run / 'results.json'}: interpreter.label: a run of 'alpha-linear' belongs in "
        f"{root / 'alpha-linear' / 'run-1'}, not in {run}"
    )


def test_file_over_the_size_cap_is_rejected(run):
    path = run / "results.json"
    path.write_text(path.read_text() + " " * MAX_FILE_BYTES)
    size = path.stat().st_size
    assert check(run) == [f"{path}: {size} bytes is over the {MAX_FILE_BYTES} byte cap per file"]


def test_older_schema_version_asks_for_a_rerun(run):
    edit(run, lambda d: d.update(schema_version=0))
    assert check(run) == [
        f"{run / 'results.json'}: schema version 0 is older than this recbench's 1; "
        "re-run the command to refresh it"
    ]


def test_llm_run_without_shuffled_control_is_rejected(run):
    edit(run, lambda d: d["tasks"]["next_item"].update(controls={}, gap={}))
    assert check(run) == [
        f"{run / 'results.json'}: tasks.next_item.controls.shuffled: missing; "
        "an LLM run must report its shuffled control"
    ]


def test_dataset_hash_mismatch_is_rejected(run):
    edit(run, lambda d: d["dataset"].update(sha256="0" * 64))
    assert check(run) == [
        f"{run / 'results.json'}: dataset: 'csv' with sha256 000000000000… is none of the datasets known "
        "here (ml-100k from the installed recbole wheel and the folders given with --data-dir); "
        "a path named in the submission is never read"
    ]


def test_broken_gzip_samples_are_rejected(run):
    (run / "samples.jsonl").unlink()
    (run / "samples.jsonl.gz").write_bytes(b"\x1f\x8b\x08 not gzip")
    (defect,) = check(run)
    assert defect.startswith(f"{run / 'samples.jsonl.gz'}: not a valid gzip file")


def test_embedder_metrics_get_a_tolerance_and_the_rest_none():
    def block(metric: str, value: float) -> dict:
        score = {"value": value, "low": value, "high": value, "n": 4}
        return {"n": 4, "metrics": {metric: score}, "controls": {}, "gap": {}}

    assert (
        compare_task("t", block("embedding_similarity", 0.5 + 5e-5), block("embedding_similarity", 0.5)) == []
    )
    assert (
        len(compare_task("t", block("embedding_similarity", 0.5 + 2e-4), block("embedding_similarity", 0.5)))
        == 3
    )
    assert len(compare_task("t", block("rougeL", 0.5 + 5e-5), block("rougeL", 0.5))) == 3


def test_cli_reports_every_bad_run_and_exits_1(tmp_path, make):
    good = make(tmp_path / "runs" / "good", "good", n=8)
    bad = make(tmp_path / "runs" / "bad", "bad", n=8)
    edit(bad, lambda d: d["interpreter"].update(kind="oracle"))
    result = runner.invoke(app, ["leaderboard", "validate", str(tmp_path / "runs"), "--data-dir", str(TINY)])
    assert result.exit_code == 1
    assert result.stdout == f"ok {good}\n"
    assert result.stderr.splitlines() == [
        f"{bad / 'results.json'}: interpreter.kind: 'oracle' must be one of llm, baseline",
        "error: 1 of 2 run(s) failed validation",
    ]


def test_cli_default_without_submissions_folder_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["leaderboard", "validate"])
    assert result.exit_code == 0
    assert result.stdout == "no submissions: leaderboard/submissions does not exist\n"


def test_cli_default_validates_the_submissions_tree(submissions, monkeypatch):
    monkeypatch.chdir(submissions.parent)
    args = ["leaderboard", "validate", "--submissions", "submissions", "--data-dir", str(TINY)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert sorted(result.stdout.splitlines()) == [
        "ok submissions/alpha-linear/run-alpha",
        "ok submissions/popular/run-pop",
        "ok submissions/zeta-mlp/run-zeta",
    ]


def test_the_tiny_dataset_is_known_only_when_named(run):
    (defect,) = validate_run(run)  # check() names the tiny dataset's folder; validate_run alone does not
    assert defect.endswith("is none of the datasets known here (ml-100k from the installed recbole wheel); "
                           "a path named in the submission is never read")  # fmt: skip
