"""Several versions of a task side by side: the latest by name, any by (name, version), and a run
checked against the version it recorded (tasks/builtin/versions/)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from recbench.cli import app
from recbench.errors import ConfigError, UnknownNameError
from recbench.run.spec import RunSpec, generation_keys
from recbench.tasks import load_task, set_include_paths, tasks_dir
from recbench.tasks.search import task_versions
from recbench.tasks.spec import describe_tasks, parse_task_ref
from tests.test_leaderboard.conftest import check

runner = CliRunner()
SUBMISSIONS = Path(__file__).resolve().parents[2] / "leaderboard" / "submissions"


N = load_task("seq_recovery").version  # the installed latest; the tests add version N + 1


def _next_version(folder: Path) -> Path:
    """Version N + 1 of seq_recovery in ``folder``: another target wording and main metric."""
    raw = yaml.safe_load((tasks_dir() / "seq_recovery.yaml").read_text())
    raw["doc_to_target"] = " The user watched {{titles}}."
    raw["metadata"] = {"version": N + 1, "main_metric": "item_recall"}
    path = folder / "seq_recovery.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _bump(tmp_path: Path, monkeypatch) -> Path:
    """A copy of the built-in folder where seq_recovery is at N + 1 and N lives in versions/."""
    builtin = tmp_path / "builtin"
    shutil.copytree(tasks_dir(), builtin)
    (builtin / "versions").mkdir(exist_ok=True)
    shutil.copy(tasks_dir() / "seq_recovery.yaml", builtin / "versions" / f"seq_recovery-v{N}.yaml")
    _next_version(builtin)
    monkeypatch.setattr("recbench.tasks.search.builtin_tasks_dir", lambda: builtin)
    return builtin


@pytest.fixture
def versioned(tmp_path, monkeypatch) -> Path:
    return _bump(tmp_path, monkeypatch)


def test_parse_task_ref():
    assert parse_task_ref("description") == ("description", None)
    assert parse_task_ref("description@1") == ("description", 1)
    assert parse_task_ref("description@v2") == ("description", 2)


def test_name_is_the_latest_and_name_at_version_any_other(versioned):
    assert sorted(task_versions()["seq_recovery"]) == list(range(1, N + 2))
    assert load_task("seq_recovery").version == N + 1
    assert load_task("seq_recovery").main_metric == "item_recall"
    old = load_task("seq_recovery", N)
    assert old.version == N and old.main_metric == "recovered_items"
    assert Path(old.path).parent.name == "versions"
    assert load_task(f"seq_recovery@{N}") == old
    assert load_task("seq_recovery", 1).version == 1  # what the committed leaderboard rows ran
    have = ", ".join(str(v) for v in range(1, N + 2))
    with pytest.raises(UnknownNameError, match=rf"task seq_recovery has no version 9 \(versions: {have}\)"):
        load_task("seq_recovery", 9)


def test_one_name_and_version_twice_is_refused(versioned):
    shutil.copy(versioned / "seq_recovery.yaml", versioned / "versions" / "seq_recovery-copy.yaml")
    with pytest.raises(ConfigError, match="two task files define task 'seq_recovery'"):
        load_task("seq_recovery")


def test_versions_of_one_task_in_two_folders_are_refused(tmp_path):
    """A user's version 2 of a built-in task would silently replace it: refused, naming both files."""
    mine = tmp_path / "mine"
    mine.mkdir()
    path = _next_version(mine)
    set_include_paths([mine])
    try:
        with pytest.raises(ConfigError, match="two task files define task 'seq_recovery'") as info:
            load_task("seq_recovery", N)
        assert str(path.resolve()) in str(info.value)
    finally:
        set_include_paths([])


def test_ls_tasks_shows_versions(versioned):
    rows = dict(describe_tasks())
    assert rows["seq_recovery"].startswith(f"v{N + 1} · ")
    earlier = ", ".join(f"v{v}" for v in range(1, N + 1))
    assert f"earlier: {earlier} (run one with --tasks seq_recovery@1)" in rows["seq_recovery"]
    result = runner.invoke(app, ["--quiet", "ls", "tasks"], terminal_width=300)
    assert result.exit_code == 0 and f"earlier: {earlier}" in result.output


