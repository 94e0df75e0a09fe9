"""Tasks: YAML definitions in lm-eval's vocabulary, turned into interpreter instances.

Built-in tasks ship in ``recbench/tasks/builtin/``; user tasks come from include paths
(``--include-path`` / :func:`set_include_paths`, and ``$RECBENCH_INCLUDE_PATH``), see :mod:`.search`.
"""

from recbench.tasks.instances import Instance, build_instances, describe_window
from recbench.tasks.search import include_paths, search_path, set_include_paths, task_files
from recbench.tasks.spec import TaskSpec, available_tasks, describe_tasks, load_task, tasks_dir

__all__ = [
    "Instance",
    "TaskSpec",
    "available_tasks",
    "build_instances",
    "describe_tasks",
    "describe_window",
    "include_paths",
    "load_task",
    "search_path",
    "set_include_paths",
    "task_files",
    "tasks_dir",
]
