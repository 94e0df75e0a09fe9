"""Data-parallel adapter training on 2 CPU processes (gloo): identical weights on both ranks, equal to a
one-process training on the same global batches, bit-identical from run to run; a failing rank ends
both ranks promptly with one line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from recbench.errors import ConfigError
from recbench.interpreters.data_parallel import DataParallel
from recbench.interpreters.llm import LLMInterpreter
from recbench.run.spec import RunSpec

ROOT = Path(__file__).resolve().parents[2]

# One rank (or the single process when WORLD_SIZE is unset): train a per-position adapter on the tiny
# random LLM for a few steps, write its weights and losses. FAIL_AT=step makes rank 1 raise there;
# CHECKPOINT=folder checkpoints every step (rank 0 writes) and resumes from the one found there; LORA=1
# trains LoRA weights too (their gradients are summed with the adapter's).
TRAINER = """
import datetime as dt, json, os, sys
import torch
torch.set_num_threads(1)
from safetensors.torch import save_file
from recbench.adapters.per_position import PerPositionAdapter
from recbench.errors import RecbenchError
from recbench.interpreters import data_parallel
from recbench.interpreters.soft_prompt import PromptExample, SoftPromptModel
from recbench.llms import load_llm

out, precision, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
world = int(os.environ.get("WORLD_SIZE", "1"))
if world > 1:
    import torch.distributed as dist
    dist.init_process_group("gloo", timeout=dt.timedelta(minutes=10))
dp = data_parallel.current(world)
fail_at = int(os.environ.get("FAIL_AT", "0"))
llm = load_llm("tiny-random", "cpu")
torch.manual_seed(0)
lora = {"r": 4, "alpha": 8, "dropout": 0.0} if os.environ.get("LORA") else None
model = SoftPromptModel(llm, PerPositionAdapter(16, llm.hidden_size, 4), train_precision=precision, lora=lora)
g = torch.Generator().manual_seed(1)
titles = ["Toy Story", "Heat", "Casino (1995)", "Fargo", "Babe", "Clueless", "Jumanji", "Sabrina"]
prompts = ["Seen: <rec_emb>. Next?", "Seen: <rec_emb>. Which titles?", "Watched <rec_emb>"]
examples = [PromptExample(prompts[i % 3], [torch.randn(4, 16, generator=g)], titles[i % 8] * (1 + i % 2))
            for i in range(14)]
if fail_at and dp.rank == 1:
    real = model._loss_sum
    calls = [0]
    def loss_sum(batch):
        calls[0] += 1
        if calls[0] == fail_at:
            raise RecbenchError("rank 1 met a bad batch")
        return real(batch)
    model._loss_sum = loss_sum
checkpoint = saved = None
if os.environ.get("CHECKPOINT"):
    from recbench.checkpoint import Checkpointer
    checkpoint = Checkpointer(os.environ["CHECKPOINT"], every_steps=1, writes=dp.rank == 0)
    saved = checkpoint.load()
    dp.barrier()
try:
    history = model.fit(examples, examples[:5], steps=steps, batch_size=5, lr=1e-2, weight_decay=1e-3,
                        seed=3, warmup=1, data_parallel=dp, checkpoint=checkpoint, resume=saved)
