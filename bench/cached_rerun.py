"""A fully cached re-run of ``evaluate`` vs the cold run that filled the caches.

tiny-random LLM + the tiny test dataset (tests/fixtures/tiny), all four tasks, the fast profile's
adapter training (alignment warm start and end-to-end steps), in a fresh cache. Timed: the cold run,
then the same call again in the same process (everything cached: recommender, adapter, generations),
then the same run as a new process (``recbench run``, also fully cached: imports and loads included). Prints
per-stage timings, peak memory and the ratios as one JSON object on its last line.

    .venv/bin/python bench/cached_rerun.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import PeakRSS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "fixtures" / "tiny"
TARGET = 50.0
SETTINGS = dict(dataset="csv", data_dir=str(TINY), window=4, limit=20)  # the rest: the fast profile


def main() -> None:
    threads = int(os.environ.get("BENCH_THREADS", "1"))
    torch.set_num_threads(threads)
    os.environ["RECBENCH_CACHE"] = tempfile.mkdtemp(prefix="recbench-bench-cache-")
    os.environ["RECBENCH_PRETRAINED"] = "/nonexistent"  # a cold run must not find committed entries
    out_dir = tempfile.mkdtemp(prefix="recbench-bench-runs-")
    from recbench import progress
    from recbench.run import evaluate

    progress.set_enabled(False)
    mem_cold, mem_cached = PeakRSS(), PeakRSS()
    with mem_cold.measure():
        start = time.perf_counter()
        cold = evaluate("sasrec", "tiny-random", out_dir=out_dir, **SETTINGS)
        cold_s = time.perf_counter() - start
    with mem_cached.measure():
        start = time.perf_counter()
        cached = evaluate("sasrec", "tiny-random", out_dir=out_dir, **SETTINGS)
        cached_s = time.perf_counter() - start
    same = all(
        cold["tasks"][t]["metrics"] == cached["tasks"][t]["metrics"]
        and cold["tasks"][t]["controls"] == cached["tasks"][t]["controls"]
        for t in cold["tasks"]
    )
    cmd = [
        str(Path(sys.executable).with_name("recbench")), "-q", "run", "--llm", "tiny-random", "--dataset", "csv",
        "--data-dir", str(TINY), "--window", "4", "--limit", "20", "--threads", str(threads), "--out", out_dir,
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=os.environ)
    cli_cached_s = time.perf_counter() - start
    result = {
        "bench": "cached_rerun",
        "llm": "tiny-random",
        "dataset": "tiny (tests/fixtures/tiny)",
        "tasks": len(cold["tasks"]),
        "instances_per_task": cold["tasks"]["seq_recovery"]["n"],
        "adapter_steps": cold["config"]["steps"],
        "align_steps": cold["config"]["align_steps"],
        "threads": threads,
        "cold_seconds": round(cold_s, 2),
        "cached_seconds": round(cached_s, 3),
        "speedup": round(cold_s / cached_s, 1),
        "cold_stages": cold["timings"],
        "cached_stages": cached["timings"],
        "cli_cached_process_seconds": round(cli_cached_s, 2),
        "speedup_vs_cli_cached_process": round(cold_s / cli_cached_s, 1),
        "identical_scores": same,
        "cold": mem_cold.report(),
        "cached": mem_cached.report(),
        "target_speedup": TARGET,
        "meets_target": cold_s / cached_s >= TARGET,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
