"""Tasks: YAML definitions in lm-eval's vocabulary, turned into interpreter instances."""

from recbench.tasks.instances import Instance, build_instances, describe_window
from recbench.tasks.spec import TaskSpec, available_tasks, describe_tasks, load_task, tasks_dir

__all__ = [
    "Instance",
    "TaskSpec",
    "available_tasks",
    "build_instances",
    "describe_tasks",
    "describe_window",
    "load_task",
    "tasks_dir",
]
