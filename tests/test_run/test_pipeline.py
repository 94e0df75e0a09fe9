"""The whole benchmark on tiny-random + the tiny fixture: results, determinism, caching, resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from recbench.results import load_results, read_samples, rescore_run
from recbench.run import evaluate
from tests.conftest import TINY

TINY_RUN = dict(
    dataset="csv", data_dir=str(TINY), rec_epochs=2, window=4, limit=6, steps=3, batch_size=4,
    valid_limit=4, gen_batch_size=4, align_steps=100,
)  # fmt: skip
DETERMINISTIC = ("seq_recovery", "residual_id")


def run(tmp_path, **extra):
    return evaluate("sasrec", "tiny-random", out_dir=tmp_path / "runs", **{**TINY_RUN, **extra})


def values(results: dict) -> dict:
    return {
        task: {m: (s["value"], s["low"], s["high"], s["n"]) for m, s in block["metrics"].items()}
        | {f"shuffled:{m}": s["value"] for m, s in block["controls"].get("shuffled", {}).items()}
        for task, block in results["tasks"].items()
    }


def test_pipeline_writes_results_and_samples(tmp_path, fresh_cache):
    results = run(tmp_path)
    folder = tmp_path / "runs" / results["run_id"]
    assert load_results(folder)["run_id"] == results["run_id"]
    assert set(results["tasks"]) == {"seq_recovery", "residual_id", "description", "next_item"}
    for block in results["tasks"].values():
        assert block["n"] == 6
        for score in block["metrics"].values():
            assert score["low"] <= score["value"] <= score["high"] and score["n"] == 6
        assert set(block["gap"]) == set(block["metrics"])
    samples = read_samples(folder)
    assert len(samples.by_task["seq_recovery"]["real"]) == 6
    assert len(samples.by_task["seq_recovery"]["shuffled"]) == 6
    for key in ("dataset", "recommender", "interpreter", "hardware", "timings", "seeds", "command"):
        assert key in results
    assert results["recommender"]["checkpoint_sha256"] and results["dataset"]["sha256"]
    assert results["interpreter"]["training"]["steps"] == 3


def test_shuffled_control_reads_other_instances_latents(tmp_path, fresh_cache):
    results = run(tmp_path, tasks=["seq_recovery"])
    samples = read_samples(tmp_path / "runs" / results["run_id"]).by_task["seq_recovery"]
    real = {s.id: s for s in samples["real"]}
    shuffled = {s.id: s for s in samples["shuffled"]}
    assert real.keys() == shuffled.keys()
    # same targets, and the prompt is constant, so the shuffled outputs are the real outputs permuted
    assert all(real[k].target == shuffled[k].target for k in real)
    assert sorted(s.output for s in real.values()) == sorted(s.output for s in shuffled.values())


def test_same_seed_same_results_and_second_run_is_cached(tmp_path, fresh_cache):
    first = run(tmp_path)
    second = run(tmp_path)
    assert values(first) == values(second)
    assert second["interpreter"]["training"]["from_cache"] and second["recommender"]["from_cache"]
    fresh = run(tmp_path, overwrite=True)
    assert values(fresh) == values(first)


def test_score_reproduces_saved_numbers(tmp_path, fresh_cache):
    results = run(tmp_path, tasks=list(DETERMINISTIC))
    claimed, recomputed = rescore_run(tmp_path / "runs" / results["run_id"])
    for task, block in recomputed.items():
        assert block["metrics"] == claimed["tasks"][task]["metrics"]
        assert block["controls"] == claimed["tasks"][task]["controls"]


def test_two_interpreters_never_share_cache_entries(tmp_path, fresh_cache):
    a = run(tmp_path, adapter="per_position", tasks=["residual_id"])
    b = run(tmp_path, adapter="linear", tasks=["residual_id"])
    assert a["interpreter"]["identity"] != b["interpreter"]["identity"]
    assert a["run_id"] != b["run_id"]
    import sqlite3

    rows = (
        sqlite3.connect(fresh_cache / "generations.sqlite").execute("SELECT COUNT(*) FROM gen").fetchone()[0]
    )
    assert rows == 2 * 6  # each interpreter generated its own 6 (the shuffled control reuses them)
    entries = sorted(p.name for p in (fresh_cache / "interpreters").iterdir())
    assert len(entries) == 2


KILLER = """
import os, signal, sys
import torch
torch.set_num_threads(1)
from recbench import progress
from recbench.gencache import GenerationCache
progress.set_enabled(False)
calls = {"n": 0}
original = GenerationCache.put_many
def put_then_maybe_die(self, pairs):
    original(self, pairs)
    calls["n"] += 1
    if calls["n"] == int(os.environ["KILL_AFTER"]):
        os.kill(os.getpid(), signal.SIGKILL)   # as abrupt as a kill -9 from outside
