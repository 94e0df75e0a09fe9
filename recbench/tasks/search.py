"""Where task files are found: the built-in tasks shipped in the package, then the user's folders.

The search path is the built-in folder (``recbench/tasks/builtin/``, package data), then every
folder given with ``--include-path`` (:func:`set_include_paths`), then every folder in
``$RECBENCH_INCLUDE_PATH`` (``os.pathsep``-separated), as lm-eval's ``--include_path``. Include
folders are searched recursively for ``*.yaml`` / ``*.yml``. A task's name is its ``task:`` field
(the file's stem when the file has none) and its version its ``metadata.version``.

Several versions of a task coexist: a task is the set of files that claim its name, one per version,
and its name alone means its latest version. The built-in folder holds each task's latest version
(``builtin/<name>.yaml``) and its earlier ones (``builtin/versions/<name>-v<N>.yaml``), so a run
recorded with an earlier version is still re-derived, re-scored and verified with that version's
definition. Two files that claim one name and one version are refused, naming both, and so are
versions of one task spread over two folders (the built-ins and an include path, or two include
paths): one never silently shadows the other.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import yaml

from recbench.errors import ConfigError

ENV = "RECBENCH_INCLUDE_PATH"
VERSIONS = "versions"  # builtin/versions/: the built-in tasks' earlier versions
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
    """``{task name: file of its latest version}`` over the built-ins, then the include paths."""
    return {name: versions[max(versions)] for name, versions in task_versions().items()}


def task_versions() -> dict[str, dict[int, Path]]:
    """``{task name: {version: file}}`` over the built-ins, then the include paths (see the module doc).

    A name claimed twice at one version, or at versions found under two different folders of the
    search path, is a :class:`ConfigError` naming both files.
    """
    builtin = builtin_tasks_dir()
    found = [(builtin, p) for p in _yaml_files(builtin, recursive=False)]
    if not found:
        raise ConfigError(
            f"{builtin}: no built-in task files (*.yaml); recbench's package data is missing, reinstall it"
        )
    found += [(builtin, p) for p in _yaml_files(builtin / VERSIONS, recursive=False)]
    for folder in include_paths():
        found += [(folder, p) for p in _yaml_files(folder, recursive=True)]
    tasks: dict[str, dict[int, Path]] = {}
    roots: dict[str, tuple[Path, Path]] = {}  # name -> (search folder, first file) of its versions
    for root, path in found:
        name, version = task_header(path)
        versions = tasks.setdefault(name, {})
        first = roots.setdefault(name, (root, path))
        if versions.get(version) == path:  # one folder reached twice (e.g. nested include paths)
            continue
        if version in versions or first[0] != root:
            other = versions.get(version, first[1])
            raise ConfigError(
                f"two task files define task '{name}': {other} and {path}; rename one (its task: field)"
            )
        versions[version] = path
    return tasks


def task_name(path: Path) -> str:
    """The file's ``task:`` field, or its stem when it has none (or is not valid YAML: loading says why)."""
    return task_header(path)[0]


def task_header(path: Path) -> tuple[str, int]:
    """``(task name, version)`` of a task file: its ``task:`` field (else its stem) and its
    ``metadata.version`` (0 when it has none or the file is not valid YAML: loading says why)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return path.stem, 0
    if not isinstance(raw, dict):
        return path.stem, 0
    name = raw["task"].strip() if isinstance(raw.get("task"), str) and raw["task"].strip() else path.stem
    meta = raw.get("metadata")
    version = meta.get("version") if isinstance(meta, dict) else None
    ok = isinstance(version, int) and not isinstance(version, bool) and version >= 1
    return name, version if ok else 0


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
