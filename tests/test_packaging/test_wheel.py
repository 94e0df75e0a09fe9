"""The wheel: built from this checkout, installed (not editable) in a fresh venv, used from another folder.

Everything read at run time is package data, so the installed wheel lists the four tasks, runs a
baseline on ML-100K with the committed SASRec (no training), builds the leaderboard from the committed
submissions, and reports no git state although its venv sits inside another git repository.

The venv gets recbench from the wheel only; its dependencies come from the environment running these
tests, through a ``.pth`` line (a plain path: that environment's own ``.pth`` files, such as an
editable recbench's import hook, are not run, so nothing shadows the wheel; checked below).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SUBMISSIONS = ROOT / "leaderboard" / "submissions"
TASKS = ["description", "next_item", "residual_id", "seq_recovery"]
COMMITTED_SASREC = "sasrec-937d03a97909dab2"  # recbench/pretrained/recommenders/: SASRec on ML-100K, seed 0


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    python: Path
    recbench: Path  # the console script the wheel installed
    work: Path  # the current folder for every command: outside the checkout
    cache: Path  # RECBENCH_CACHE, empty at the start
    env: dict


def sh(*cmd, cwd: Path | None = None, env: dict | None = None, timeout: int = 600) -> str:
    out = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == 0, (
        f"{' '.join(map(str, cmd))} exited {out.returncode}:\n{out.stdout}\n{out.stderr}"
    )
    return out.stdout


def git(folder: Path, *args: str) -> str:
    return sh("git", "-c", "user.name=t", "-c", "user.email=t@t", *args, cwd=folder)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    tmp = tmp_path_factory.mktemp("wheel")
    # Build from a copy of what a wheel is made of, so no build/ or egg-info lands in the shared checkout.
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "recbench", src / "recbench", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    dist = tmp / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    sh(*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", dist, src)
    (wheel,) = dist.glob("recbench-*.whl")

    # Another project's git work tree that holds the venv (as when a venv is kept inside a repository).
    home = tmp / "other-project"
    home.mkdir()
    git(home, "init", "-q")
    git(home, "commit", "-q", "--allow-empty", "-m", "another project")
    venv = home / "venv"
    sh(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    paths = json.loads(sh(python, "-c", "import json, sysconfig; print(json.dumps(sysconfig.get_paths()))"))
    deps = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (Path(paths["purelib"]) / "_recbench_test_deps.pth").write_text("".join(f"{p}\n" for p in deps))
    sh(*pip, "--python", python, "install", "--no-deps", "--no-index", wheel)

    work = home / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECBENCH_", "PYTHON", "VIRTUAL_ENV"))}
    cache = tmp / "cache"
    env.update(RECBENCH_CACHE=str(cache), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.update(OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")  # one thread: steady on a busy CPU
    return Installed(wheel, venv, python, Path(paths["scripts"]) / "recbench", work, cache, env)


def recbench(inst: Installed, *args: str) -> str:
    return sh(inst.recbench, "--quiet", *args, cwd=inst.work, env=inst.env)


def python(inst: Installed, code: str) -> str:
    return sh(inst.python, "-c", code, cwd=inst.work, env=inst.env)


def test_wheel_holds_the_package_data_and_no_other_top_level_package(installed):
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    top = {name.split("/")[0] for name in names}
    assert top == {"recbench", installed.wheel.name.split("-py")[0] + ".dist-info"}  # no top-level baselines
    for folder in ("tasks/builtin", "leaderboard/templates", "pretrained", "baselines"):
        shipped = {
            p.relative_to(ROOT).as_posix()
            for p in (ROOT / "recbench" / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        }
        assert shipped and shipped <= names, sorted(shipped - names)
    assert {f"recbench/tasks/builtin/{t}.yaml" for t in TASKS} <= names
    assert "recbench/tasks/builtin/versions/description-v1.yaml" in names  # earlier versions ship too
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = zipfile.ZipFile(installed.wheel).read(entry_points).decode()
    assert "popular = recbench.baselines.popular_titles:PopularTitles" in text
    assert "= baselines." not in text


def test_the_installed_wheel_is_what_runs(installed):
    found = json.loads(
        python(
            installed,
            "import json, recbench\n"
            "from recbench.cache import pretrained_dir\n"
            "from recbench.leaderboard.site import TEMPLATES\n"
            "from recbench.tasks import tasks_dir\n"
            "print(json.dumps([recbench.__file__, str(tasks_dir()), str(TEMPLATES), str(pretrained_dir())]))",
        )
    )
    site = installed.venv.resolve()
    for path in found:
        assert Path(path).resolve().is_relative_to(site), path
    # the committed pretrained files arrived intact (PROVENANCE.json holds their sha256)
    layer = Path(found[3])
    provenance = json.loads((layer / "PROVENANCE.json").read_text())
    for name, digest in provenance["files"].items():
        assert hashlib.sha256((layer / name).read_bytes()).hexdigest() == digest, name


def test_ls_tasks_from_another_folder(installed, tmp_path):
    listed = recbench(installed, "ls", "tasks")
    assert [line.split()[0] for line in listed.splitlines()[1:] if line[:1].strip()] == TASKS
    mine = tmp_path / "my-tasks"
    mine.mkdir()
    text = (ROOT / "recbench" / "tasks" / "builtin" / "next_item.yaml").read_text()
    (mine / "what_next.yaml").write_text(text.replace("task: next_item", "task: what_next"))
    assert "what_next" in recbench(installed, "ls", "tasks", "--include-path", str(mine))


@pytest.fixture(scope="module")
def popular_run(installed) -> dict:
    """A baseline on ML-100K from the installed wheel, with an empty cache."""
    assert not installed.cache.exists()
    args = [
        "--interpreter",
        "popular",
        "--limit",
        "5",
        "--tasks",
        "seq_recovery",
        "--threads",
        "1",
        "--out",
        "runs",
    ]
    printed = recbench(installed, "run", *args)
    (results,) = (installed.work / "runs").glob("*/results.json")
    return {"printed": printed, "results": json.loads(results.read_text())}


def test_run_from_another_folder_uses_the_committed_sasrec(installed, popular_run):
    results = popular_run["results"]
    assert results["dataset"]["name"] == "ml-100k" and list(results["tasks"]) == ["seq_recovery"]
    assert results["tasks"]["seq_recovery"]["n"] == 5
    # loaded, not trained: found in the wheel's pretrained layer, since the run's cache had no such entry
    assert results["recommender"]["from_cache"] is True
    assert not (installed.cache / "recommenders").exists()
    provenance = json.loads((ROOT / "recbench" / "pretrained" / "PROVENANCE.json").read_text())
    committed = provenance["files"][f"recommenders/{COMMITTED_SASREC}/model.safetensors"]
    assert results["recommender"]["checkpoint_sha256"] == committed


def test_results_record_no_git_state_of_an_enclosing_repository(installed, popular_run):
    # the venv sits inside another project's git work tree; the wheel is not a source checkout
    assert popular_run["results"]["recbench"]["git_commit"] is None
    assert popular_run["results"]["recbench"]["git_dirty"] is None
    state = python(
        installed, "import json; from recbench.provenance import git_state; print(json.dumps(git_state()))"
    )
    assert json.loads(state) == {"git_commit": None, "git_dirty": None}


def test_leaderboard_build_from_another_folder(installed):
    printed = recbench(installed, "leaderboard", "build", "--submissions", str(SUBMISSIONS), "--out", "site")
    assert printed.startswith("built ") and (installed.work / "site" / "index.html").is_file()
    assert "<table" in (installed.work / "site" / "index.html").read_text()
