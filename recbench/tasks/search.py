"""Where task files are found: the built-in tasks shipped in the package, then the user's folders.

The search path is the built-in folder (``recbench/tasks/builtin/``, package data), then every
folder given with ``--include-path`` (:func:`set_include_paths`), then every folder in
``$RECBENCH_INCLUDE_PATH`` (``os.pathsep``-separated), as lm-eval's ``--include_path``. Include
folders are searched recursively for ``*.yaml`` / ``*.yml``. A task's name is its ``task:`` field
(the file's stem when the file has none); two files that claim one name are refused, naming both,
rather than one silently shadowing the other.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import yaml

from recbench.errors import ConfigError

ENV = "RECBENCH_INCLUDE_PATH"
SUFFIXES = (".yaml", ".yml")
_given: tuple[str, ...] = ()  # what set_include_paths last put in front of $RECBENCH_INCLUDE_PATH


def builtin_tasks_dir() -> Path:
    """The folder of the built-in task YAMLs inside the installed package."""
    from recbench.resources import package_path

    return package_path("tasks", "builtin")


def set_include_paths(paths: Iterable[str | os.PathLike] | None) -> None:
    """Search these folders for tasks too, after the built-ins (what ``--include-path`` calls).

    Process-wide: it replaces the folders an earlier call gave and puts them in front of
    ``$RECBENCH_INCLUDE_PATH`` in ``os.environ``, so processes this one starts (the ``--num-processes``
    ranks) search the same folders. Each folder is checked now: it must exist and hold task files.
    """
    global _given
    folders = [str(_checked(Path(p))) for p in paths or ()]
    rest = [p for p in _split(os.environ.get(ENV, "")) if p not in _given]
    _given = tuple(folders)
    value = os.pathsep.join(dict.fromkeys([*folders, *rest]))
    if value:
        os.environ[ENV] = value
    else:
        os.environ.pop(ENV, None)


def include_paths() -> list[Path]:
    """The user's task folders, in search order (``--include-path`` ones, then the environment's), checked."""
    return [_checked(Path(p)) for p in dict.fromkeys(_split(os.environ.get(ENV, "")))]


def search_path() -> tuple[str, ...]:
    """Built-in folder and include folders as given, unchecked: a key for caches of task lookups."""
    return (str(builtin_tasks_dir()), *dict.fromkeys(_split(os.environ.get(ENV, ""))))


def task_files() -> dict[str, Path]:
    """``{task name: file}`` over the built-ins, then the include paths; a name claimed twice is an error."""
    builtin = builtin_tasks_dir()
    found = _yaml_files(builtin, recursive=False)
    if not found:
        raise ConfigError(
            f"{builtin}: no built-in task files (*.yaml); recbench's package data is missing, reinstall it"
        )
    for folder in include_paths():
        found += _yaml_files(folder, recursive=True)
    names: dict[str, Path] = {}
    for path in found:
        name = task_name(path)
        if name in names:
            if names[name] == path:  # one folder reached twice (e.g. nested include paths)
                continue
            raise ConfigError(
                f"two task files define task '{name}': {names[name]} and {path}; rename one (its task: field)"
            )
        names[name] = path
    return names


def task_name(path: Path) -> str:
    """The file's ``task:`` field, or its stem when it has none (or is not valid YAML: loading says why)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return path.stem
    if isinstance(raw, dict) and isinstance(raw.get("task"), str) and raw["task"].strip():
        return raw["task"].strip()
    return path.stem


def _checked(folder: Path) -> Path:
    folder = folder.expanduser()
    if not folder.exists():
        raise ConfigError(f"include path {folder} does not exist")
    if not folder.is_dir():
        raise ConfigError(
            f"include path {folder} is not a folder (give the folder that holds the task YAMLs)"
        )
    if not _yaml_files(folder, recursive=True):
        raise ConfigError(f"include path {folder} holds no task files (*.yaml)")
    return folder.resolve()


def _yaml_files(folder: Path, recursive: bool) -> list[Path]:
    if not folder.is_dir():
        return []
    pattern = folder.rglob("*") if recursive else folder.glob("*")
    return sorted(p.resolve() for p in pattern if p.suffix in SUFFIXES and p.is_file())


def _split(value: str) -> list[str]:
    return [p for p in value.split(os.pathsep) if p.strip()]
