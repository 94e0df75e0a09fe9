"""Crafted submissions (issue 11): each is refused with one line naming the file and the field.

Most forgeries here are *self-consistent*: the rows are changed, then every score is re-computed from
the changed rows exactly as ``validate`` re-scores them and the fingerprint is refreshed (what a
careful forger does), so only the checks this file is about can catch them.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import zlib

import pytest
from typer.testing import CliRunner

from recbench.cli import app
from recbench.errors import ConfigError
from recbench.leaderboard.site import Submission, build_site, index_tables
from recbench.leaderboard.validate import (
    MAX_JSON_DEPTH,
    MAX_UNPACKED_BYTES,
    Embeddings,
    Validator,
    prefetch_embeddings,
    sample_test_windows,
    scoring_context,
    task_definition,
    validate_run,
)
from recbench.metrics.base import Sample
from recbench.results.io import RunSamples, write_run
from recbench.results.scoring import summarise_task
from tests.conftest import TINY
from tests.test_leaderboard.conftest import check

runner = CliRunner()
SETTINGS = "config.seed 0, config.limit 8, config.window 3"


def rows_of(run) -> list[dict]:
    return [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]


def forge(run, tiny, rows=lambda rows: rows, results=lambda data: None) -> None:
    """Change the rows and/or results.json, re-score every task from the changed rows and write a
    self-consistent run (fresh samples_sha256)."""
    data = json.loads((run / "results.json").read_text())
    results(data)
    samples = RunSamples()
    for row in rows(rows_of(run)):
        condition = row.pop("condition")
        samples.add(condition, Sample.from_dict(row))
    embeddings = Embeddings()
    ctx = scoring_context(tiny, embeddings)
    metrics = {task: list(block["metrics"]) for task, block in data["tasks"].items()}
    prefetch_embeddings(ctx, embeddings, metrics, samples.by_task)
    for task, block in data["tasks"].items():
        groups = samples.by_task[task]
        scores = summarise_task(groups["real"], groups.get("shuffled"), metrics[task], ctx, 0)
        block.update(scores)
        if not groups.get("shuffled"):
            block.update(controls={}, gap={})
    data.pop("samples_sha256", None)
    write_run(run, data, samples)


def edit(run, change) -> None:
    path = run / "results.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


def one_line_each(defects: list[str]) -> None:
    assert defects and all("\n" not in d and "\r" not in d and "\x1b" not in d for d in defects), defects


@pytest.fixture
def run(tmp_path, make):
    return make(tmp_path / "run-1", "run-1", n=8)


# --- 1. table hijack -----------------------------------------------------------------------------------


def hijack(data: dict) -> None:
    block = data["tasks"]["seq_recovery"]
    block["main_metric"] = "rouge1"
    block["metrics"] = {"rouge1": block["metrics"]["rougeL"]}


def test_hijack_a_main_metric_the_task_does_not_define_is_rejected(tmp_path, make, tiny):
    run = make(tmp_path / "0-attacker", "0-attacker", n=8)
    forge(run, tiny, results=hijack)
    defects = check(run)
    one_line_each(defects)
    where = run / "results.json"
    assert (
        f"{where}: tasks.seq_recovery.main_metric: 'rouge1', but seq_recovery v2 defines 'recovered_items'"
        in defects
    )
    assert (
        f"{where}: tasks.seq_recovery.metrics: missing embedding_similarity, item_precision, item_recall, "
        "recovered_items, rougeL, roundtrip_overlap_at_10, roundtrip_top1_rr (seq_recovery v2 scores "
        "recovered_items, item_recall, item_precision, rougeL, embedding_similarity, roundtrip_overlap_at_10, "
        "roundtrip_top1_rr)" in defects
    )


def test_hijack_cannot_change_a_tables_metric_or_drop_its_rows(submissions, make, tiny, tmp_path):
    attacker = make(submissions / "attacker" / "0-attacker", "0-attacker", label="attacker", n=8)
    forge(attacker, tiny, results=hijack)
    with pytest.raises(ConfigError) as caught:  # the build refuses the invalid run outright
        build_site(submissions, tmp_path / "site")
    assert str(caught.value).startswith(f"{attacker / 'results.json'}: tasks.seq_recovery.main_metric: ")
    # and a table takes its metric from the task definition even if such a run reached it
    subs = [
        Submission(f, json.loads((f / "results.json").read_text())) for f in sorted(submissions.glob("*/*"))
    ]
    table = next(t for t in index_tables(subs) if t["task"] == "seq_recovery")
    assert table["main"] == "recovered_items"
    assert table["metrics"] == list(task_definition("seq_recovery").metrics)
    assert len(table["rows"]) == 4  # nobody's row is dropped; the attacker's shows "—"


# --- 2. reading outside the submission --------------------------------------------------------------


def test_a_data_dir_named_in_the_submission_is_never_read(tmp_path, run):
    secret = tmp_path / "secret"
    secret.mkdir()
    for name in ("items.csv", "interactions.csv"):
        (secret / name).write_text("root:x:0:0:SECRET-FIRST-LINE\n")
    edit(run, lambda d: (d["dataset"].update(data_dir=str(secret)), d["config"].update(data_dir=str(secret))))
    assert check(run) == []  # matched by sha256 against the folder validate was given, not the one named
    (defect,) = validate_run(run)
    assert "SECRET" not in defect and str(secret) not in defect
    assert defect.startswith(f"{run / 'results.json'}: dataset: 'csv' with sha256 ")


def test_a_modified_ml100k_inside_the_run_folder_is_refused(tmp_path, make):
    root = tmp_path / "submissions"
    run = make(root / "alpha-linear" / "run-1", "run-1", n=8)
    (run / "ml-100k").mkdir()
    (run / "ml-100k" / "ml-100k.inter").write_text("user_id:token\titem_id:token\n1\t1\n")
    one_line_each(defects := check(run, submissions=root))
    assert defects == [
        f"{run / 'ml-100k'}: not part of a submission (a run folder holds results.json, samples.jsonl[.gz] "
        "and the model folders interpreter and recommender only)"
    ]
    (run / "ml-100k" / "ml-100k.inter").unlink()
    (run / "ml-100k").rmdir()

    def claim_ml100k(d):
        d["dataset"].update(name="ml-100k", sha256="1" * 64, data_dir=str(run / "ml-100k"))
        d["config"].update(dataset="ml-100k", data_dir=str(run / "ml-100k"))

    edit(run, claim_ml100k)
    assert check(run, submissions=root) == [
        f"{run / 'results.json'}: dataset.sha256: 111111111111…, but ml-100k here (the installed recbole "
        "wheel) has 5752def8ad12…: scores would not be comparable"
    ]


def test_carried_model_folders_are_allowed_and_checked(tmp_path, make):
    root = tmp_path / "submissions"
    run = make(root / "alpha-linear" / "run-1", "run-1", n=8)
    (run / "interpreter").mkdir()
    (run / "interpreter" / "training.json").write_text("{}")
    assert check(run, submissions=root) == []  # a model folder `verify` reads is part of a submission
    secret = tmp_path / "secret"
    secret.write_text("SECRET")
    (run / "interpreter" / "adapter.json").symlink_to(secret)
    assert check(run, submissions=root) == [
        f"{run / 'interpreter' / 'adapter.json'}: must be a regular file (not a symlink or folder)"
    ]


def test_symlinked_results_are_rejected(tmp_path, run):
    target = tmp_path / "elsewhere.json"
    (run / "results.json").rename(target)
    (run / "results.json").symlink_to(target)
    assert check(run) == [
        f"{run / 'results.json'}: a symlink; a submission holds regular files only (none is followed)"
    ]


def test_symlinked_samples_are_rejected_and_never_read(tmp_path, run):
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:SECRET\n")
    (run / "samples.jsonl").unlink()
    (run / "samples.jsonl").symlink_to(secret)
    assert check(run) == [
        f"{run / 'samples.jsonl'}: a symlink; a submission holds regular files only (none is followed)"
    ]


def test_symlinked_run_folder_and_tree_are_rejected(submissions, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    (submissions / "zeta-mlp").rename(elsewhere)
    (submissions / "zeta-mlp").symlink_to(elsewhere)
    args = ["leaderboard", "validate", "--submissions", str(submissions), "--data-dir", str(TINY)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert (
        f"{submissions / 'zeta-mlp'}: a symlink; submissions hold only real folders and regular files"
        in result.stderr.splitlines()
    )
    assert check(elsewhere / "run-zeta", submissions=submissions) == []  # outside the tree: judged alone
    assert check(submissions / "zeta-mlp" / "run-zeta", submissions=submissions) == [
        f"{submissions / 'zeta-mlp'}: a symlink; submissions hold only real folders and regular files"
    ]
    link = tmp_path / "link-run"
    link.symlink_to(elsewhere / "run-zeta")
    assert check(link) == [f"{link}: run folder must be a real folder, not a symlink"]


def test_build_refuses_a_symlinked_samples_file_and_publishes_nothing(submissions, tmp_path):
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:SECRET\n")
    samples = submissions / "popular" / "run-pop" / "samples.jsonl"
    samples.unlink()
    samples.symlink_to(secret)
    result = runner.invoke(
        app, ["leaderboard", "build", "--submissions", str(submissions), "--out", str(tmp_path / "site")]
    )
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {samples}: a symlink; submissions hold only real folders and regular files "
        "(run `recbench leaderboard validate`)\n"
    )
    assert not (tmp_path / "site").exists()


# --- 3. fabricated or selected samples ---------------------------------------------------------------


def test_dropped_rows_are_rejected(run, tiny):
    kept = {f"seq_recovery:{w.id}" for w in sample_test_windows(tiny, 3, 0, 8)[::2]}
    forge(run, tiny, rows=lambda rows: [r for r in rows if r["task"] != "seq_recovery" or r["id"] in kept])
    defects = check(run)
    one_line_each(defects)
    first_dropped = next(f"seq_recovery:{w.id}" for w in sample_test_windows(tiny, 3, 0, 8)[1::2])
    assert (
        f"{run / 'results.json'}: tasks.seq_recovery.n: claimed 4, but {SETTINGS} give 8 instances" in defects
    )
    assert (
        f"{run / 'samples.jsonl'}: seq_recovery (real): 4 of the 8 instances that {SETTINGS} give are missing "
        f"(first: {first_dropped!r})" in defects
    )


def test_the_best_row_duplicated_200_times_is_rejected(run, tiny):
    def duplicate(rows):
        best = max(
            (r for r in rows if r["task"] == "seq_recovery" and r["condition"] == "real"),
            key=lambda r: r["scores"]["recovered_items"],
        )
        return rows + [dict(best) for _ in range(200)]

    forge(run, tiny, rows=duplicate)
    defects = check(run)
    one_line_each(defects)
    assert any(
        re.fullmatch(
            rf"{re.escape(str(run / 'samples.jsonl'))}: seq_recovery \(real\): 1 instance id\(s\) appear more "
            r"than once \(first: 'seq_recovery:[^']+', 201 times\)",
            d,
        )
        for d in defects
    ), defects


def test_invented_rows_are_rejected(run, tiny):
    def invent(rows):
        row = next(r for r in rows if r["task"] == "next_item" and r["condition"] == "real")
        return rows + [{**row, "id": "next_item:u99@0"}]

    forge(run, tiny, rows=invent)
    defects = check(run)
    one_line_each(defects)
    assert (
        f"{run / 'samples.jsonl'}: next_item (real): 1 instance id(s) that {SETTINGS} do not give "
        "(first: 'next_item:u99@0')" in defects
    )


def test_targets_edited_to_equal_outputs_are_rejected(run, tiny):
    def copy_outputs(rows):
        for r in rows:
            if r["task"] == "residual_id":
                r["target"] = r["output"]
        return rows

    before = [r for r in rows_of(run) if r["task"] == "residual_id" and r["condition"] == "real"]
    edited = [r["id"] for r in before if r["target"] != r["output"]]
    forge(run, tiny, rows=copy_outputs)
    defects = check(run)
    one_line_each(defects)
    assert (
        f"{run / 'samples.jsonl'}: residual_id (real): target of {len(edited)} row(s) is not the one the "
        f"dataset gives (first: {edited[0]!r})" in defects
    )


def test_an_invented_task_is_rejected(run, tiny):
    def rows(rows):
        return rows + [
            {**r, "task": "easy_task", "id": "easy_" + r["id"]} for r in rows if r["task"] == "next_item"
        ]

    def results(data):
        data["tasks"]["easy_task"] = json.loads(json.dumps(data["tasks"]["next_item"]))
        data["config"]["tasks"].append("easy_task")

    forge(run, tiny, rows=rows, results=results)
    defects = check(run)
    one_line_each(defects)
    assert defects[0].startswith(f"{run / 'results.json'}: tasks.easy_task: unknown task 'easy_task'")


def test_a_task_left_out_is_rejected(run, tiny):
    forge(
        run,
        tiny,
        rows=lambda rows: [r for r in rows if r["task"] != "next_item"],
        results=lambda data: data["tasks"].pop("next_item"),
    )
    assert check(run) == [
        f"{run / 'results.json'}: tasks: missing next_item "
        "(config.tasks runs seq_recovery, residual_id, description, next_item)"
    ]


def test_embedding_metrics_left_out_are_rejected(run, tiny):
    def results(data):
        block = data["tasks"]["residual_id"]
        for name in ("retrieval_hit_at_5", "retrieval_hit_at_10", "embedding_similarity"):
            block["metrics"].pop(name)
        block["main_metric"] = "hit_at_1"

    def rows(rows):
        for r in rows:
            if r["task"] == "residual_id":
                r["scores"] = {}
        return rows

    forge(run, tiny, rows=rows, results=results)
    defects = check(run)
    one_line_each(defects)
    assert (
        f"{run / 'results.json'}: tasks.residual_id.metrics: missing embedding_similarity, retrieval_hit_at_10, "
        "retrieval_hit_at_5 (residual_id v2 scores hit_at_1, retrieval_hit_at_5, retrieval_hit_at_10, rougeL, "
        "embedding_similarity, roundtrip_overlap_at_10, roundtrip_top1_rr)" in defects
    )


def test_rec_top1_is_checked_for_type_and_range(run, tiny):
    def zero(rows):
        for r in rows:
            if r["task"] == "next_item":
                r["rec_top1"] = 0
        return rows

    forge(run, tiny, rows=zero)
    defects = check(run)
    assert (
        f"{run / 'samples.jsonl'}: next_item (real): rec_top1 of 8 row(s) is not an item of the catalogue "
        "outside the window (1..24) (first: " in defects[0]
    )


def test_edited_per_sample_scores_are_rejected(run):
    rows = rows_of(run)
    rows[0]["scores"]["rougeL"] = 0.123456
    (run / "samples.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    edit(run, lambda d: d.pop("samples_sha256"))
    assert check(run) == [
        f"{run / 'samples.jsonl'}: seq_recovery (real): scores.rougeL not reproduced in 1 row(s) "
        f"(first: {rows[0]['id']!r})"
    ]


def test_samples_must_match_their_recorded_sha256(run):
    with (run / "samples.jsonl").open("a") as f:
        f.write("\n")
    (defect,) = check(run)
    assert re.fullmatch(
        rf"{re.escape(str(run / 'results.json'))}: samples_sha256: [0-9a-f]{{12}}…, but the samples "
        r"\(uncompressed\) hash to [0-9a-f]{12}…",
        defect,
    )


def test_a_run_without_samples_sha256_still_validates(run):
    edit(run, lambda d: d.pop("samples_sha256"))
    assert check(run) == []


def test_the_derivation_is_the_pipelines(tiny):
    """validate's torch-free sample_test_windows + build_instances give exactly what `recbench run` evaluates."""
    from recbench.run.spec import RunSpec
    from recbench.run.stages import load_data, sample_windows
    from recbench.tasks import build_instances

    for window, seed, limit in ((3, 0, 8), (2, 7, None), (4, 3, 5), (5, 1, 100)):
        spec = RunSpec.resolve(
            "fast", dataset="csv", data_dir=str(TINY), window=window, seed=seed, limit=limit
        )
        d = load_data(spec)
        theirs = sample_windows(d.splits["test"], spec.limit, random.Random(spec.seed))
        mine = sample_test_windows(tiny, window, seed, limit)
        assert mine == theirs
        for task in ("seq_recovery", "description"):
            a = build_instances(task_definition(task), mine, tiny, {"rec_top1": {}})
            b = build_instances(task_definition(task), theirs, d.data, {"rec_top1": {}})
            assert [(i.id, i.prompt, i.target, i.target_items, i.target_genres) for i in a] == [
                (i.id, i.prompt, i.target, i.target_items, i.target_genres) for i in b
            ]


