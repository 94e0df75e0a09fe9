"""Generation throughput: recbench's batched generator vs the reference RecInterpreter evaluation loop.

Same model (SmolLM2-135M + MLP adapter with recbench's alignment warm start), same data (ML-100K
``seq_recovery`` test windows, SASRec latents), one process. recbench: ``SoftPromptModel.generate``
(length-sorted batches of the interpreter's default ``gen_batch_size``, cached tokenization, its own
greedy loop with a KV cache that drops each row from the batch as soon as it writes "\\n" or EOS, at
most 96 new tokens). The reference: one Python prompt wrap per sample, ``model.generate(max_length=100)``
per batch of 32, no stop strings (``bench/reference.py``). Greedy outputs are compared where both
stopped on their own (the reference emitted EOS or a stop string within its budget). Also reports the
time recbench spends in its prompt forward passes, the same arithmetic as the reference's, and so the
largest speed-up any decoder could reach on this model and data. Prints one JSON object on its last line.

    .venv/bin/python bench/generation.py [--n 64] [--pretrained] [--dtype bfloat16]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import (  # noqa: E402
    PeakRSS,
    TokenCounter,
    prompt_examples,
    reference_generate,
    setup,
    setup_pretrained,
)

from recbench.interpreters import decode  # noqa: E402

TARGET = 5.0


class DecodeCounter:
    """Wraps recbench's ``greedy_decode`` to count the tokens each row generated (with its EOS).

    A row is computed at exactly the steps it is live (finished rows leave the batch), so the decode
    slots computed equal the tokens generated.
    """

    def __init__(self, lm) -> None:
        self.original = decode.greedy_decode
        self.lm, self.forward = lm, lm.forward
        self.tokens = 0
        self.prefill_s = 0.0  # time in the forward calls over whole prompts

    def __enter__(self):
        def counting(*args, **kwargs):
            rows = self.original(*args, **kwargs)
            self.tokens += sum(map(len, rows))
            return rows

        def timed(*args, **kwargs):
            if "inputs_embeds" not in kwargs:
                return self.forward(*args, **kwargs)
            start = time.perf_counter()
            out = self.forward(*args, **kwargs)
            self.prefill_s += time.perf_counter() - start
            return out

        decode.greedy_decode = counting
        self.lm.forward = timed
        return self

    def __exit__(self, *exc) -> None:
        decode.greedy_decode = self.original
        self.lm.forward = self.forward


def _throughput(n: int, seconds: float, tokens: int, slots: int) -> dict:
    """One side's speed: ``n`` instances and ``tokens`` new tokens in ``seconds``, ``slots`` rows x steps."""
    return {
        "seconds": round(seconds, 2),
        "instances_per_s": round(n / seconds, 3),
        "new_tokens": tokens,
        "new_tokens_per_s": round(tokens / seconds, 1),
        "token_slots_computed": slots,
    }


