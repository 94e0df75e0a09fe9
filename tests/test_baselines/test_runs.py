"""Every baseline through recbench.evaluate: a valid, re-scorable run; controls; determinism; `ls`."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from recbench.cli import app
from recbench.results import read_samples, rescore_run
from tests.test_baselines.conftest import BASELINES, TASKS, run_baseline

LATENT_READERS = {"knn_probe", "linear_probe"}


def outputs(folder) -> dict:
    samples = read_samples(folder)
    return {
        (task, condition, s.id): s.output
        for task, groups in samples.by_task.items()
        for condition, rows in groups.items()
        for s in rows
    }


@pytest.mark.parametrize("name", BASELINES)
def test_run_is_valid_and_rescores_to_its_numbers(baseline_runs, name):
    results, folder = baseline_runs[name]
    assert set(results["tasks"]) == set(TASKS)
    interp = results["interpreter"]
    assert interp["kind"] == "baseline" and interp["name"] == name
    assert interp["label"] == ("text_history (tiny-random)" if name == "text_history" else name)
    assert interp["llm"] == ("tiny-random" if name == "text_history" else None)
    claimed, recomputed = rescore_run(folder)
    for task, block in recomputed.items():
        assert block["metrics"] == claimed["tasks"][task]["metrics"]
        assert block["controls"] == claimed["tasks"][task]["controls"]
        assert claimed["tasks"][task]["n"] == 6


@pytest.mark.parametrize("name", BASELINES)
def test_shuffled_control_only_for_latent_readers(baseline_runs, name):
    results, folder = baseline_runs[name]
    samples = read_samples(folder)
    for task in TASKS:
        has_control = bool(results["tasks"][task]["controls"].get("shuffled"))
        assert has_control == (name in LATENT_READERS)
        assert bool(samples.by_task[task].get("shuffled")) == (name in LATENT_READERS)


def test_answers_look_like_targets(baseline_runs):
    """Item-predicting baselines write answers shaped like the targets (seq_recovery: L titles + '.')."""
    for name in ("random", "popular", "majority", "knn_probe", "linear_probe"):
        samples = read_samples(baseline_runs[name][1]).by_task
        for s in samples["seq_recovery"]["real"]:
            assert s.output.endswith(".") and s.output.count(", ") >= s.target.count(", ") - 1
        for task in ("residual_id", "next_item"):
            assert all(s.output.endswith(".") for s in samples[task]["real"])


def test_probes_read_more_than_random(baseline_runs):
    recovered = {
        name: baseline_runs[name][0]["tasks"]["seq_recovery"]["metrics"]["item_recall"]["value"]
        for name in ("random", "linear_probe", "knn_probe")
    }
    assert recovered["linear_probe"] >= recovered["random"]
    assert recovered["knn_probe"] >= recovered["random"]


def test_same_seed_same_outputs_with_a_fresh_cache(baseline_runs, tmp_path, fresh_cache):
    for name in BASELINES:
        results = run_baseline(name, tmp_path / "again")
        assert results["run_id"] == baseline_runs[name][0]["run_id"]
        assert outputs(tmp_path / "again" / results["run_id"]) == outputs(baseline_runs[name][1])


def test_another_seed_changes_random(baseline_runs, tmp_path):
    results = run_baseline("random", tmp_path, seed=1)
    assert outputs(tmp_path / results["run_id"]) != outputs(baseline_runs["random"][1])


def test_ls_interpreters_lists_every_baseline_with_descriptions():
    result = CliRunner().invoke(app, ["--quiet", "ls", "interpreters"], terminal_width=200)
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    for name in BASELINES:
        assert name in lines and len(lines[name].split()) > 3, result.output