# --- 5. crashes and hangs ------------------------------------------------------------------------------


def test_deeply_nested_results_are_one_line(run):
    path = run / "results.json"
    path.write_text(
        path.read_text().replace(
            '"hardware": {', '"hardware": {"x": ' + "[" * 10_000 + "]" * 10_000 + ", ", 1
        )
    )
    assert check(run) == [f"{path}: JSON nested 10002 deep; at most {MAX_JSON_DEPTH} levels are allowed"]


def test_deeply_nested_samples_are_one_line(run):
    path = run / "samples.jsonl"
    with path.open("a") as f:
        f.write("[" * 10_000 + "]" * 10_000 + "\n")
    assert check(run) == [f"{path}: JSON nested 10000 deep; at most {MAX_JSON_DEPTH} levels are allowed"]


def test_build_refuses_deep_json_with_one_line(submissions, tmp_path):
    path = submissions / "popular" / "run-pop" / "results.json"
    path.write_text(
        path.read_text().replace(
            '"hardware": {', '"hardware": {"x": ' + '{"a":' * 10_000 + "1" + "}" * 10_000 + ", ", 1
        )
    )
    with pytest.raises(ConfigError, match=re.escape(f"{path}: JSON nested 10002 deep; at most")):
        build_site(submissions, tmp_path / "site")


