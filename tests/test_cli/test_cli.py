"""The command line through Typer's CliRunner: output, exit codes, one-line errors."""

from __future__ import annotations

from typer.testing import CliRunner

from recbench.cli import app
from tests.conftest import TINY

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, ["--quiet", *args])


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("recbench ")


def test_ls_lists_recommenders_with_descriptions():
    result = invoke("ls", "recommenders")
    assert result.exit_code == 0
    assert "sasrec" in result.stdout and "gru4rec" in result.stdout and "self-attention" in result.stdout


def test_ls_unknown_kind_suggests():
    result = invoke("ls", "recomenders")
    assert result.exit_code == 2
    assert "did you mean 'recommenders'?" in result.stderr
    assert "Traceback" not in result.output


def test_train_rec_prints_table_with_popularity(fresh_cache):
    args = ["train-rec", "--dataset", "csv", "--data-dir", str(TINY), "--epochs", "3", "--max-len", "8"]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    for text in ("HR@10", "NDCG@10", "HR@20", "NDCG@20", "popularity", "sasrec", "trained in"):
        assert text in result.stdout
    again = invoke(*args)
    assert "loaded from cache" in again.stdout
    # identical numbers: the table lines match
    assert [line for line in result.stdout.splitlines() if "│" in line] == [
        line for line in again.stdout.splitlines() if "│" in line
    ]


def test_unknown_recommender_is_one_line():
    result = invoke("train-rec", "--rec", "sasrek")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: unknown recommender 'sasrek' (known: gru4rec, sasrec); did you mean 'sasrec'?"
    )


def test_unknown_dataset_is_one_line():
    result = invoke("train-rec", "--dataset", "ml-1m")
    assert result.exit_code == 2 and "unknown dataset 'ml-1m'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_data_dir_files(tmp_path):
    result = invoke("train-rec", "--data-dir", str(tmp_path))
    assert result.exit_code == 2 and "u.data: file not found" in result.stderr
    assert "Traceback" not in result.output


def test_corrupted_checkpoint_via_cli(fresh_cache):
    args = ["train-rec", "--dataset", "csv", "--data-dir", str(TINY), "--epochs", "1", "--max-len", "8"]
    assert invoke(*args).exit_code == 0
    (weights,) = fresh_cache.glob("recommenders/*/model.safetensors")
    weights.write_bytes(b"\0" * 10)
    result = invoke(*args)
    assert result.exit_code == 2 and "checkpoint is truncated or corrupted" in result.stderr
    assert str(weights) in result.stderr.replace("\n", "")


def test_bad_option_value():
    result = invoke("train-rec", "--dataset", "csv", "--data-dir", str(TINY), "--epochs", "0")
    assert result.exit_code == 2 and "--epochs must be at least 1" in result.stderr


def test_card_short_users_error():
    result = invoke("card", "--dataset", "csv", "--data-dir", str(TINY), "--window", "40")
    assert result.exit_code == 2 and "shorter than the window" in result.stderr


def test_python_dash_m_entry_point():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "recbench", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("recbench ")


def test_run_adapter_options_and_align_steps(tmp_path, fresh_cache):
    import json

    args = ["run", "--dataset", "csv", "--data-dir", str(TINY), "--llm", "tiny-random", "--window", "4",
            "--limit", "2", "--steps", "1", "--tasks", "seq_recovery", "--out", str(tmp_path)]  # fmt: skip
    result = invoke(*args, "--adapter-option", "hidden=32", "--adapter-option", "tokens_per_item=2",
                    "--align-steps", "7")  # fmt: skip
    assert result.exit_code == 0, result.output
    (path,) = tmp_path.glob("*/results.json")
    interp = json.loads(path.read_text())["interpreter"]
    # the profile's adapter options, with the two given on top
    assert interp["config"]["adapter_options"] == {
        "hidden": 32,
        "tokens_per_item": 2,
        "store": "int8",
        "belief": True,
        "summary": "description",
    }
    assert interp["training"]["align_steps"] == 7
    # another adapter starts from no options
    other = invoke(*args, "--adapter", "linear", "--adapter-option", "k=3", "--align-steps", "0")
    assert other.exit_code == 0, other.output
    (linear,) = [p for p in tmp_path.glob("*/results.json") if p != path]
    assert json.loads(linear.read_text())["interpreter"]["config"]["adapter_options"] == {"k": 3}


def test_run_summary_option_aligns_to_a_training_tasks_answers(tmp_path, fresh_cache):
    import json

    args = ["run", "--dataset", "csv", "--data-dir", str(TINY), "--llm", "tiny-random", "--window", "4",
            "--limit", "2", "--steps", "1", "--tasks", "description", "--out", str(tmp_path),
            "--adapter-option", "hidden=32", "--adapter-option", "tokens_per_item=2",
            "--adapter-option", "summary=description", "--align-steps", "5"]  # fmt: skip
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    (path,) = tmp_path.glob("*/results.json")
    interp = json.loads(path.read_text())["interpreter"]
    assert interp["config"]["adapter_options"]["summary"] == "description"
    assert 0 <= interp["training"]["align_summary_accuracy"] <= 1
    # a summary task the interpreter is not trained on: one line, before any training step
    bad = invoke(*args, "--train-tasks", "seq_recovery,next_item")
    assert bad.exit_code != 0
    assert "summary='description'" in bad.output and "Traceback" not in bad.output


def test_help_shows_the_defaults_written_in_option_texts():
    # rich markup would swallow "[smollm2-135m]"-style text: the defaults must survive into --help
    import re

    def help_text(command: str) -> str:  # the help box's borders removed, words joined again
        return " ".join(re.sub("[│╭╮╰╯─]", " ", runner.invoke(app, [command, "--help"]).stdout).split())

    text = help_text("run")
    assert "(default: smollm2-135m)" in text and "(default: ml-100k)" in text
    text = help_text("train-rec")
    assert "(default: 200)" in text and "(default: 50)" in text