def _prefix_agrees(mine: str, text: str) -> bool:
    """One output is a prefix of the other (the reference's cut at its first line)."""
    ref = text.split("\n", 1)[0].strip()
    return ref.startswith(mine) or mine.startswith(ref)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=64, help="test instances (two reference batches by default)")
    parser.add_argument("--rec-epochs", type=int, default=5)
    parser.add_argument(
        "--pretrained", action="store_true",
        help="use the demo's committed fast-profile interpreter instead of a quickly aligned one",
    )  # fmt: skip
    parser.add_argument(
        "--dtype", choices=["float32", "bfloat16"], default=None,
        help="cast the LLM's weights, for both sides (default: as recbench loads it, fp32 on CPU, bf16 on CUDA)",
    )  # fmt: skip
    parser.add_argument("--device", default="cpu", help="cpu or cuda (bf16 there, as recbench loads it)")
    args = parser.parse_args()
    threads = int(os.environ.get("BENCH_THREADS", "1"))  # 1: a busy 2-core machine slows down with more
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    if args.pretrained:
        env = setup_pretrained(n_test=args.n, device=args.device)
    else:
        env = setup(
            n_test=args.n, n_train=256, rec_epochs=args.rec_epochs, align_steps=300, device=args.device
        )
    interp, spec = env["interpreter"], env["spec"]
    model = interp.model
    if args.dtype:
        model.lm.to(getattr(torch, args.dtype))  # the same weights for both sides
    examples = prompt_examples(env["test"], False)
    setup_s = time.perf_counter() - t0
    # warm both paths up on two prompts (first-call allocations, lazy imports)
    model.generate(examples[:2], max_new_tokens=4, stop=list(spec.until), batch_size=2)
    reference_generate(model, examples[:2], batch_size=2, max_length=24)

    mem_ours, mem_ref = PeakRSS(), PeakRSS()
    with DecodeCounter(model.lm) as ours_tokens, mem_ours.measure():
        start = time.perf_counter()
        ours = interp.generate(env["test"], max_new_tokens=spec.max_new_tokens, stop=list(spec.until))
        ours_s = time.perf_counter() - start
    with TokenCounter(model.lm, model.eos_ids) as ref_tokens, mem_ref.measure():
        start = time.perf_counter()
        ref_raw = reference_generate(model, examples, batch_size=32, max_length=100)
        ref_s = time.perf_counter() - start

    # where did the reference stop on its own? (EOS before its budget, or a stop string in its text)
    agree = both = 0
    for text, row, mine in zip(ref_raw, ref_tokens.rows, ours, strict=True):
        stopped_eos = row and row[-1] in model.eos_ids
        cut = text
        for s in spec.until:
            cut = cut.split(s, 1)[0]
        if stopped_eos or len(cut) < len(text):
            both += 1
            agree += cut.strip() == mine
    prefix = sum(_prefix_agrees(mine, text) for text, mine in zip(ref_raw, ours, strict=True))
    n = len(examples)
    result = {
        "bench": "generation",
        "model": "committed fast-profile interpreter (recbench/pretrained/)"
        if args.pretrained
        else "smollm2-135m + mlp adapter (aligned, 300 steps)",
        "task": "seq_recovery",
        "dataset": "ml-100k",
        "instances": n,
        "threads": threads,
        "device": torch.cuda.get_device_name() if model.embed.weight.is_cuda else "cpu",
        "dtype": str(model.embed.weight.dtype).removeprefix("torch."),
        "recbench": {
            **_throughput(n, ours_s, ours_tokens.tokens, ours_tokens.tokens),
            "prefill_seconds": round(ours_tokens.prefill_s, 2),
            "batch_size": interp.gen_batch_size,
            "max_new_tokens": spec.max_new_tokens,
            "stop": list(spec.until),
            **mem_ours.report(),
        },
        "reference": {
            **_throughput(n, ref_s, ref_tokens.tokens, ref_tokens.slots),
            "batch_size": 32,
            "max_length": 100,  # as RecInterpreter ran it: at most 100 new tokens (see reference.py)
            "stop": [],
            **mem_ref.report(),
        },
        "speedup_instances_per_s": round(ref_s / ours_s, 2),
        "speedup_new_tokens_per_s": round((ours_tokens.tokens / ours_s) / (ref_tokens.tokens / ref_s), 2),
        "both_stopped": both,
        "agreement_where_both_stop": round(agree / both, 4) if both else None,
        "prefix_agreement_all": round(prefix / n, 4),
        # the prompts' forward pass is the same arithmetic on both sides: even with free decoding,
        # recbench could not be faster than this
        "speedup_bound_if_decoding_were_free": round(ref_s / ours_tokens.prefill_s, 2),
        "target_speedup": TARGET,
        "meets_target": ref_s / ours_s >= TARGET,
        "setup_seconds": round(setup_s, 1),
        "example": {"recbench": ours[0], "reference": ref_raw[0][:200]},
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
