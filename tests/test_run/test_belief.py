"""The recommender's own top-k and the round trip, on a hand-made scorer and end to end on the tiny data."""

from __future__ import annotations

import json

import torch
from typer.testing import CliRunner

from recbench.cli import app
from recbench.data.splits import Window
from recbench.metrics.base import RoundTrip
from recbench.results import read_samples
from recbench.run.belief import recommender_topk, round_trips
from tests.conftest import TINY

N_ITEMS = 12


class Scorer(torch.nn.Module):
    """Scores item j as ``base[j]``, plus 5 for the item after the sequence's last one: easy to reason about."""

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        # items 1..12; 4 and 5 tie, as do 9 and 10
        self.base = torch.tensor([1.0, 2.0, 3.0, 4.5, 4.5, 6.0, 7.0, 8.0, 0.5, 0.5, 0.0, 9.0])

    def score(self, batch: torch.Tensor) -> torch.Tensor:
        out = self.base.repeat(batch.shape[0], 1)
        for row, last in enumerate(batch[:, -1].tolist()):
            if last and last < N_ITEMS:
                out[row, last] += 5.0  # item last + 1 (column index last)
        return out


def window(items) -> Window:
    return Window(user="u", start=0, items=tuple(items), next_item=1)


def test_topk_is_best_first_with_the_window_excluded_and_ties_to_the_smaller_id():
    model = Scorer()
    w = window([12, 8, 2])  # last item 2: item 3 gets +5 (8.0); 12 and 8 are excluded
    top = recommender_topk(model, [w], window=4, k=5)["u@0"]
    assert top == [3, 7, 6, 4, 5]  # 8.0, 7.0, 6.0, then 4 and 5 tie at 4.5: the smaller id first
    assert top[0] == int(torch.argmax(torch.where(torch.isin(torch.arange(1, 13), torch.tensor([12, 8, 2])),
                                                  -torch.inf, model.score(torch.tensor([[0, 12, 8, 2]]))[0]))) + 1  # fmt: skip


def test_round_trip_feeds_the_answer_back_over_the_same_candidates():
    model = Scorer()
    w = window([12, 8, 2])
    own = recommender_topk(model, [w], window=4, k=3)["u@0"]  # [3, 7, 6]
    trips = round_trips(model, [w, w, w], [[9, 2], [5], []], [own, own, own], window=4)
    # [9, 2] ends with 2, as the window does: the same top-3, the same top-1
    assert trips[0] == RoundTrip([9, 2], [3, 7, 6], 1)
    # [5]: item 6 gets +5 (11.0) and leads; the window's top-1 (item 3, 3.0) ranks 5th of the 9 candidates (after 6, 7, 4, 5)
    assert trips[1] == RoundTrip([5], [6, 7, 4], 5)
    # nothing named: nothing fed back
    assert trips[2] == RoundTrip([], [], None)


BELIEF = """\
# The recommender's own next item (next_item v2's shape), with the round trip.
task: belief
description: Name the item the recommender itself ranks first.
output_type: generate_until
doc_to_latents: [window]
doc_to_text: "<rec_emb>\\nNext, this user will watch"
doc_to_target: " {{rec_top1_title}}."
inputs: [rec_top1, rec_top10, next_item, roundtrip]
target_items: rec_top1
generation_kwargs:
  until: ["\\n"]
  max_new_tokens: 12
  do_sample: false
metric_list:
  - metric: hit_at_1
  - metric: top10_agreement
  - metric: true_next_hit_at_1
  - metric: roundtrip_overlap_at_10
  - metric: roundtrip_top1_rr
metadata:
  version: 1
  main_metric: hit_at_1
"""


