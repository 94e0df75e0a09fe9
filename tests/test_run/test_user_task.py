"""A fifth task defined only in a user's folder, passed with --include-path, run end to end."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from recbench.cli import app
from recbench.results import read_samples
from tests.conftest import TINY

LAST_ITEM = """\
# A user task: which item did the window end with? Asks for the recommender's top-1 too.
task: last_item
description: Name the last item of the window from its hidden states.
output_type: generate_until
doc_to_latents: [window]
doc_to_text: "<rec_emb>\\nThe film this user watched last was"
doc_to_target: " {{last_title}}."
inputs: [rec_top1]
target_items: last
generation_kwargs:
  until: ["\\n"]
  max_new_tokens: 12
  do_sample: false
metric_list:
  - metric: hit_at_1
  - metric: top1_agreement
  - metric: rougeL
metadata:
  version: 1
  main_metric: hit_at_1
"""


def test_a_user_task_runs_end_to_end_from_an_include_path(tmp_path, fresh_cache):
    folder = tmp_path / "my_tasks"
    folder.mkdir()
    (folder / "last_item.yaml").write_text(LAST_ITEM)
    args = [
        "--quiet", "run", "--llm", "tiny-random", "--dataset", "csv", "--data-dir", str(TINY),
        "--window", "4", "--limit", "5", "--steps", "2", "--align-steps", "0", "--batch-size", "4",
        "--include-path", str(folder), "--tasks", "last_item", "--train-tasks", "seq_recovery,last_item",
        "--out", str(tmp_path / "runs"),
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").iterdir()
    results = json.loads((run / "results.json").read_text())
    assert list(results["tasks"]) == ["last_item"]
    assert results["config"]["train_tasks"] == ["seq_recovery", "last_item"]
    block = results["tasks"]["last_item"]
    assert block["main_metric"] == "hit_at_1" and block["n"] == 5
    assert set(block["metrics"]) == {"hit_at_1", "top1_agreement", "rougeL"}
    assert set(block["controls"]["shuffled"]) == set(block["metrics"])
    real = read_samples(run).by_task["last_item"]["real"]
    # the declared input reached every sample: the recommender's own top-1, never an item of the window
    assert all(s.rec_top1 is not None and s.rec_top1 != s.target_items[0] for s in real)


def test_evaluating_fewer_tasks_reuses_the_interpreter_trained_for_the_profile(tmp_path, fresh_cache):
    from recbench.run import evaluate

    tiny = dict(
        dataset="csv", data_dir=str(TINY), window=4, limit=4, steps=1, align_steps=0, batch_size=4,
        out_dir=tmp_path / "runs",
    )  # fmt: skip
    full = evaluate("sasrec", "tiny-random", **tiny)
    one = evaluate("sasrec", "tiny-random", ["residual_id"], **tiny)
    assert full["interpreter"]["training"]["from_cache"] is False
    assert one["interpreter"]["training"]["from_cache"] is True  # no new training for a task subset
    assert one["interpreter"]["identity"] == full["interpreter"]["identity"]
    assert one["tasks"]["residual_id"] == full["tasks"]["residual_id"]
    assert one["run_id"] != full["run_id"]
