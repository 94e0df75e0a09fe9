"""Which source a run came from: the git commit and dirty flag, only when recbench runs from its own checkout.

An installed wheel has no git state of its own. Asking git from site-packages would report whatever
repository happens to enclose the environment (a project that keeps its venv inside its work tree),
so :func:`git_state` answers only when the imported package sits in a git work tree whose top level
is this project (a ``pyproject.toml`` naming the project ``recbench``), and ``None`` otherwise.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

PROJECT = "recbench"
UNKNOWN = {"git_commit": None, "git_dirty": None}
_NAME = re.compile(r'^\s*name\s*=\s*["\']([^"\']+)["\']', re.M)


def git_state(package_dir: Path | None = None) -> dict:
    """``{"git_commit": sha, "git_dirty": bool}`` for a source checkout, else both ``None``.

    ``package_dir`` is the imported ``recbench`` package folder (the default); a test may point it
    elsewhere.
    """
    package = Path(package_dir) if package_dir is not None else Path(__file__).resolve().parent
    root = package.resolve().parent
    if not _is_this_project(root / "pyproject.toml"):
        return dict(UNKNOWN)
    try:
        top = _git(root, "rev-parse", "--show-toplevel")
        if top.returncode != 0 or Path(top.stdout.strip()).resolve() != root:
            return dict(UNKNOWN)
        commit = _git(root, "rev-parse", "HEAD")
        status = _git(root, "status", "--porcelain")
    except (OSError, subprocess.TimeoutExpired):
        return dict(UNKNOWN)
    if commit.returncode != 0 or status.returncode != 0:
        return dict(UNKNOWN)
    return {"git_commit": commit.stdout.strip(), "git_dirty": bool(status.stdout.strip())}


def _is_this_project(pyproject: Path) -> bool:
    """Whether ``pyproject.toml``'s ``[project]`` table names this project."""
    try:
        text = pyproject.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    try:
        import tomllib  # Python 3.11+
    except ModuleNotFoundError:  # 3.10: the [project] table's name line is enough
        section = text.split("[project]", 1)[1].split("\n[", 1)[0] if "[project]" in text else ""
        match = _NAME.search(section)
        return bool(match) and match.group(1) == PROJECT
    try:
        return tomllib.loads(text).get("project", {}).get("name") == PROJECT
    except tomllib.TOMLDecodeError:
        return False


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