def test_a_negative_bootstrap_seed_is_one_line(run):
    edit(run, lambda d: d["seeds"].update(bootstrap=-1))
    assert check(run) == [f"{run / 'results.json'}: seeds.bootstrap: must be >= 0, got -1"]


@pytest.mark.parametrize(
    ("length", "limit"),
    [(251, 200), (150, 100)],  # 200: any results file (a file name); 100: the leaderboard
)
def test_a_long_run_id_is_one_line(run, length, limit):
    run_id = "r" * length
    edit(run, lambda d: d.update(run_id=run_id))
    folder = run.rename(run.parent / run_id)
    assert check(folder) == [
        f"{folder / 'results.json'}: run_id: '{'r' * 58}… is {length} characters long; at most {limit} are allowed"
    ]


def test_a_run_id_with_a_trailing_newline_is_refused(run, tmp_path, make):
    edit(run, lambda d: d.update(run_id="run-1\n"))
    assert check(run) == [
        f"{run / 'results.json'}: run_id: 'run-1\\n' must match [A-Za-z0-9._-]+ "
        "(letters, digits, '.', '_', '-'; no slashes)"
    ]


def test_the_same_run_id_under_two_slugs_is_rejected(submissions, make, tmp_path):
    twin = make(submissions / "other" / "run-zeta", "run-zeta", label="other", n=8)
    args = ["leaderboard", "validate", "--submissions", str(submissions), "--data-dir", str(TINY)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert (
        f"{twin / 'results.json'}: run_id: 'run-zeta' is also submitted at {submissions / 'zeta-mlp' / 'run-zeta'}"
        in result.stderr.splitlines()
    )
    # validating the one folder alone (a pull request's check) finds its twin too
    assert check(twin, submissions=submissions) == [
        f"{twin / 'results.json'}: run_id: 'run-zeta' is also submitted at {submissions / 'zeta-mlp' / 'run-zeta'}"
    ]


def _bomb(path, size: int) -> None:
    """A gzip file of ``size`` zero bytes (about a thousandth of that on disk)."""
    d = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1 << 20)
    with path.open("wb") as f:
        for _ in range(size >> 20):
            f.write(d.compress(chunk))
        f.write(d.flush())


