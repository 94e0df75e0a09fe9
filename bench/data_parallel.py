"""Data-parallel adapter training: seconds per training step in 1 and in N local processes (gloo).

For each LLM, trains the fast profile's adapter (MLP, 12 soft tokens per window position, 5
positions) on 16 ``seq_recovery``-like prompts per global batch, bf16 training as the default, in 1
process and in N processes (``recbench.interpreters.data_parallel``: each rank takes a contiguous
block of every batch, gradients all-reduced), every process with ``--threads`` torch threads. The
step time is rank 0's median over the steps after the first (the first pays one-time allocations and
the prompt prefix). The per-step losses of 1 and N processes are printed beside each other (equal up to
summation order in fp32; bf16 rounds each rank's smaller batch differently). Prints one JSON object on
its last line.

    .venv/bin/python bench/data_parallel.py [--llms tiny-random,smollm2-135m] [--steps 4] [--processes 2]
                                            [--threads 1] [--precision bf16|fp32]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = " Star Wars (1977), Fargo (1996), Contact (1997), Scream (1996), Liar Liar (1997)."


def worker(llm_name: str, steps: int, out: str, precision: str) -> None:
    """One rank (or the one process): train ``steps`` steps, rank 0 writes its step times and losses."""
    import torch

    from recbench.adapters.mlp import MLPAdapter
    from recbench.interpreters import data_parallel
    from recbench.interpreters.soft_prompt import PromptExample, SoftPromptModel
    from recbench.llms import load_llm

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        import torch.distributed as dist

        dist.init_process_group("gloo", timeout=dt.timedelta(minutes=30))
    dp = data_parallel.current(world)
    llm = load_llm(llm_name, "cpu")
    torch.manual_seed(0)
    adapter = MLPAdapter(64, llm.hidden_size, 5, hidden=640, tokens_per_item=12)
    model = SoftPromptModel(llm, adapter, train_precision=precision)
    gen = torch.Generator().manual_seed(0)
    prompts = ["<rec_emb>\nThis user has watched", "<rec_emb>\nWhich movies did this user watch?"]
    examples = [
        PromptExample(prompts[i % 2], [torch.randn(5, 64, generator=gen)], TARGET[: 40 + 3 * i])
        for i in range(64)
    ]
    stamps: dict[int, float] = {}

    def progress(done: int, _total: int, _loss: float) -> None:
        stamps[done] = time.perf_counter()

    history = model.fit(
        examples, None, steps=steps, batch_size=16, lr=1e-3, weight_decay=1e-6, seed=0, warmup=1,
        progress=progress, data_parallel=dp,
    )  # fmt: skip
    if dp.rank == 0:
        times = [stamps[s + 1] - stamps[s] for s in range(1, steps)]
        info = {"step_seconds": sorted(times)[len(times) // 2], "losses": history["train_loss"]}
        Path(out).write_text(json.dumps(info))


def run(llm: str, world: int, steps: int, threads: int, precision: str) -> dict:
    """Start ``world`` copies of this script as ranks; rank 0's figures."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rank0.json"
        procs = []
        for rank in range(world):
            env = {**os.environ, "OMP_NUM_THREADS": str(threads), "RECBENCH_THREADS": str(threads)}
            if world > 1:
                env.update(
                    RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
                )
            cmd = [sys.executable, __file__, "--worker", llm, "--steps", str(steps), "--out", str(out)]
            cmd += ["--precision", precision]
            procs.append(subprocess.Popen(cmd, env=env))
        start = time.perf_counter()
        codes = [p.wait() for p in procs]
        if any(codes):
            raise SystemExit(f"{llm} with {world} processes failed: exit codes {codes}")
        info = json.loads(out.read_text())
    return {**info, "wall_seconds": round(time.perf_counter() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--llms", default="tiny-random,smollm2-135m")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--precision", default="bf16", choices=["bf16", "fp32"], help="train_precision")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        import torch

        torch.set_num_threads(int(os.environ.get("RECBENCH_THREADS", "1")))
        worker(args.worker, args.steps, args.out, args.precision)
        return
    if args.steps < 2:
        raise SystemExit("--steps must be at least 2 (the first step is not timed)")
    load = os.getloadavg()[0]
    result: dict = {"bench": "data_parallel", "threads_per_process": args.threads, "precision": args.precision, "cpus": os.cpu_count(),
                    "load_average_before": round(load, 2), "llms": {}}  # fmt: skip
    for llm in [s.strip() for s in args.llms.split(",") if s.strip()]:
        one = run(llm, 1, args.steps, args.threads, args.precision)
        many = run(llm, args.processes, args.steps, args.threads, args.precision)
        row = {
            "step_seconds_1": round(one["step_seconds"], 3),
            f"step_seconds_{args.processes}": round(many["step_seconds"], 3),
            "speedup": round(one["step_seconds"] / many["step_seconds"], 2),
            "losses_1": [round(x, 5) for x in one["losses"]],
            f"losses_{args.processes}": [round(x, 5) for x in many["losses"]],
        }
        result["llms"][llm] = row
        print(f"{llm}: {row}")
    result["load_average_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