GenerationCache.put_many = put_then_maybe_die
from recbench.interpreters.llm import LLMInterpreter
generate = LLMInterpreter.generate
def counting(self, instances, **kw):
    with open(os.environ["COUNT_FILE"], "a") as f:
        f.write(f"{len(instances)}\\n")
    return generate(self, instances, **kw)
LLMInterpreter.generate = counting
from recbench.run import evaluate
import json
kw = json.loads(sys.argv[1])
evaluate("sasrec", "tiny-random", **kw)
"""


def test_kill_minus_nine_then_resume_redoes_nothing(tmp_path, fresh_cache):
    script = tmp_path / "killer.py"
    script.write_text(textwrap.dedent(KILLER))
    kw = {**TINY_RUN, "limit": 12, "tasks": ["seq_recovery"], "out_dir": str(tmp_path / "runs")}
    env = {**os.environ, "RECBENCH_CACHE": str(fresh_cache), "COUNT_FILE": str(tmp_path / "count")}
    root = Path(__file__).resolve().parents[2]
    killed = subprocess.run(
        [sys.executable, str(script), json.dumps(kw)],
        env={**env, "KILL_AFTER": "1"},
        cwd=root,
        capture_output=True,
    )
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    assert not (tmp_path / "runs").exists()  # nothing half-written
    # generation goes in chunks of 8 (2 x gen_batch_size): the first chunk was saved, then the kill
    assert [int(x) for x in (tmp_path / "count").read_text().split()] == [8]
    (tmp_path / "count").unlink()
    resumed = subprocess.run(
        [sys.executable, str(script), json.dumps(kw)],
        env={**env, "KILL_AFTER": "0"},
        cwd=root,
        capture_output=True,
    )
    assert resumed.returncode == 0, resumed.stderr.decode()[-2000:]
    redone = [int(x) for x in (tmp_path / "count").read_text().split()]
    (folder,) = (tmp_path / "runs").iterdir()
    resumed_results = load_results(folder)
    assert resumed_results["tasks"]["seq_recovery"]["n"] > 8
    # an uninterrupted run in a fresh cache gives the same numbers
    other = tmp_path / "other-cache"
    os.environ["RECBENCH_CACHE"] = str(other)
    try:
        clean = evaluate("sasrec", "tiny-random", **{**kw, "out_dir": str(tmp_path / "clean")})
    finally:
        os.environ["RECBENCH_CACHE"] = str(fresh_cache)
    assert values(clean) == values(resumed_results)
    # the clean run generated each distinct prompt once; the killed + resumed pair did the same in total
    import sqlite3

    distinct = sqlite3.connect(other / "generations.sqlite").execute("SELECT COUNT(*) FROM gen").fetchone()[0]
    assert 8 + sum(redone) == distinct and len(redone) == 1


def test_training_bar_counts_alignment_then_end_to_end_steps(tmp_path, fresh_cache, monkeypatch):
    from contextlib import contextmanager

    from recbench import progress as progress_mod

    bars: dict[str, list] = {}

    @contextmanager
    def recording_bar(description, total):
        calls = bars.setdefault(description, [("start", total)])
        yield lambda advance=1, note="", total=None: calls.append(((note.split() or [""])[0], total))

    monkeypatch.setattr(progress_mod, "bar", recording_bar)
    run(tmp_path, tasks=["seq_recovery"], align_steps=5)
    (train,) = [calls for name, calls in bars.items() if name.startswith("train ") and "sasrec" not in name]
    assert train[0] == ("start", 3)  # the bar opens with the end-to-end steps it knows of
    # then one tick per alignment step and per end-to-end step, against their sum
    assert train[1:] == [("align", 8)] * 5 + [("train", 8)] * 3
