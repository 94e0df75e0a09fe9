"""Dataset options on the command line: --columns, --interactions-file, --items-file, --threads."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from recbench.cli import app
from tests.conftest import TINY

runner = CliRunner()
MAPPED = "csv[interactions_file=ratings.csv,item=movie_id,items_file=movies.csv,title=name]"


def invoke(*args: str):
    return runner.invoke(app, ["--quiet", *args])


@pytest.fixture
def renamed(tmp_path):
    """The tiny dataset with other file names and column names."""
    items = (TINY / "items.csv").read_bytes().replace(b"item,title,", b"movie_id,name,", 1)
    inter = (TINY / "interactions.csv").read_bytes().replace(b"user,item,", b"user,movie_id,", 1)
    (tmp_path / "movies.csv").write_bytes(items)
    (tmp_path / "ratings.csv").write_bytes(inter)
    return tmp_path


MAPPING = [
    "--columns",
    "item=movie_id,title=name",
    "--interactions-file",
    "ratings.csv",
    "--items-file",
    "movies.csv",
]


def test_card_reads_mapped_columns_and_files(renamed):
    result = invoke("card", "--dataset", "csv", "--data-dir", str(renamed), *MAPPING, "--window", "5")
    assert result.exit_code == 0, result.output
    card = json.loads(result.stdout)
    assert card["name"] == MAPPED and card["items"] == 24 and card["interactions"] == 618
    assert card["options"]["item"] == "movie_id" and set(card["files"]) == {"ratings.csv", "movies.csv"}
    plain = json.loads(invoke("card", "--dataset", "csv", "--data-dir", str(TINY), "--window", "5").stdout)
    assert card["sha256"] != plain["sha256"]  # two mappings never share a cache


def test_train_rec_with_mapping_and_threads(renamed, fresh_cache):
    import torch

    before = torch.get_num_threads()
    try:
        args = ["train-rec", "--dataset", "csv", "--data-dir", str(renamed), *MAPPING]
        result = invoke(*args, "--epochs", "1", "--max-len", "8", "--threads", "2")
        assert result.exit_code == 0, result.output
        assert f"dataset {MAPPED}: 30 users, 24 items" in result.stdout.replace("\n", "")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_threads_must_be_positive():
    result = invoke("train-rec", "--threads", "0")
    assert result.exit_code == 2 and "--threads" in result.output


def test_data_errors_are_one_line_without_traceback(tmp_path):
    (tmp_path / "items.csv").write_text("item,title\n1,A\n2,B\n1,C\n")
    (tmp_path / "interactions.csv").write_text("user,item,timestamp\n1,1,5\n")
    result = invoke("card", "--dataset", "csv", "--data-dir", str(tmp_path))
    assert result.exit_code == 2 and "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and line.endswith(
        "items.csv: line 4: duplicate item id: '1', first on line 2"
    )


@pytest.mark.parametrize("command", ["run", "train-rec", "card"])
def test_mapping_options_need_the_csv_dataset(command):
    result = invoke(command, "--columns", "user=user_id")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.strip() == (
        "error: dataset 'ml-100k' takes no options (given: user); "
        "--columns, --interactions-file and --items-file apply to --dataset csv"
    )


def test_bad_columns_syntax_is_one_line():
    result = invoke("card", "--dataset", "csv", "--data-dir", str(TINY), "--columns", "user:user_id")
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: --columns: 'user:user_id' is not FIELD=COLUMN")


@pytest.mark.parametrize("command", ["run", "train-rec", "card"])
def test_help_lists_the_dataset_options(command):
    text = " ".join(re.sub("[│╭╮╰╯─]", " ", runner.invoke(app, [command, "--help"]).stdout).split())
    for option in ("--columns", "--interactions-file", "--items-file"):
        assert option in text
    assert "(default: items.csv)" in text


def test_run_records_the_mapping_and_score_reads_it_back(renamed, tmp_path, fresh_cache):
    out = tmp_path / "runs"
    args = ["run", "--dataset", "csv", "--data-dir", str(renamed), *MAPPING, "--llm", "tiny-random",
            "--window", "4", "--limit", "2", "--steps", "1", "--align-steps", "0", "--tasks", "seq_recovery",
            "--adapter-option", "hidden=32", "--adapter-option", "tokens_per_item=2", "--out", str(out)]  # fmt: skip
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert f"on{MAPPED}" in "".join(result.stdout.split())  # the table title, wrapped
    (path,) = out.glob("*/results.json")
    card = json.loads(path.read_text())["dataset"]
    assert card["name"] == MAPPED and card["options"]["items_file"] == "movies.csv"
    assert path.parent.name.startswith("csv_interactions_file_ratings.csv_item_movie_id_")
    # re-scoring loads the dataset again from the card's name and folder alone
    again = invoke("score", str(path.parent))
    assert again.exit_code == 0, again.output
    assert "matches results.json" in again.stdout
