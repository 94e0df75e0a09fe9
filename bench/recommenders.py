"""Train SASRec and GRU4Rec on ML-100K in a fresh cache; time training, cached reload and determinism.

Prints one JSON object on its last line: per recommender, training seconds, epochs, full-ranking
HR@10/NDCG@10 on the leave-one-out test, popularity's on the same split, the ratio, the cached
reload seconds and whether a second identical command gave identical metrics.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

import torch


def main() -> None:
    threads = int(os.environ.get("BENCH_THREADS", "2"))
    torch.set_num_threads(threads)
    os.environ["RECBENCH_CACHE"] = tempfile.mkdtemp(prefix="recbench-bench-")
    os.environ["RECBENCH_PRETRAINED"] = "/nonexistent"  # never reuse committed checkpoints here
    from recbench import progress
    from recbench.data import load_dataset
    from recbench.recommenders.train import train_recommender

    progress.set_enabled(sys.stderr.isatty())
    data = load_dataset("ml-100k")
    out: dict = {"dataset": "ml-100k", "threads": threads, "cpus": os.cpu_count()}
    for rec in sys.argv[1:] or ["sasrec", "gru4rec"]:
        start = time.perf_counter()
        first = train_recommender(data, rec, seed=0)
        wall = time.perf_counter() - start
        start = time.perf_counter()
        again = train_recommender(data, rec, seed=0)
        reload = time.perf_counter() - start
        out[rec] = {
            "train_seconds": round(wall, 1),
            "epochs": first.model.history["epochs"],
            "best_epoch": first.model.history["best_epoch"],
            "hr@10": first.test["hr@10"],
            "ndcg@10": first.test["ndcg@10"],
            "hr@20": first.test["hr@20"],
            "ndcg@20": first.test["ndcg@20"],
            "popularity_hr@10": first.popularity["hr@10"],
            "popularity_ndcg@10": first.popularity["ndcg@10"],
            "hr@10_vs_popularity": round(first.test["hr@10"] / first.popularity["hr@10"], 2),
            "cached_reload_seconds": round(reload, 2),
            "second_run_from_cache": again.from_cache,
            "second_run_identical": again.test == first.test and again.sha256 == first.sha256,
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
