"""Adapter training throughput: recbench's ``SoftPromptModel.fit`` vs the reference training style.

Same model (SmolLM2-135M + MLP adapter), same data (ML-100K ``seq_recovery`` training windows, SASRec
latents), same optimiser settings and batch order, one process. recbench builds each batch from cached
token ids with one adapter call and computes logits only where targets are; the reference
(``bench/reference.py``) wraps every sample's prompt in Python at every step and lets the model compute
its loss over logits at every position. Per-step losses must agree (same arithmetic). Prints one JSON
object on its last line.

    .venv/bin/python bench/training.py [--steps 5] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import PeakRSS, prompt_examples, reference_train, setup  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--train", type=int, default=256, help="training windows")
    args = parser.parse_args()
    threads = int(os.environ.get("BENCH_THREADS", "1"))  # 1: a busy 2-core machine slows down with more
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    env = setup(n_test=1, n_train=args.train, rec_epochs=5, align_steps=300)
    model = env["interpreter"].model
    examples = prompt_examples(env["train"], True)
    start_state = copy.deepcopy(model.adapter.state_dict())
    setup_s = time.perf_counter() - t0
    settings = dict(steps=args.steps, batch_size=args.batch_size, lr=1e-3, weight_decay=1e-6, seed=0)

    # warm both paths up (first-step allocations and lazy initialisation), then start both from the same weights
    warm = dict(settings, steps=1)
    model.fit(examples, None, warmup=0, **warm)
    reference_train(model, examples, **warm)
    model.adapter.load_state_dict(start_state)

    mem_ours, mem_ref = PeakRSS(), PeakRSS()
    with mem_ours.measure():
        start = time.perf_counter()
        history = model.fit(examples, None, warmup=0, **settings)
        ours_s = time.perf_counter() - start
    model.adapter.load_state_dict(start_state)  # the reference starts from the same weights
    with mem_ref.measure():
        start = time.perf_counter()
        ref_losses = reference_train(model, examples, **settings)
        ref_s = time.perf_counter() - start

    samples = args.steps * args.batch_size
    diffs = [abs(a - b) / abs(b) for a, b in zip(history["train_loss"], ref_losses, strict=True)]
    result = {
        "bench": "training",
        "model": "smollm2-135m + mlp adapter",
        "task": "seq_recovery",
        "dataset": "ml-100k",
        "steps": args.steps,
        "batch_size": args.batch_size,
        "samples": samples,
        "threads": threads,
        "recbench": {
            "seconds": round(ours_s, 2),
            "samples_per_s": round(samples / ours_s, 3),
            **mem_ours.report(),
        },
        "reference": {
            "seconds": round(ref_s, 2),
            "samples_per_s": round(samples / ref_s, 3),
            **mem_ref.report(),
        },
        "speedup_samples_per_s": round(ref_s / ours_s, 2),
        "loss_first_step": round(history["train_loss"][0], 5) if history["train_loss"] else None,
        "max_loss_rel_diff": max(diffs) if diffs else None,
        "setup_seconds": round(setup_s, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
