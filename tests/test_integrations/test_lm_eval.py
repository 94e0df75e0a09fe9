"""lm-eval integration: exported tasks run through lm_eval.simple_evaluate score what `recbench run` scored."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import yaml
from typer.testing import CliRunner

pytest.importorskip("lm_eval")

import lm_eval  # noqa: E402
from lm_eval.api.instance import Instance as LMInstance  # noqa: E402
from lm_eval.tasks import TaskManager  # noqa: E402

from recbench.cli import app  # noqa: E402
from recbench.errors import ConfigError  # noqa: E402
from recbench.integrations.lm_eval import RecbenchLM, export_tasks  # noqa: E402
from recbench.results import read_samples  # noqa: E402
from recbench.run import evaluate  # noqa: E402
from recbench.tasks import load_task  # noqa: E402
from tests.conftest import TINY  # noqa: E402

pytestmark = pytest.mark.slow  # imports lm-eval and runs the tiny pipeline once for the module

TINY_RUN = dict(
    dataset="csv", data_dir=str(TINY), rec_epochs=2, window=4, limit=6, steps=3, batch_size=4,
    valid_limit=4, gen_batch_size=4, align_steps=0, tasks=["seq_recovery", "residual_id"],
)  # fmt: skip
ROOT = TINY.parents[2]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished tiny run (2 tasks, 6 instances each) and its own cache."""
    base = tmp_path_factory.mktemp("lm-eval")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RECBENCH_CACHE", str(base / "cache"))
        results = evaluate("sasrec", "tiny-random", out_dir=base / "runs", **TINY_RUN)
        yield {"folder": base / "runs" / results["run_id"], "results": results, "base": base}


@pytest.fixture(scope="module")
def exported(run):
    out = run["base"] / "export"
    names = export_tasks(run["folder"], out)
    return out, names


@pytest.fixture(scope="module")
def model(run):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RECBENCH_CACHE", str(run["base"] / "cache"))
        yield RecbenchLM(run=str(run["folder"]))


def test_export_is_generated_from_our_task_files(exported, run):
    out, names = exported
    assert names == [
        "recbench_seq_recovery", "recbench_seq_recovery_shuffled", "recbench_residual_id", "recbench_residual_id_shuffled"
    ]  # fmt: skip
    text = (out / "recbench_residual_id.yaml").read_text()
    loader = type("Loader", (yaml.SafeLoader,), {})
    loader.add_constructor("!function", lambda ld, node: "function " + ld.construct_scalar(node))
    task = yaml.load(text, Loader=loader)
    spec = load_task("residual_id")
    first, second, rest = spec.doc_to_text.split("<rec_emb>")
    assert task["doc_to_text"] == f"{first}<rec_emb:{{{{latent_0}}}}>{second}<rec_emb:{{{{latent_1}}}}>{rest}"
    assert task["generation_kwargs"] == {
        "until": list(spec.until),
        "max_gen_toks": spec.max_new_tokens,
        "do_sample": False,
    }
    assert [m["metric"] for m in task["metric_list"]] == list(spec.metrics)
    assert task["metric_list"][0]["aggregation"] == "function utils.agg_hit_at_1"
    assert "description" not in task  # lm-eval would prepend it to every prompt
    docs = [json.loads(line) for line in (out / "recbench_residual_id.jsonl").read_text().splitlines()]
    samples = read_samples(run["folder"]).by_task["residual_id"]["real"]
    assert [d["id"] for d in docs] == [s.id for s in samples]
    assert all(d["latent_0"] == f"{d['window']}:window_minus_last" for d in docs)
    shuffled = [
        json.loads(line) for line in (out / "recbench_residual_id_shuffled.jsonl").read_text().splitlines()
    ]
    assert all(d["latent_0"].split(":")[0] != d["window"] for d in shuffled)