def test_a_gzip_bomb_is_one_line_and_never_unpacked_whole(run, submissions, tmp_path):
    import tracemalloc

    (run / "samples.jsonl").unlink()
    _bomb(run / "samples.jsonl.gz", 1 << 30)  # 1 GiB of zeros
    tracemalloc.start()
    defects = check(run)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert defects == [f"{run / 'samples.jsonl.gz'}: decompresses to over the {MAX_UNPACKED_BYTES} byte cap"]
    assert peak < 2 * MAX_UNPACKED_BYTES
    target = submissions / "popular" / "run-pop"
    (target / "samples.jsonl").unlink()
    (target / "samples.jsonl.gz").write_bytes((run / "samples.jsonl.gz").read_bytes())
    with pytest.raises(ConfigError, match="decompresses to over the"):
        build_site(submissions, tmp_path / "site")


def test_a_gzip_file_that_is_fine_still_reads(run):
    raw = (run / "samples.jsonl").read_bytes()
    (run / "samples.jsonl").unlink()
    (run / "samples.jsonl.gz").write_bytes(gzip.compress(raw, mtime=0))
    assert check(run) == []


def test_ranges_are_checked(run):
    def break_ranges(d):
        d["tasks"]["next_item"]["metrics"]["hit_at_1"].update(value=1.5, high=1.5)
        d["tasks"]["seq_recovery"]["metrics"]["item_recall"].update(low=0.9, value=0.1, high=0.95)
        d["tasks"]["seq_recovery"].update(n=0)

    edit(run, break_ranges)
    where = run / "results.json"
    assert check(run) == [
        f"{where}: tasks.seq_recovery.n: must be at least 1, got 0",
        f"{where}: tasks.seq_recovery.metrics.item_recall: value 0.1 must lie within its interval [0.9, 0.95]",
        f"{where}: tasks.next_item.metrics.hit_at_1.value: 1.5 is outside hit_at_1's range [0, 1]",
        f"{where}: tasks.next_item.metrics.hit_at_1.high: 1.5 is outside hit_at_1's range [0, 1]",
    ]


# --- names and the terminal --------------------------------------------------------------------------


def test_control_characters_never_reach_the_terminal(run, tmp_path):
    def evil(d):
        block = d["tasks"]["next_item"]
        block["metrics"]["hit\x1b[2J\x1b]0;pwned\x07"] = block["metrics"]["hit_at_1"]

    edit(run, evil)
    defects = check(run)
    one_line_each(defects)
    assert defects == [
        f"{run / 'results.json'}: tasks.next_item.metrics: metric name 'hit\\x1b[2J\\x1b]0;pwned\\x07' must match "
        "[A-Za-z0-9._-]+ (letters, digits, '.', '_', '-'; no slashes)"
    ]
    result = runner.invoke(app, ["leaderboard", "validate", str(run), "--data-dir", str(TINY)])
    assert result.exit_code == 1 and "\x1b" not in result.output and "\x07" not in result.output
    odd = run.rename(tmp_path / "run-\x1b[31m\u202e")  # a folder name is printed escaped too
    (line,) = Validator([TINY]).validate(odd)
    assert "\x1b" not in line and "\u202e" not in line and "\\x1b[31m\\u202e" in line
