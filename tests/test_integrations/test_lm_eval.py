"""lm-eval integration: exported tasks run through lm_eval.simple_evaluate score what `recbench run` scored."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

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
from recbench.integrations.lm_eval.scoring import Z95  # noqa: E402
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
    fields = ["", "_stderr", "_low", "_high", "_shuffled", "_gap"]  # recbench's interval and control gap
    # the round trip feeds answers back to the recommender after generation: not in the exported task
    exported_metrics = [m for m in spec.metrics if not m.startswith("roundtrip_")]
    assert "roundtrip_overlap_at_10" in spec.metrics and exported_metrics
    assert [m["metric"] for m in task["metric_list"]] == [m + f for m in exported_metrics for f in fields]
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
            got = res["results"][name]
            for metric, score in scores.items():
                if metric.startswith("roundtrip_"):
                    continue  # not exported (it needs the recommender after generation)
                assert got[f"{metric},none"] == score["value"], (name, metric)
                # recbench's bootstrap interval, and lm-eval's Stderr column derived from it
                assert (got[f"{metric}_low,none"], got[f"{metric}_high,none"]) == (
                    score["low"],
                    score["high"],
                )
                assert got[f"{metric}_stderr,none"] == (score["high"] - score["low"]) / (2 * Z95)
                if condition == "real":
                    control = block["controls"]["shuffled"][metric]["value"]
                    assert got[f"{metric}_shuffled,none"] == control
                    assert got[f"{metric}_gap,none"] == block["gap"][metric]
                else:
                    assert f"{metric}_gap,none" not in got
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
    # no control in this evaluation: no gap (never one left over from an earlier evaluation)
    assert res["results"]["recbench_residual_id"]["hit_at_1_gap,none"] == "N/A"
    assert isinstance(res["results"]["recbench_residual_id"]["hit_at_1_stderr,none"], float)


def test_cli_lm_eval_run_matches_results_json(run, monkeypatch):
    monkeypatch.setenv("RECBENCH_CACHE", str(run["base"] / "cache"))
    result = CliRunner().invoke(app, ["-q", "lm-eval", "run", str(run["folder"]), "--tasks", "residual_id"])
    assert result.exit_code == 0, result.output
    assert "matches results.json" in result.output


def _request(context: str, doc: dict, task_name: str = "recbench_seq_recovery") -> LMInstance:
    doc = {"prompt": context, **doc}
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


# --- lm-eval's own command line ---------------------------------------------------------------------

LM_EVAL = Path(sys.executable).parent / "lm_eval"  # lm-eval's console script, in the same environment
WRAPPER = [sys.executable, "-m", "recbench.integrations.lm_eval"]


def _env(run) -> dict:
    import os

    return {**os.environ, "RECBENCH_CACHE": str(run["base"] / "cache")}


def _results_file(folder: Path, run_id: str) -> dict:
    (path,) = (folder / f"recbench__{run_id}").glob("results_*.json")  # lm-eval's folder: the model's name
    return json.loads(path.read_text())


@pytest.mark.skipif(not LM_EVAL.exists(), reason="lm-eval's console script is not in this environment")
def test_plain_lm_eval_cli_runs_the_exported_folder(run, exported, tmp_path):
    """`lm_eval --model recbench --tasks <export folder>`: lm-eval's own command, no wrapper."""
    run_id = run["results"]["run_id"]
    proc = subprocess.run(
        [str(LM_EVAL), "--model", "recbench", "--model_args", f"run={run['folder']},model=recbench:{run_id}",
         "--tasks", str(exported[0]), "--device", "cpu", "--output_path", str(tmp_path / "out")],
        capture_output=True, text=True, cwd=tmp_path, env=_env(run), timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    got = _results_file(tmp_path / "out", run_id)
    assert got["model_name"] == f"recbench:{run_id}" and got["config"]["recbench_run_id"] == run_id
    block, claimed = got["results"]["recbench_residual_id"], run["results"]["tasks"]["residual_id"]
    score = claimed["metrics"]["hit_at_1"]
    assert block["hit_at_1,none"] == score["value"]
    assert block["hit_at_1_stderr,none"] == (score["high"] - score["low"]) / (2 * Z95)
    assert block["hit_at_1_gap,none"] == claimed["gap"]["hit_at_1"]
    # lm-eval's own table printed every recbench field (its Stderr column from recbench's interval)
    assert "| hit_at_1_gap" in proc.stdout.replace("|hit_at_1_gap", "| hit_at_1_gap")


def test_wrapper_names_the_model_and_notes_the_batch_size(run, exported, tmp_path, monkeypatch):
    """`recbench lm-eval <lm-eval's options>` (= python -m recbench.integrations.lm_eval): tags, a readable name."""
    from recbench.integrations.lm_eval import model as rb_model

    monkeypatch.setenv("RECBENCH_CACHE", str(run["base"] / "cache"))
    monkeypatch.setitem(rb_model._notes, "batch_size", False)
    monkeypatch.setattr(lm_eval.utils, "_LOGGING_CONFIGURED", True)  # no handler on CliRunner's stderr
    run_id = run["results"]["run_id"]
    result = CliRunner().invoke(
        app,
        ["-q", "lm-eval", "--model", "recbench", "--model_args", f"run={run['folder']}", "--tasks",
         "recbench_residual_id", "--include_path", str(exported[0]), "--device", "cpu", "--batch_size", "8",
         "--output_path", str(tmp_path / "out")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output[-3000:]
    notes = [line for line in result.output.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and "batch size (8) is ignored" in notes[0] and "gen_batch_size (4)" in notes[0]
    got = _results_file(tmp_path / "out", run_id)
    assert got["model_name"] == f"recbench:{run_id}"
    assert (
        got["results"]["recbench_residual_id"]["hit_at_1,none"]
        == (run["results"]["tasks"]["residual_id"]["metrics"]["hit_at_1"]["value"])
    )


REFUSED = {  # case: (lm-eval options over the good command line, what the one line says)
    "few-shot": ({"--num_fewshot": "1"}, "--num_fewshot 1: recbench tasks are zero-shot"),
    "system instruction": ({"--system_instruction": "Be brief."}, "--system_instruction:"),
    "chat template": ({"--apply_chat_template": True}, "--apply_chat_template:"),
    "multi-turn": ({"--fewshot_as_multiturn": "true"}, "--fewshot_as_multiturn:"),
    "sampling": ({"--gen_kwargs": "temperature=0.7"}, "temperature=0.7 asks for sampling"),
    "unknown gen_kwargs": ({"--gen_kwargs": "top_p=0.9"}, "generation setting 'top_p' is not supported"),
    "task typo": ({"--tasks": "recbench_seq_recovry"}, "did you mean recbench_seq_recovery?"),
    "missing include_path": ({"--include_path": "{tmp}/nowhere"}, "no such folder"),
    "empty include_path": ({"--include_path": "{tmp}/empty"}, "holds no task YAML"),
    "no include_path": ({"--include_path": None}, "recbench's tasks are not lm-eval built-ins"),
    "wrong model name": ({"--model_args": "run={run},model=recbench:other"}, "is named recbench:"),
}


def _refused_argv(case: str, run, exported, tmp_path) -> list[str]:
    good = {"--model": "recbench", "--model_args": "run={run}", "--tasks": "recbench",
            "--include_path": str(exported[0]), "--device": "cpu"}  # fmt: skip
    argv = []
    for key, value in {**good, **REFUSED[case][0]}.items():
        if value is not None:
            argv += [key] if value is True else [key, value.format(tmp=tmp_path, run=run["folder"])]
    return argv


def _one_error_line(case: str, code: int, output: str) -> None:
    lines = output.strip().splitlines()
    assert code == 2, (case, output[-2000:])
    assert "Traceback" not in output, case
    assert len(lines) == 1 and lines[0].startswith("error: ") and REFUSED[case][1] in lines[0], (case, lines)


def test_refusals_are_one_line_and_exit_2(run, exported, tmp_path, capsys, monkeypatch):
    """Every lm-eval option that would change recbench's prompts, and every bad task selection: one line."""
    from recbench.integrations.lm_eval.harness import main

    monkeypatch.setattr(lm_eval.utils, "_LOGGING_CONFIGURED", True)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    for case in REFUSED:
        code = main(_refused_argv(case, run, exported, tmp_path))  # each stops before any model is loaded
        captured = capsys.readouterr()
        _one_error_line(case, code, captured.out + captured.err)


def test_refusals_from_the_real_command_line(run, exported, tmp_path):
    """The same in a process of its own, as users run it (python -m ..., recbench lm-eval ...)."""
    commands = {
        "few-shot": WRAPPER + _refused_argv("few-shot", run, exported, tmp_path),
        "task typo": [
            sys.executable,
            "-m",
            "recbench",
            "lm-eval",
            *_refused_argv("task typo", run, exported, tmp_path),
        ],
    }
    procs = {  # both at once: each stops before any model is loaded
        case: subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=_env(run))
        for case, argv in commands.items()
    }  # fmt: skip
    for case, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        _one_error_line(case, proc.returncode, out + err)


@pytest.mark.skipif(not LM_EVAL.exists(), reason="lm-eval's console script is not in this environment")
def test_plain_lm_eval_cannot_find_the_model_by_tag(run, exported, tmp_path):
    """Evidence for docs/lm_eval.md: lm-eval 0.4.13 has no plug-in discovery, so tags need the wrapper."""
    proc = subprocess.run(
        [str(LM_EVAL), "--model", "recbench", "--model_args", f"run={run['folder']}", "--tasks", "recbench",
         "--include_path", str(exported[0]), "--device", "cpu"],
        capture_output=True, text=True, cwd=tmp_path, env=_env(run), timeout=300,
    )  # fmt: skip
    assert proc.returncode != 0 and "no model for this name found" in proc.stderr


def test_python_api_refuses_prompt_changes(exported, model):
    """simple_evaluate(num_fewshot=...) would take the shot from another test document: refused, not leaked."""
    out, _ = exported
    for options in ({"num_fewshot": 1}, {"system_instruction": "Be brief."}):
        with pytest.raises(ConfigError, match="text was added before the task's prompt"):
            lm_eval.simple_evaluate(
                model=model, tasks=["recbench_residual_id"], bootstrap_iters=0,
                task_manager=TaskManager(include_path=str(out), include_defaults=False), **options,
            )  # fmt: skip
    with pytest.raises(ConfigError, match="--apply_chat_template"):
        model.apply_chat_template([{"role": "user", "content": "hi"}])


def test_gen_kwargs_are_honoured(exported, model, monkeypatch):
    out, _ = exported
    calls = []
    generate = model.interpreter.generate
    monkeypatch.setattr(
        model.interpreter, "generate", lambda insts, **kw: calls.append(kw) or generate(insts, **kw)
    )
    model.stats.update(cached=0, generated=0)
    lm_eval.simple_evaluate(
        model=model, tasks=["recbench_residual_id"], bootstrap_iters=0,
        task_manager=TaskManager(include_path=str(out), include_defaults=False),
        gen_kwargs={"max_gen_toks": 2, "until": ["."]},
    )  # fmt: skip
    assert model.stats["generated"] == 6  # other settings, other cache keys: generated, not the run's outputs
    assert calls and all(kw == {"max_new_tokens": 2, "stop": ["."]} for kw in calls)


def test_edited_config_is_named_as_such(run, tmp_path):
    edited = tmp_path / "edited"
    shutil.copytree(run["folder"], edited)
    data = json.loads((edited / "results.json").read_text())
    data["config"]["tasks"] = ["seq_recovery"]  # the tasks block still holds both
    (edited / "results.json").write_text(json.dumps(data))
    for call in (lambda: export_tasks(edited, tmp_path / "x"), lambda: RecbenchLM(run=str(edited))):
        with pytest.raises(
            ConfigError, match=r"config.tasks lists seq_recovery but the run holds .*edited after"
        ):
            call()
