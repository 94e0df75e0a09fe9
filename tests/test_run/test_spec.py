"""The RunSpec: one resolution, typed fields, keys from one module, declared task inputs."""

from __future__ import annotations

import shutil

import pytest

from recbench.errors import ConfigError
from recbench.run import evaluate
from recbench.run.spec import DEFAULT_TASKS, DEFAULTS, PROFILES, RunSpec
from recbench.tasks import load_task
from tests.conftest import TINY

TINY_BASE = dict(dataset="csv", data_dir=str(TINY), window=4, limit=4)


def test_resolve_fills_profile_then_overrides_and_round_trips():
    spec = RunSpec.resolve("paper", limit=7, tasks=["seq_recovery"])
    assert spec.window == PROFILES["paper"]["window"] and spec.limit == 7
    assert spec.tasks == ("seq_recovery",)
    assert spec.train_tasks == DEFAULT_TASKS  # evaluating fewer tasks never changes what is trained
    assert RunSpec.from_dict(spec.to_dict()) == spec
    assert RunSpec.from_dict(spec.to_dict()).run_id() == spec.run_id()


def test_spec_is_frozen():
    with pytest.raises(AttributeError):
        RunSpec.resolve().limit = 3  # type: ignore[misc]


def test_a_config_written_before_train_tasks_trained_on_its_tasks():
    # such a config had no task_versions either (every task was at version 1)
    new = RunSpec.resolve(tasks=["seq_recovery"]).to_dict()
    old = {k: v for k, v in new.items() if k not in ("train_tasks", "task_versions")}
    assert RunSpec.from_dict(old).train_tasks == ("seq_recovery",)


def test_llm_interpreter_defaults_are_the_specs():
    from recbench.interpreters.llm import LLMInterpreter

    default = LLMInterpreter()
    assert default.adapter_name == DEFAULTS.adapter
    assert default.adapter_options == DEFAULTS.adapter_options
    assert default.train_settings["steps"] == DEFAULTS.steps
    assert default.chat_template == DEFAULTS.chat_template
    assert LLMInterpreter.from_config(DEFAULTS).identity() == default.identity()


@pytest.mark.parametrize(
    ("setting", "value", "text"),
    [
        ("limit", "5", "limit must be int or None, got str '5'"),
        ("window", 2.5, "window must be int, got float 2.5"),
        ("chat_template", "yes", "chat_template must be bool, got str"),
        ("steps", True, "steps must be int, got bool True"),
        ("tasks", "seq_recovery", "tasks must be list or tuple, got str"),
        ("tasks", [1, 2], "tasks must be a list of task names"),
        ("adapter_options", {"hidden": object()}, "adapter_options must hold JSON values only"),
        ("lr", -1.0, "--lr must be positive"),
        ("seed", -1, "--seed must be >= 0"),
        ("nonsense", 1, "unknown run setting 'nonsense'"),
    ],
)
def test_wrong_types_from_the_python_api_are_one_line_errors(setting, value, text, tmp_path):
    with pytest.raises(ConfigError) as err:
        evaluate("sasrec", out_dir=tmp_path, **{**TINY_BASE, setting: value})
    assert text in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "runs").exists()


def _builtin(name: str) -> str:
    with open(load_task(name).path, encoding="utf-8") as f:
        return f.read()


def test_a_metric_needing_an_undeclared_input_is_refused_on_load(tmp_path):
    path = tmp_path / "no_inputs.yaml"
    path.write_text(_builtin("next_item@1").replace("inputs: [rec_top1]\n", ""))
    with pytest.raises(ConfigError, match=r"metric top1_agreement needs input\(s\) rec_top1"):
        load_task(str(path))


def test_an_input_nobody_provides_is_refused_on_load(tmp_path):
    path = tmp_path / "odd.yaml"
    path.write_text(_builtin("next_item@1").replace("[rec_top1]", "[rec_top1, user_age]"))
    with pytest.raises(
        ConfigError,
        match="no provider for 'user_age'; recbench provides rec_top1, rec_top10, next_item, genres, .*roundtrip",
    ):
        load_task(str(path))


def test_a_task_needing_genres_on_a_dataset_without_them_fails_before_training(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(TINY, data)
    lines = (data / "items.csv").read_text().splitlines()
    import csv
    import io

    rows = list(csv.reader(io.StringIO("\n".join(lines))))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow([row[0], row[1], row[3]])  # item, title, year: no genres column
    (data / "items.csv").write_text(out.getvalue())
    with pytest.raises(ConfigError, match="task description needs item genres"):
        evaluate(
            "sasrec", None, ["description"], out_dir=tmp_path / "runs", dataset="csv", data_dir=str(data),
            window=4, limit=4, interpreter="popular", rec_epochs=1,
        )  # fmt: skip
    assert not (tmp_path / "runs").exists()


def test_committed_submissions_keep_their_run_ids():
    """Every committed results.json's config gives back its run id (so reload and verify accept it)."""
    import json
    from pathlib import Path

    found = sorted(Path(__file__).resolve().parents[2].glob("leaderboard/submissions/*/*/results.json"))
    assert found
    for path in found:
        results = json.loads(path.read_text())
        assert RunSpec.from_dict(results["config"]).run_id() == results["run_id"], path


def test_fast_profile_trains_lora_and_the_summary_group_and_no_lora_turns_it_off():
    import json
    from pathlib import Path

    fast = RunSpec.resolve("fast")
    assert fast.lora == {"r": 8, "alpha": 16, "dropout": 0.0}
    assert fast.adapter_options["summary"] == "description" and fast.adapter_options["hidden"] == 512
    off = RunSpec.resolve("fast", lora=False)
    assert off.lora is None and off.run_id() != fast.run_id() and "lora" not in off.run_id()
    assert RunSpec.resolve("paper").lora is None
    # the default's run id is the committed default row's (the committed adapter and LoRA made it)
    rows = Path(__file__).resolve().parents[2] / "leaderboard" / "submissions" / "smollm2-135m-mlp-lora"
    assert (rows / fast.run_id() / "results.json").is_file()
    # baselines use no adapter and no LoRA: their run ids do not follow the profile's recipe
    for name in ("popular", "majority", "random", "linear_probe", "knn_probe", "text_history"):
        spec = RunSpec.resolve("fast", interpreter=name)
        assert spec.lora is None and spec.adapter_options == DEFAULTS.adapter_options
        folder = next(rows.parent.glob(f"*/{spec.run_id()}"), None)
        assert folder is not None, f"{name}: {spec.run_id()} is not a committed row"
        assert json.loads((folder / "results.json").read_text())["run_id"] == spec.run_id()
