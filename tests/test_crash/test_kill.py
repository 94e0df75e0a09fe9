"""kill -9 inside every training stage, then re-runs: each resumes from its last checkpoint, and the
final numbers are an uninterrupted run's; a kill while the run folder is written leaves no half run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from recbench.checkpoint import Checkpointer
from recbench.results import load_results
from recbench.run import evaluate
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = dict(
    dataset="csv", data_dir=str(TINY), rec_epochs=3, window=4, limit=6, steps=5, batch_size=4,
    valid_limit=4, gen_batch_size=4, align_steps=60, tasks=["seq_recovery"],
)  # fmt: skip

# KILL_AT=stage:step kills the run (SIGKILL, as abrupt as kill -9 from outside) when it is about to
# save that checkpoint, so the one before it is the last on disk; "stage:step:midwrite" kills it
# halfway through writing that checkpoint's file; "file:NAME" halfway through writing file NAME.
KILLER = """
import os, signal, sys, json
import torch
torch.set_num_threads(1)
from recbench import cache, progress
from recbench.checkpoint import Checkpointer
progress.set_enabled(False)
where = os.environ.get("KILL_AT", "").split(":")
state = {"midwrite": False}
def die():
    os.kill(os.getpid(), signal.SIGKILL)
save = Checkpointer.save
def save_or_die(self, stage, step, tensors, meta):
    if where[:2] == [stage, str(step)]:
        if where[2:] != ["midwrite"]:
            die()
        state["midwrite"] = True
    save(self, stage, step, tensors, meta)
Checkpointer.save = save_or_die
write_all = cache._write_all
def write_or_die(f, data, path):
    if state["midwrite"] or (where[0] == "file" and path.name == where[1]):
        f.write(data[: len(data) // 2])
        f.flush()
        die()
    write_all(f, data, path)
cache._write_all = write_or_die
from recbench.run import evaluate
evaluate("sasrec", "tiny-random", **json.loads(sys.argv[1]))
"""


def temps(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*.tmp"))


def test_kill_in_every_training_stage_then_resume_gives_identical_numbers(tmp_path, fresh_cache):
    script = tmp_path / "killer.py"
    script.write_text(textwrap.dedent(KILLER))
    runs = tmp_path / "runs"
    kw = {**SETTINGS, "out_dir": str(runs)}
    env = {**os.environ, "RECBENCH_CACHE": str(fresh_cache), "RECBENCH_CHECKPOINT_STEPS": "1"}

    def run(kill_at: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(script), json.dumps(kw)],
            env={**env, "KILL_AT": kill_at},
            cwd=ROOT,
            capture_output=True,
        )

    def last_checkpoint(kind: str):
        (folder,) = (fresh_cache / ".partial" / kind).iterdir()
        saved = Checkpointer(folder).load()
        return saved.stage, saved.step

    # 1. killed in the recommender's training, about to save epoch 2: epoch 1 is on disk
    assert run("epoch:2").returncode == -9
    assert last_checkpoint("recommenders") == ("epoch", 1)
    assert not list(fresh_cache.glob("recommenders/sasrec-*"))
    # 2. resumes the recommender; killed in the middle of writing alignment checkpoint 40: 39 is on disk
    assert run("align:40:midwrite").returncode == -9
    (rec,) = (fresh_cache / "recommenders").iterdir()
    assert json.loads((rec / "config.json").read_text())["history"]["resumed_from_epoch"] == 1
    assert not list(fresh_cache.glob(".partial/recommenders/*"))  # gone with the finished entry
    assert last_checkpoint("interpreters") == ("align", 39)
    (partial,) = (fresh_cache / ".partial" / "interpreters").iterdir()
    assert len(temps(partial)) == 1  # the half-written checkpoint the kill left
    # 3. resumes alignment at 39; killed in end-to-end training about to save step 3: step 2 is on disk
    assert run("train:3").returncode == -9
    assert last_checkpoint("interpreters") == ("train", 2)
    assert temps(partial) == []  # the dead process's temp file was swept by the next writer there
    # 4. resumes training at step 2 and finishes; killed while results.json is being written
    assert run("file:results.json").returncode == -9
    assert [
        p.name for p in runs.iterdir() if not p.name.startswith(".")
    ] == []  # no run folder, not half of one
    (entry,) = (fresh_cache / "interpreters").iterdir()
    training = json.loads((entry / "training.json").read_text())
    assert (training["resumed_from_stage"], training["resumed_from_step"]) == ("train", 2)
    assert not list(fresh_cache.glob(".partial/interpreters/*"))
    # 5. everything is cached; the run folder is written whole, the half one swept
    finished = run("")
    assert finished.returncode == 0, finished.stderr.decode()[-3000:]
    (folder,) = runs.iterdir()
    resumed = load_results(folder)
    assert resumed["interpreter"]["training"]["from_cache"] and resumed["recommender"]["from_cache"]
    assert temps(fresh_cache) == [] and temps(runs) == []

    # an uninterrupted run, in a fresh cache and with the default checkpoint interval: the same numbers
    os.environ["RECBENCH_CACHE"] = str(tmp_path / "clean-cache")
    try:
        clean = evaluate("sasrec", "tiny-random", **{**kw, "out_dir": str(tmp_path / "clean")})
    finally:
        os.environ["RECBENCH_CACHE"] = str(fresh_cache)
    assert clean["tasks"] == resumed["tasks"]
    assert clean["recommender"]["checkpoint_sha256"] == resumed["recommender"]["checkpoint_sha256"]
    uninterrupted = clean["interpreter"]["training"]
    for key in ("align_loss", "align_token_accuracy", "train_loss_first", "train_loss_last", "valid_loss"):
        assert uninterrupted[key] == training[key], key
    assert "resumed_from_step" not in uninterrupted