def test_lm_eval_scores_and_outputs_equal_recbench_run(exported, run, monkeypatch):
    monkeypatch.setenv("RECBENCH_CACHE", str(run["base"] / "cache"))
    out, names = exported
    res = lm_eval.simple_evaluate(
        model="recbench",
        model_args={"run": str(run["folder"]), "gen_cache": False},  # generate everything afresh
        tasks=["recbench", "recbench_shuffled"],
        task_manager=TaskManager(include_path=str(out), include_defaults=False),
        bootstrap_iters=0,
        log_samples=True,
    )
    claimed = run["results"]["tasks"]
    compared = 0
    for task, block in claimed.items():
        for condition, scores in (("real", block["metrics"]), ("shuffled", block["controls"]["shuffled"])):
            name = f"recbench_{task}" + ("_shuffled" if condition == "shuffled" else "")
            for metric, score in scores.items():
                assert res["results"][name][f"{metric},none"] == score["value"], (name, metric)
                compared += 1
    assert compared == 20
    samples = read_samples(run["folder"])
    for name, rows in res["samples"].items():
        doc_out = {row["doc"]["id"]: row["filtered_resps"][0] for row in rows}
        task, condition = rows[0]["doc"]["task"], rows[0]["doc"]["condition"]
        assert doc_out == {s.id: s.output for s in samples.by_task[task][condition]}, name


def test_lm_eval_reads_the_runs_own_generations(exported, model):
    out, _ = exported
    model.stats.update(cached=0, generated=0)
    res = lm_eval.simple_evaluate(
        model=model,
        tasks=["recbench"],
        task_manager=TaskManager(include_path=str(out), include_defaults=False),
        bootstrap_iters=0,
    )
    # same generation-cache keys as `recbench run`: prompts and latents are bitwise the run's
    assert model.stats == {"cached": 12, "generated": 0}
    assert set(res["results"]) == {"recbench_seq_recovery", "recbench_residual_id"}


def test_cli_lm_eval_run_matches_results_json(run, monkeypatch):
    monkeypatch.setenv("RECBENCH_CACHE", str(run["base"] / "cache"))
    result = CliRunner().invoke(app, ["-q", "lm-eval", "run", str(run["folder"]), "--tasks", "residual_id"])
    assert result.exit_code == 0, result.output
    assert "matches results.json" in result.output


def _request(context: str, doc: dict, task_name: str = "recbench_seq_recovery") -> LMInstance:
    gen = {"until": ["\n"], "max_gen_toks": 8, "do_sample": False}
    return LMInstance("generate_until", doc, (context, gen), 0, (task_name, 0, 1))


def test_model_refuses_a_task_the_run_lacks(model):
    req = _request(
        "<rec_emb:1@0:window>\nNext, this user will watch", {"task": "next_item"}, "recbench_next_item"
    )
    with pytest.raises(
        ConfigError, match=r"has no task 'next_item' .*the run has: seq_recovery, residual_id"
    ):
        model.generate_until([req])


def test_model_refuses_latents_the_run_lacks(model):
    req = _request("<rec_emb:nobody@0:window>\nThis user has watched", {"task": "seq_recovery"})
    with pytest.raises(ConfigError, match="has no latents for window 'nobody@0'"):
        model.generate_until([req])
    bare = _request("<rec_emb>\nThis user has watched", {"task": "seq_recovery"})
    with pytest.raises(ConfigError, match="bare <rec_emb>"):
        model.generate_until([bare])


def test_model_is_generate_until_only(model):
    with pytest.raises(NotImplementedError, match="generate_until tasks only"):
        model.loglikelihood([])
    with pytest.raises(NotImplementedError, match="generate_until tasks only"):
        model.loglikelihood_rolling([])


def test_export_refuses_a_task_the_run_lacks(run, tmp_path):
    with pytest.raises(ConfigError, match=r"has no task 'next_item' \(it ran: seq_recovery, residual_id\)"):
        export_tasks(run["folder"], tmp_path, ["next_item"])


def test_older_run_folder_is_one_clear_line(run, exported, tmp_path, monkeypatch):
    old = tmp_path / "old"
    shutil.copytree(run["folder"], old)
    data = json.loads((old / "results.json").read_text())
    (old / "results.json").write_text(json.dumps({**data, "schema_version": 0}))
    with pytest.raises(ConfigError, match="schema version 0 is older than"):
        RecbenchLM(run=str(old))
    result = CliRunner().invoke(app, ["lm-eval", "export", str(old), "--out", str(tmp_path / "x")])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and "older than" in lines[0], result.output
    # lm-eval's own command line (with the model registered): the same one line, exit 2
    monkeypatch.setenv("RECBENCH_CACHE", str(run["base"] / "cache"))
    proc = subprocess.run(
        [sys.executable, "-m", "recbench.integrations.lm_eval", "run", "--model", "recbench", "--model_args",
         f"run={old}", "--tasks", "recbench", "--include_path", str(exported[0]), "--device", "cpu"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ") and "older than" in proc.stderr


def test_model_needs_a_run():
    with pytest.raises(ConfigError, match="needs model_args run="):
        RecbenchLM()
