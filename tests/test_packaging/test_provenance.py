"""recbench.provenance.git_state: a commit and dirty flag only for recbench's own source checkout."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import recbench
from recbench.provenance import git_state

UNKNOWN = {"git_commit": None, "git_dirty": None}


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=folder, check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


def repository(root: Path, project: str | None) -> Path:
    """A git work tree with a committed ``recbench/`` package folder and (optionally) a pyproject naming ``project``."""
    package = root / "recbench"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    if project is not None:
        (root / "pyproject.toml").write_text(
            f'[build-system]\nrequires = []\n\n[project]\nname = "{project}"\n'
        )
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "init")
    return package


def test_this_checkout_reports_its_commit():
    root = Path(recbench.__file__).resolve().parents[1]
    if not (root / ".git").exists():
        pytest.skip("recbench is not imported from a git checkout here")
    state = git_state()
    assert re.fullmatch(r"[0-9a-f]{40}", state["git_commit"]) and isinstance(state["git_dirty"], bool)
    assert state["git_commit"] == git(root, "rev-parse", "HEAD")


def test_a_source_checkout_of_recbench(tmp_path):
    package = repository(tmp_path / "src", "recbench")
    state = git_state(package)
    assert state == {"git_commit": git(tmp_path / "src", "rev-parse", "HEAD"), "git_dirty": False}
    (package / "new.py").write_text("x = 1\n")
    assert git_state(package)["git_dirty"] is True


@pytest.mark.parametrize("project", [None, "other-project"])
def test_another_repository_is_not_recbench(tmp_path, project):
    # site-packages inside some project's work tree (a venv kept in the repository), or another project
    assert git_state(repository(tmp_path / "repo", project)) == UNKNOWN


def test_a_subfolder_of_a_repository_is_not_its_top_level(tmp_path):
    outer = tmp_path / "outer"
    outer.mkdir()
    package = repository(outer / "lib" / "site-packages", "recbench").parent / "recbench"
    # pyproject.toml names recbench, but the work tree's top level is further up (no .git of its own)
    shutil.rmtree(package.parent / ".git")
    git(outer, "init", "-q")
    git(outer, "add", ".")
    git(outer, "commit", "-q", "-m", "outer")
    assert git_state(package) == UNKNOWN


def test_no_git_repository(tmp_path):
    package = tmp_path / "recbench"
    package.mkdir()
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "recbench"\n')
    assert git_state(package) == UNKNOWN
