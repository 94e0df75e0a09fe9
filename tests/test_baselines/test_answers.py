"""recbench.baselines.answers: predicted items become the task's answer text, in the targets' own format."""

from __future__ import annotations

import pytest

from recbench.baselines.answers import answer_size, answer_text
from recbench.tasks import build_instances, load_task, tasks_dir
from tests.test_baselines.conftest import TASKS, WINDOW


@pytest.mark.parametrize("task", TASKS)
def test_true_items_give_the_target_string(tiny_instances, task):
    for inst in tiny_instances.test[task]:
        assert answer_text(task, inst.target_items, tiny_instances.data) == inst.target


def test_formats_by_task(tiny_data):
    title = tiny_data.title
    assert answer_text("seq_recovery", [1, 2, 3], tiny_data) == f"{title(1)}, {title(2)}, {title(3)}."
    assert answer_text("residual_id", [3], tiny_data) == f"{title(3)}."
    assert answer_text("next_item", [4], tiny_data) == f"{title(4)}."
    assert answer_text("description", [1, 2], tiny_data).endswith(".")
    assert answer_text("seq_recovery", [], tiny_data) == ""


def test_answer_size_follows_the_target_kind(tiny_instances):
    sizes = {task: answer_size(insts[0], WINDOW) for task, insts in tiny_instances.test.items()}
    assert sizes == {"seq_recovery": WINDOW, "description": WINDOW, "residual_id": 1, "next_item": 1}


def test_a_new_task_with_known_fields_works_unchanged(tmp_path, monkeypatch, tiny_data):
    """A task file the baselines never heard of: the format comes from its doc_to_target template."""
    folder = tmp_path / "tasks"
    folder.mkdir()
    text = (tasks_dir() / "versions" / "next_item-v1.yaml").read_text()  # the true next item
    text = text.replace("task: next_item", "task: what_next").replace(
        '" {{next_title}}."', '" It is {{next_title}}!"'
    )
    (folder / "what_next.yaml").write_text(text)
    monkeypatch.setenv("RECBENCH_INCLUDE_PATH", str(folder))  # searched after the built-in tasks
    from recbench.data import make_windows

    inst = build_instances(load_task("what_next"), make_windows(tiny_data, WINDOW)[:3], tiny_data)[0]
    assert inst.target.startswith("It is ") and inst.target.endswith("!")
    assert answer_size(inst, WINDOW) == 1
    assert answer_text("what_next", inst.target_items, tiny_data) == inst.target
