"""Task search path: built-ins from the package, then --include-path folders and $RECBENCH_INCLUDE_PATH."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recbench.cli import app
from recbench.errors import ConfigError, UnknownNameError
from recbench.resources import package_path
from recbench.tasks import available_tasks, load_task, set_include_paths, task_files, tasks_dir
from recbench.tasks.search import ENV
from tests.conftest import TINY

BUILTIN = ["description", "next_item", "residual_id", "seq_recovery"]
runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_include_paths(monkeypatch):
    """Each test starts with no include paths and leaves none behind."""
    monkeypatch.delenv(ENV, raising=False)
    set_include_paths([])
    yield
    set_include_paths([])


def user_task(folder: Path, name: str = "what_next", stem: str | None = None) -> Path:
    """A copy of next_item under another task name (and file stem)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = (tasks_dir() / "next_item.yaml").read_text()
    path = folder / f"{stem or name}.yaml"
    path.write_text(text.replace("task: next_item", f"task: {name}"))
    return path


def cli(*args: str):
    result = runner.invoke(app, ["--quiet", *args])
    assert "Traceback" not in result.output
    return result


def test_builtin_tasks_are_package_data():
    assert tasks_dir() == package_path("tasks", "builtin")
    assert tasks_dir().parent == Path(__import__("recbench.tasks").tasks.__file__).parent
    assert available_tasks() == BUILTIN
    assert Path(load_task("seq_recovery").path) == (tasks_dir() / "seq_recovery.yaml").resolve()


def test_include_path_adds_tasks_after_the_builtins(tmp_path):
    path = user_task(tmp_path / "mine" / "nested")  # folders are searched recursively
    set_include_paths([tmp_path / "mine"])
    assert available_tasks() == sorted([*BUILTIN, "what_next"])
    assert list(task_files())[:4] == sorted(BUILTIN)  # built-ins first
    spec = load_task("what_next")
    assert spec.name == "what_next" and Path(spec.path) == path.resolve()
    set_include_paths([])
    with pytest.raises(UnknownNameError, match="unknown task 'what_next'"):
        load_task("what_next")


def test_a_task_is_named_by_its_task_field_not_its_file_name(tmp_path):
    user_task(tmp_path, name="what_next", stem="some_file")
    set_include_paths([tmp_path])
    assert "what_next" in available_tasks() and "some_file" not in available_tasks()


def test_environment_variable_with_several_folders(tmp_path, monkeypatch):
    user_task(tmp_path / "a", "task_a")
    user_task(tmp_path / "b", "task_b")
    monkeypatch.setenv(ENV, os.pathsep.join([str(tmp_path / "a"), "", str(tmp_path / "b")]))
    assert {"task_a", "task_b"} <= set(available_tasks())
    # --include-path folders come first, the environment's stay
    user_task(tmp_path / "c", "task_c")
    set_include_paths([tmp_path / "c"])
    assert {"task_a", "task_b", "task_c"} <= set(available_tasks())
    assert os.environ[ENV].split(os.pathsep)[0] == str((tmp_path / "c").resolve())  # child processes see it
    set_include_paths([])
    assert "task_c" not in available_tasks() and "task_a" in available_tasks()


def test_include_path_that_does_not_exist(tmp_path):
    with pytest.raises(ConfigError, match=f"include path {tmp_path / 'nope'} does not exist"):
        set_include_paths([tmp_path / "nope"])


def test_include_path_without_task_files(tmp_path, monkeypatch):
    (tmp_path / "notes.txt").write_text("no yaml here")
    with pytest.raises(ConfigError, match="holds no task files"):
        set_include_paths([tmp_path])
    monkeypatch.setenv(ENV, str(tmp_path))  # the environment's folders are checked when tasks are looked up
    with pytest.raises(ConfigError, match="holds no task files"):
        load_task("seq_recovery")


def test_a_name_claimed_twice_is_refused_naming_both_files(tmp_path):
    clash = user_task(tmp_path / "a", "seq_recovery")
    set_include_paths([tmp_path / "a"])
    with pytest.raises(ConfigError) as info:
        load_task("seq_recovery")
    message = str(info.value)
    assert "two task files define task 'seq_recovery'" in message
    assert str(tasks_dir().resolve() / "seq_recovery.yaml") in message and str(clash.resolve()) in message
    # two include folders claiming one name
    first, second = user_task(tmp_path / "b", "mine"), user_task(tmp_path / "c", "mine")
    set_include_paths([tmp_path / "b", tmp_path / "c"])
    with pytest.raises(ConfigError, match="two task files define task 'mine'") as info:
        available_tasks()
    assert str(first.resolve()) in str(info.value) and str(second.resolve()) in str(info.value)


def test_cli_ls_tasks_with_include_path(tmp_path):
    user_task(tmp_path)
    result = cli("ls", "tasks", "--include-path", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "what_next" in result.stdout and "seq_recovery" in result.stdout


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p / "nope", "does not exist"),
        (lambda p: p, "holds no task files (*.yaml)"),
    ],
)
def test_cli_bad_include_path_is_one_line(tmp_path, make, message):
    folder = make(tmp_path)
    for args in (["ls", "tasks"], ["run", "--dataset", "csv", "--data-dir", str(TINY)]):
        result = cli(*args, "--include-path", str(folder))
        assert result.exit_code == 2
        assert result.stderr.strip() == f"error: include path {folder} {message}"


def test_cli_duplicate_task_is_one_line(tmp_path):
    user_task(tmp_path, "residual_id")
    result = cli("ls", "tasks", "--include-path", str(tmp_path))
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "two task files define task 'residual_id'" in result.stderr


def test_cli_run_resolves_tasks_through_the_include_path(tmp_path):
    user_task(tmp_path)
    args = ["run", "--dataset", "csv", "--data-dir", str(TINY), "--include-path", str(tmp_path)]
    result = cli(*args, "--tasks", "what_nxt", "--out", str(tmp_path / "runs"))
    assert result.exit_code == 2 and "did you mean 'what_next'?" in result.stderr


def test_ls_tasks_with_no_tasks_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr("recbench.tasks.search.builtin_tasks_dir", lambda: tmp_path)
    result = cli("ls", "tasks")
    assert result.exit_code == 2
    assert result.stderr.strip().startswith(f"error: {tmp_path}: no built-in task files (*.yaml)")


def test_evaluate_runs_a_task_from_an_include_path(tmp_path):
    from recbench.run import evaluate

    user_task(tmp_path / "tasks")
    set_include_paths([tmp_path / "tasks"])
    results = evaluate(
        "sasrec", None, ["what_next"], interpreter="popular", out_dir=tmp_path / "runs",
        dataset="csv", data_dir=str(TINY), rec_epochs=2, window=4, limit=3,
    )  # fmt: skip
    assert list(results["tasks"]) == ["what_next"] and results["tasks"]["what_next"]["n"] == 3