def test_a_belief_task_targets_the_recommenders_argmax_and_scores_the_round_trip(tmp_path, fresh_cache):
    from recbench.data import load_dataset
    from recbench.recommenders.base import pad_left
    from recbench.recommenders.train import train_recommender

    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "belief.yaml").write_text(BELIEF)
    args = [
        "--quiet", "run", "--interpreter", "knn_probe", "--dataset", "csv", "--data-dir", str(TINY),
        "--window", "4", "--limit", "6", "--include-path", str(folder), "--tasks", "belief",
        "--train-tasks", "belief", "--out", str(tmp_path / "runs"),
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").iterdir()
    results = json.loads((run / "results.json").read_text())
    samples = read_samples(run).by_task["belief"]
    data = load_dataset("csv", TINY)
    model = train_recommender(data, "sasrec", epochs=results["config"]["rec_epochs"], seed=0).model.eval()
    windows = {w.id: w for split in _splits(data).values() for w in split}
    for s in samples["real"]:
        w = windows[s.id.split(":", 1)[1]]
        scores = model.score(pad_left([list(w.items)], 4))[0].detach()
        scores[[i - 1 for i in w.items]] = -float("inf")
        assert s.target_items == [int(scores.argmax()) + 1] == [s.rec_top1] == s.rec_top10[:1]
        assert s.target == f"{data.title(s.rec_top1)}." and s.next_item == w.next_item
        assert not set(s.rec_top10) & set(w.items) and len(s.rec_top10) == 10
        assert s.roundtrip is not None and len(s.roundtrip.top10) == (10 if s.roundtrip.items else 0)
    # the knn probe answers with a training window's top-1: a title, so every answer has a round trip
    assert all(s.roundtrip.items for s in samples["real"])
    block = results["tasks"]["belief"]
    assert set(block["metrics"]) == {
        "hit_at_1", "top10_agreement", "true_next_hit_at_1", "roundtrip_overlap_at_10", "roundtrip_top1_rr",
    }  # fmt: skip
    assert set(block["controls"]["shuffled"]) == set(block["metrics"])
    # score re-derives every number from the samples alone (no model)
    rescored = CliRunner().invoke(app, ["--quiet", "score", str(run)])
    assert rescored.exit_code == 0, rescored.output


def _splits(data):
    from recbench.data import make_windows, split_windows_by_user

    return split_windows_by_user(make_windows(data, 4), seed=0)


def test_validate_checks_what_the_recommender_said_without_its_checkpoint(tmp_path, fresh_cache):
    from recbench.leaderboard.validate import validate_run

    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "belief.yaml").write_text(BELIEF)
    args = [
        "--quiet", "run", "--interpreter", "linear_probe", "--dataset", "csv", "--data-dir", str(TINY),
        "--window", "4", "--limit", "6", "--include-path", str(folder), "--tasks", "belief",
        "--train-tasks", "belief", "--out", str(tmp_path / "runs"),
    ]  # fmt: skip
    assert CliRunner().invoke(app, args).exit_code == 0
    (run,) = (tmp_path / "runs").iterdir()
    assert validate_run(run, data_dirs=[TINY]) == []
    lines = (run / "samples.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    results = json.loads((run / "results.json").read_text())
    results.pop("samples_sha256")  # so that the edits below reach the checks they are meant for
    (run / "results.json").write_text(json.dumps(results))

    def tampered(edit) -> list[str]:
        changed = [json.loads(line) for line in lines]
        edit(changed)
        (run / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in changed))
        return validate_run(run, data_dirs=[TINY])

    first = rows[0]["id"]
    named = next(i for i, r in enumerate(rows) if r["roundtrip"]["items"])

    def swap_top10(rs):
        rs[0]["rec_top10"] = rs[0]["rec_top10"][::-1]

    def rename_items(rs):
        rs[named]["roundtrip"]["items"] = [rs[named]["roundtrip"]["items"][0] % 12 + 1]

    def move_rank(rs):
        rs[named]["roundtrip"]["top1_rank"] = 10_000

    def new_target(rs):
        rs[0]["rec_top1"] = rs[0]["rec_top10"][1]

    assert any("rec_top10 does not start with rec_top1" in x and first in x for x in tampered(swap_top10))
    assert any("roundtrip.items are not the items the output names" in x for x in tampered(rename_items))
    assert any("roundtrip.top1_rank disagrees" in x for x in tampered(move_rank))
    # a claimed top-1 rebuilds the target: the row's target text is then not the dataset's for it
    assert any("target of 1 row(s)" in x for x in tampered(new_target))
