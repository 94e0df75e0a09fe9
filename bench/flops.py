"""Achieved FLOP/s of adapter training and prompt prefill against this machine's measured matmul peaks.

Measures, on this machine:

* the fp32 and bf16 matrix-multiply peaks (``torch.mm`` on a few shapes, the best of each dtype; bf16
  uses the CPU's AMX / AVX512-BF16 units where it has them);
* one end-to-end training step of SmolLM2-135M + the fast profile's adapter (16 ``seq_recovery``-like
  prompts, the real prompt format) and one prefill of the same prompts (generation of one token), each
  in the two set-ups recbench has: ``fp32`` (``train_precision`` unset, as every run before it existed:
  fp32, fused SDPA attention, the whole prompt every step) and ``bf16`` (the default: training in bf16
  with plain attention, the frozen weights held in bf16 for the whole training; the shared prompt prefix
  computed once and reused in training and generation; generation itself stays fp32).

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` over what actually runs (matmuls and
attention; the frozen LLM computes no weight gradients), so a lever that removes work (the reused
prefix) shows as less time, not as more FLOP/s. Prints one JSON object on its last line.

    .venv/bin/python bench/flops.py [--steps 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

SHAPES = [(2048, 576, 1536), (2048, 1536, 576), (4096, 4096, 4096)]
TARGET = " Star Wars (1977), Fargo (1996), Contact (1997), Scream (1996), Liar Liar (1997)."


def matmul_peak(dtype: torch.dtype, seconds: float = 1.0) -> dict:
    """Best achieved GFLOP/s of ``a @ b`` over :data:`SHAPES`."""
    best = {}
    for n, k, m in SHAPES:
        a, b = torch.randn(n, k, dtype=dtype), torch.randn(k, m, dtype=dtype)
        for _ in range(3):
            a @ b
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            a @ b
            runs += 1
        rate = 2 * n * k * m * runs / (time.perf_counter() - start) / 1e9
        best[f"{n}x{k}x{m}"] = round(rate, 1)
    return {"gflops": max(best.values()), "by_shape": best}


def counted(fn) -> tuple[float, int]:
    """(seconds, FLOPs) of one call of ``fn``, the FLOPs counted in a separate call."""
    from torch.utils.flop_counter import FlopCounterMode

    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    with FlopCounterMode(display=False) as counter:
        fn()
    return seconds, counter.get_total_flops()


def measure(precision: str, steps: int, peak: dict) -> dict:
    from recbench.adapters.mlp import MLPAdapter
    from recbench.interpreters.soft_prompt import PromptExample, SoftPromptModel
    from recbench.llms import load_llm

    llm = load_llm("smollm2-135m", "cpu")
    torch.manual_seed(0)
    adapter = MLPAdapter(64, llm.hidden_size, 5, hidden=640, tokens_per_item=12)
    model = SoftPromptModel(
        llm, adapter, train_precision=None if precision == "fp32" else "bf16"
    )  # None: before
    gen = torch.Generator().manual_seed(0)
    batch = [
        PromptExample("<rec_emb>\nThis user has watched", [torch.randn(5, 64, generator=gen)], TARGET)
        for _ in range(16)
    ]
    tokens = int(model.build_inputs(batch, with_targets=True)[1].sum())
    opt = torch.optim.AdamW(model.trainable_parameters(), lr=1e-4)

    def step() -> None:
        loss, n = model._loss_sum(batch)
        opt.zero_grad(set_to_none=True)
        (loss / n).backward()
        opt.step()

    model.train()
    with model._train_arithmetic():  # entered once for all steps, as fit does (bf16: the weights cast once)
        step()  # warm-up: first-call allocations
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        _, step_flops = counted(step)
    step_s = sorted(times)[len(times) // 2]
    model.eval()

    prompts = [PromptExample(ex.prompt, ex.latents) for ex in batch]

    def prefill() -> None:  # generation with one new token: the prompt forward pass and an argmax
        model.generate(prompts, max_new_tokens=1, batch_size=len(prompts))

    prefill()
    prefill_s = min(counted(prefill)[0] for _ in range(3))
    _, prefill_flops = counted(prefill)

    def rate(flops: int, seconds: float, dtype: str) -> dict:
        gflops = flops / seconds / 1e9
        return {
            "seconds": round(seconds, 3),
            "gflop": round(flops / 1e9, 1),
            "gflops": round(gflops, 1),
            "dtype": dtype,
            "of_dtype_peak": round(gflops / peak[dtype]["gflops"], 3),
            "of_bf16_peak": round(gflops / peak["bf16"]["gflops"], 3),
        }

    return {
        "tokens_per_step": tokens,
        "train_step": rate(step_flops, step_s, precision),
        "prefill": rate(prefill_flops, prefill_s, "fp32"),  # generation is fp32 on CPU either way
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3, help="timed training steps (median reported)")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from recbench import progress

    progress.set_enabled(False)
    peak = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    print(f"matmul peak: fp32 {peak['fp32']['gflops']} GFLOP/s, bf16 {peak['bf16']['gflops']} GFLOP/s")
    result: dict = {"bench": "flops", "threads": args.threads, "peak": peak}
    for precision in ("fp32", "bf16"):
        result[precision] = measure(precision, args.steps, peak)
        r = result[precision]
        print(
            f"{precision}: train step {r['train_step']['seconds']} s ({r['train_step']['gflops']} GFLOP/s, "
            f"{r['train_step']['of_bf16_peak']:.0%} of bf16 peak); prefill {r['prefill']['seconds']} s "
            f"({r['prefill']['gflops']} GFLOP/s)"
        )
    result["train_step_speedup"] = round(
        result["fp32"]["train_step"]["seconds"] / result["bf16"]["train_step"]["seconds"], 2
    )
    result["prefill_speedup"] = round(
        result["fp32"]["prefill"]["seconds"] / result["bf16"]["prefill"]["seconds"], 2
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