except RecbenchError as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(2)
rank = dp.rank
save_file(model.adapter_state(), f"{out}/rank{rank}.safetensors")
with open(f"{out}/rank{rank}.json", "w") as f:
    json.dump({"train_loss": history["train_loss"], "valid_loss": history["valid_loss"]}, f)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def train(out: Path, world: int, precision: str = "fp32", steps: int = 3, env: dict | None = None):
    """Run TRAINER in ``world`` processes (1: no process group); each rank's completed process."""
    out.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    procs = []
    for rank in range(world):
        ranks = {
            "RANK": str(rank),
            "WORLD_SIZE": str(world),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }
        child = {k: v for k, v in os.environ.items() if k not in ranks}
        child.update({**(ranks if world > 1 else {}), "OMP_NUM_THREADS": "1", **(env or {})})
        cmd = ["nice", "-n", "10", sys.executable, "-c", TRAINER, str(out), precision, str(steps)]
        procs.append(
            subprocess.Popen(
                cmd, cwd=ROOT, env=child, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    done = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)  # a hang fails the test instead of blocking it
        done.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return done


def weights(out: Path, rank: int) -> dict[str, torch.Tensor]:
    return load_file(str(out / f"rank{rank}.safetensors"))


def losses(out: Path, rank: int) -> dict:
    return json.loads((out / f"rank{rank}.json").read_text())


def test_shards_are_contiguous_blocks_that_cover_the_batch():
    batch = list(range(7))
    shards = [DataParallel(r, 3).shard(batch) for r in range(3)]
    assert shards == [[0, 1], [2, 3], [4, 5, 6]]
    assert DataParallel(1, 4).shard([9, 8]) == [9] and DataParallel(0, 4).shard([9, 8]) == []
    assert DataParallel().shard(batch) is batch


@pytest.mark.slow
@pytest.mark.parametrize("lora", [False, True], ids=["adapter", "adapter+lora"])
def test_two_ranks_train_the_one_process_adapter(tmp_path, lora):
    for run in (tmp_path / "one", tmp_path / "two"):
        for proc in train(run, 1 if run.name == "one" else 2, env={"LORA": "1"} if lora else None):
            assert proc.returncode == 0, proc.stderr[-2000:]
    one, two = tmp_path / "one", tmp_path / "two"
    w0, w1, ref = weights(two, 0), weights(two, 1), weights(one, 0)
    assert w0.keys() == ref.keys() and any(k.startswith("lora.") for k in ref) == lora
    for k in ref:
        assert torch.equal(w0[k], w1[k]), f"{k}: ranks differ"  # (a) identical on both ranks
        # summation order differs (shards, length groups), and Adam scales up tiny gradients
        assert torch.allclose(w0[k], ref[k], rtol=1e-4, atol=2e-5), f"{k}: {(w0[k] - ref[k]).abs().max()}"
        assert ref[k].abs().sum() > 0  # LoRA B starts at zero: it trained
    # (b) the global loss of each step, and the valid loss, are the one process's
    l0, l1, lref = losses(two, 0), losses(two, 1), losses(one, 0)
    assert l0 == l1
    assert l0["train_loss"] == pytest.approx(lref["train_loss"], rel=1e-5)
    assert l0["valid_loss"] == pytest.approx(lref["valid_loss"], rel=1e-5)
    assert lref["train_loss"][-1] < lref["train_loss"][0]


@pytest.mark.slow
def test_two_rank_training_is_bit_identical_run_to_run(tmp_path):
    for run in (tmp_path / "a", tmp_path / "b"):
        for proc in train(run, 2, precision="bf16"):
            assert proc.returncode == 0, proc.stderr[-2000:]
    a, b = weights(tmp_path / "a", 0), weights(tmp_path / "b", 0)
    assert all(torch.equal(a[k], b[k]) and torch.equal(a[k], weights(tmp_path / "b", 1)[k]) for k in a)
    assert losses(tmp_path / "a", 0) == losses(tmp_path / "b", 0)


@pytest.mark.slow
def test_a_failing_rank_ends_both_ranks_with_one_line_and_the_rerun_resumes(tmp_path):
    ckpt = {"CHECKPOINT": str(tmp_path / "checkpoint")}
    rank0, rank1 = train(tmp_path / "killed", 2, "bf16", steps=4, env={"FAIL_AT": "3", **ckpt})
    assert rank1.returncode == 2 and rank1.stderr.strip() == "error: rank 1 met a bad batch"
    # rank 0 was inside the step's all-reduce: it stops too, in one line naming where the cause is
    assert rank0.returncode == 2, rank0.stderr[-2000:]
    line = rank0.stderr.strip()
    assert "\n" not in line
    assert line.startswith("error: rank 0 of 2: another rank of the data-parallel training stopped")
    # both ranks resume from rank 0's last checkpoint (step 2) and end with an uninterrupted run's bits
    for proc in train(tmp_path / "resumed", 2, "bf16", steps=4, env=ckpt):
        assert proc.returncode == 0, proc.stderr[-2000:]
    for proc in train(tmp_path / "whole", 2, "bf16", steps=4):
        assert proc.returncode == 0, proc.stderr[-2000:]
    resumed, whole = weights(tmp_path / "resumed", 1), weights(tmp_path / "whole", 0)
    assert all(torch.equal(resumed[k], whole[k]) for k in whole)
    assert losses(tmp_path / "resumed", 0) == losses(tmp_path / "whole", 0)


SUBMISSIONS = ROOT / "leaderboard" / "submissions"


def test_one_process_run_ids_are_unchanged_and_two_differ():
    claimed = [json.loads(p.read_text()) for p in sorted(SUBMISSIONS.glob("*/*/results.json"))]
    assert claimed
    for results in claimed:  # recorded before the setting existed: one-process training
        spec = RunSpec.from_dict(results["config"])
        assert spec.train_processes == 1 and spec.run_id() == results["run_id"]
        two = RunSpec.from_dict({**results["config"], "train_processes": 2})
        assert two.run_id() != results["run_id"] and RunSpec.from_dict(two.to_dict()) == two
    assert RunSpec.resolve("fast").run_id() == RunSpec.resolve("fast", train_processes=1).run_id()
    assert RunSpec.resolve("fast", interpreter="popular", train_processes=2).train_processes == 1
    with pytest.raises(ConfigError, match="train-processes must be at least 1"):
        RunSpec.resolve("fast", train_processes=0)


def test_interpreter_identity_names_the_process_count_only_above_one():
    assert "train_processes" not in LLMInterpreter().identity()
    assert LLMInterpreter(train_processes=2).identity()["train_processes"] == 2