def test_run_spec_pins_versions(versioned):
    new = RunSpec.resolve("fast", tasks=("seq_recovery",), train_tasks=("seq_recovery", "residual_id@1"))
    assert new.task_versions == {"seq_recovery": N + 1} and new.task_version("seq_recovery") == N + 1
    assert new.task_version("residual_id") == 1  # a task at version 1 is left out
    v1 = RunSpec.resolve("fast", tasks=("seq_recovery@1",), train_tasks=("seq_recovery@1",))
    assert v1.tasks == ("seq_recovery",) and v1.task_versions == {}
    assert RunSpec.from_dict(v1.to_dict()).run_id() == v1.run_id()
    assert RunSpec.from_dict(new.to_dict()) == new
    assert new.run_id() != RunSpec.resolve("fast", tasks=("seq_recovery@1",)).run_id()


def test_committed_version_1_rows_keep_their_run_ids():
    """Every committed leaderboard row at version 1 gets its own run id back from its config."""
    rows = [
        p
        for p in sorted(SUBMISSIONS.glob("*/*/results.json"))
        if "task_versions" not in json.loads(p.read_text())["config"]
    ]
    assert rows
    for path in rows:
        results = json.loads(path.read_text())
        assert {b["version"] for b in results["tasks"].values()} == {1}
        spec = RunSpec.from_dict(results["config"])
        assert spec.task_versions == {} and spec.run_id() == results["run_id"], path


def test_run_spec_refuses_a_task_at_two_versions_and_a_missing_version(versioned):
    with pytest.raises(ConfigError, match=f"task seq_recovery is asked at versions {N + 1} and 1"):
        RunSpec.resolve("fast", tasks=("seq_recovery",), train_tasks=("seq_recovery@1",))
    with pytest.raises(UnknownNameError, match="has no version 7"):
        RunSpec.resolve("fast", tasks=("seq_recovery@7",))
    with pytest.raises(ConfigError, match="task_versions must map task names to versions >= 2"):
        RunSpec.from_dict({"tasks": ["seq_recovery"], "task_versions": {"seq_recovery": "2"}})


def test_generation_keys_of_version_1_are_unchanged(versioned):
    v1, v2 = load_task("seq_recovery", 1), load_task("seq_recovery", N + 1)
    assert generation_keys("k", v1, []) == []
    from recbench.run.spec import generation_key, generation_settings

    class Inst:
        prompt, latents = "p", []

    assert generation_keys("k", v1, [Inst()]) == [generation_key("k", generation_settings(v1), "p", "")]
    assert generation_keys("k", v2, [Inst()]) != generation_keys("k", v1, [Inst()])


def test_an_older_row_still_validates_once_a_new_version_exists(tmp_path, make, monkeypatch):
    run = make(tmp_path / "run-old", "run-old", tasks=["seq_recovery", "residual_id"], n=6)
    assert check(run) == []
    _bump(tmp_path, monkeypatch)
    assert load_task("seq_recovery").version == N + 1
    assert check(run) == []  # re-derived and re-scored with version N's definition
    # a run of the new version validates too, in its own table
    run2 = make(tmp_path / "run-new", "run-new", tasks=["seq_recovery", "residual_id"], n=6)
    results = json.loads((run2 / "results.json").read_text())
    assert results["tasks"]["seq_recovery"]["version"] == N + 1
    assert results["config"]["task_versions"]["seq_recovery"] == N + 1
    assert results["tasks"]["seq_recovery"]["main_metric"] == "item_recall"
    assert check(run2) == []


def test_a_row_claiming_a_version_recbench_does_not_define_is_one_line(tmp_path, make):
    run = make(tmp_path / "run-v9", "run-v9", tasks=["seq_recovery"], n=4)
    path = run / "results.json"
    results = json.loads(path.read_text())
    results["tasks"]["seq_recovery"]["version"] = 9
    path.write_text(json.dumps(results))
    have = ", ".join(str(v) for v in range(1, N + 1))
    assert check(run) == [
        f"{path}: tasks.seq_recovery.version: recbench defines no version 9 of task seq_recovery (versions: {have})"
    ]


def test_a_block_version_other_than_the_configs_is_refused(tmp_path, make, versioned):
    run = make(tmp_path / "run-mix", "run-mix", tasks=["seq_recovery"], n=4)  # version N + 1
    path = run / "results.json"
    results = json.loads(path.read_text())
    results["tasks"]["seq_recovery"]["version"] = N
    results["tasks"]["seq_recovery"]["main_metric"] = "recovered_items"
    path.write_text(json.dumps(results))
    lines = check(run)
    assert f"{path}: tasks.seq_recovery.version: {N}, but config.task_versions gives version {N + 1}" in lines
