"""The shared set-up of the interpreter benchmarks, and a faithful re-implementation of the reference loops.

The reference is RecInterpreter's evaluation and training style (MiniGPT-4's ``prompt_wrap``): every
sample's prompt is split at the placeholder, tokenized and embedded on its own in Python, the soft
tokens are concatenated in between, and the batch is padded by hand; generation is one
``model.generate(inputs_embeds=..., max_length=100)`` per batch of 32 with no stop strings, and
training computes the model's own loss over logits at every position. recbench's engine
(:class:`recbench.interpreters.soft_prompt.SoftPromptModel`) does the same arithmetic with cached
tokenization, one adapter call per batch, length-sorted batches, stop strings and target-only logits.

Run as a script, it checks that the re-implementation builds the same inputs and loss as recbench
(so the benchmarks compare like with like) and prints one JSON object on its last line.

    .venv/bin/python bench/reference.py
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from contextlib import contextmanager

import torch

PLACEHOLDER = "<rec_emb>"


# --- set-up shared by bench/generation.py and bench/training.py -----------------------------------


def _seq_recovery(n_test: int, n_train: int, window: int, rec_epochs: int | None) -> dict:
    """ML-100K ``seq_recovery`` test and train instances with SASRec latents (seeded window samples).

    ``rec_epochs=None`` is SASRec's default training, i.e. the committed checkpoint in recbench/pretrained/.
    """
    import random

    from recbench import progress
    from recbench.data import load_dataset, make_windows, split_windows_by_user
    from recbench.recommenders.train import train_recommender
    from recbench.run.latents import attach_latents
    from recbench.tasks import build_instances, load_task

    progress.set_enabled(False)
    data = load_dataset("ml-100k")
    splits = split_windows_by_user(make_windows(data, window), seed=0)
    rng = random.Random(0)
    test_w = sorted(rng.sample(splits["test"], n_test), key=lambda w: (w.user, w.start))
    train_w = sorted(rng.sample(splits["train"], n_train), key=lambda w: (w.user, w.start))
    trained = train_recommender(data, "sasrec", epochs=rec_epochs, seed=0)
    spec = load_task("seq_recovery")
    test = build_instances(spec, test_w, data)
    train = build_instances(spec, train_w, data)
    attach_latents(trained.model, test + train, window)
    return {"data": data, "spec": spec, "test": test, "train": train}


def setup(
    n_test: int,
    n_train: int,
    window: int = 5,
    rec_epochs: int = 5,
    align_steps: int = 300,
    steps: int = 0,
    device: str = "cpu",
) -> dict:
    """SmolLM2-135M + MLP adapter on ML-100K ``seq_recovery`` (a SASRec trained ``rec_epochs`` epochs).

    The adapter gets recbench's alignment warm start and ``steps`` end-to-end steps, so the LLM writes
    title-like text; returns test and train instances with latents, and the interpreter.
    """
    from recbench.interpreters.base import InterpreterContext
    from recbench.interpreters.llm import LLMInterpreter

    env = _seq_recovery(n_test, n_train, window, rec_epochs)
    # generation uses the interpreter's default gen_batch_size
    interp = LLMInterpreter(
        llm="smollm2-135m", adapter="mlp", adapter_options={"hidden": 1024}, steps=steps,
        batch_size=16, align_steps=align_steps,
    )  # fmt: skip
    interp.setup(InterpreterContext(env["data"], env["test"][0].latents[0].shape[-1], window, device, 0))
    info = interp.fit(env["train"], [])
    return {**env, "interpreter": interp, "fit": info}


def setup_pretrained(n_test: int, window: int = 5, device: str = "cpu") -> dict:
    """The demo's interpreter: the committed fast-profile adapter (recbench/pretrained/) on the committed SASRec.

    Same test windows as :func:`setup`; nothing is trained (both come from the pretrained layer).
    """
    from recbench.cache import find_entry, pretrained_dir
    from recbench.interpreters.llm import LLMInterpreter
    from recbench.interpreters.soft_prompt import SoftPromptModel
    from recbench.llms import load_llm
    from recbench.run.spec import DEFAULTS

    provenance = json.loads((pretrained_dir() / "PROVENANCE.json").read_text())
    entry = find_entry("interpreters", "llm-" + provenance["interpreter"]["training"]["key"])
    if entry is None:
        raise SystemExit("the committed adapter in recbench/pretrained/ is missing")
    env = _seq_recovery(n_test, 0, window, rec_epochs=None)
    interp = LLMInterpreter(llm="smollm2-135m")
    interp.model = SoftPromptModel.from_checkpoint(load_llm("smollm2-135m", device), entry)
    # as `recbench run` generates with it: the default sets train_precision, which reuses the prompt prefix
    interp.model.reuse_prefix = DEFAULTS.train_precision is not None
    return {**env, "interpreter": interp, "fit": {}}


class PeakRSS:
    """Peak resident memory (MB) of this process while a block runs, sampled every 5 ms."""

    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.peak = self.start = 0
        self.cuda_peak: int | None = None

    @contextmanager
    def measure(self):
        self.start = self.peak = self.proc.memory_info().rss
        if torch.cuda.is_initialized():
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                self.peak = max(self.peak, self.proc.memory_info().rss)
                time.sleep(0.005)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            done.set()
            thread.join()
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self.cuda_peak = torch.cuda.max_memory_allocated() if torch.cuda.is_initialized() else None

    def report(self) -> dict:
        out = {
            "peak_rss_mb": round(self.peak / 2**20, 1),
            "peak_rss_increase_mb": round((self.peak - self.start) / 2**20, 1),
        }
        if self.cuda_peak is not None:  # tensors on a GPU are not in the process's RSS
            out["peak_cuda_allocated_mb"] = round(self.cuda_peak / 2**20, 1)
        return out


class TokenCounter:
    """Wraps ``lm.generate`` to count the tokens each row really generated (up to and with its EOS)."""

    def __init__(self, lm, eos_ids: list[int]) -> None:
        self.lm, self.eos = lm, set(eos_ids)
        self.original = lm.generate
        self.tokens = 0  # generated tokens each row kept (to its EOS)
        self.slots = 0  # batch rows x decoding steps: what was computed
        self.rows: list[list[int]] = []

    def __enter__(self):
        def counting(*args, **kwargs):
            out = self.original(*args, **kwargs)
            self.slots += out.numel()
            for row in out.tolist():
                n = next((j + 1 for j, t in enumerate(row) if t in self.eos), len(row))
                self.tokens += n
                self.rows.append(row[:n])
            return out

        self.lm.generate = counting
        return self

    def __exit__(self, *exc) -> None:
        self.lm.generate = self.original


# --- the reference loops ------------------------------------------------------------------------


def reference_wrap(model, prompt: str, latents: list[torch.Tensor]) -> torch.Tensor:
    """One sample's input embeddings [T, H], built as RecInterpreter's prompt_wrap does (no caching)."""
    if model.chat_template:  # the prompt template, applied as text to each sample (MiniGPT-4 style)
        msgs = [{"role": "user", "content": prompt}]
        prompt = model.tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    parts = prompt.split(PLACEHOLDER)
    pieces = []
    for i, part in enumerate(parts):
        if i > 0:
            pieces.append(model.adapter(latents[i - 1].unsqueeze(0))[0].to(model.embed.weight.dtype))
        first = i == 0 and not model.chat_template  # a chat template writes its specials as text
        ids = model.tokenizer(part, return_tensors="pt", add_special_tokens=first).input_ids
        pieces.append(model.embed(ids.to(model.embed.weight.device))[0])
    return torch.cat(pieces)


def _pad(rows: list[torch.Tensor], pad_embed: torch.Tensor, left: bool) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    embeds, masks = [], []
    for r in rows:
        fill = pad_embed.expand(width - len(r), -1)
        embeds.append(torch.cat([fill, r] if left else [r, fill]))
        ones = torch.ones(len(r), dtype=torch.long, device=r.device)
        zeros = torch.zeros(width - len(r), dtype=torch.long, device=r.device)
        masks.append(torch.cat([zeros, ones] if left else [ones, zeros]))
    return torch.stack(embeds), torch.stack(masks)


@torch.no_grad()
def reference_generate(model, examples, batch_size: int = 32, max_length: int = 100) -> list[str]:
    """Greedy outputs, 32 at a time in data order, ``generate(max_length=100)`` as the reference ran it
    (at most 100 new tokens), no stop strings."""
    model.eval()
    pad_embed = model.embed(torch.tensor([model.pad_id], device=model.embed.weight.device))
    out = []
    for s in range(0, len(examples), batch_size):
        rows = [reference_wrap(model, ex.prompt, ex.latents) for ex in examples[s : s + batch_size]]
        embeds, mask = _pad(rows, pad_embed, left=True)
        new = model.lm.generate(
            # RecInterpreter ran on transformers < 4.38, where max_length with inputs_embeds alone bounded
            # the NEW tokens; since huggingface/transformers#28994 it also counts the prompt. Keep the
            # original meaning: up to max_length new tokens.
            inputs_embeds=embeds, attention_mask=mask, max_new_tokens=max_length, do_sample=False,
            num_beams=1, pad_token_id=model.pad_id, eos_token_id=model.eos_ids,
        )  # fmt: skip
        out += [model.tokenizer.decode(row, skip_special_tokens=True) for row in new.tolist()]
    return out


def reference_loss(model, batch) -> torch.Tensor:
    """The model's own mean cross-entropy over a right-padded batch wrapped one sample at a time."""
    pad_embed = model.embed(torch.tensor([model.pad_id], device=model.embed.weight.device))
    rows, labels = [], []
    for ex in batch:
        prompt = reference_wrap(model, ex.prompt, ex.latents)
        target_ids = model.tokenizer(ex.target, add_special_tokens=False).input_ids + [
            model.tokenizer.eos_token_id
        ]
        rows.append(torch.cat([prompt, model.embed(torch.tensor(target_ids, device=prompt.device))]))
        labels.append([-100] * len(prompt) + target_ids)
    embeds, mask = _pad(rows, pad_embed, left=False)
    width = embeds.shape[1]
    label_t = torch.tensor([lab + [-100] * (width - len(lab)) for lab in labels], device=embeds.device)
    return model.lm(inputs_embeds=embeds, attention_mask=mask, labels=label_t).loss


def reference_train(
    model, examples, *, steps: int, batch_size: int, lr: float, weight_decay: float, seed: int
) -> list[float]:
    """AdamW on the adapter, batches drawn as recbench draws them, one Python-wrapped sample at a time."""
    params = model.trainable_parameters()
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    order: list[int] = []
    losses = []
    model.train()
    for _ in range(steps):
        if len(order) < min(batch_size, len(examples)):
            order += torch.randperm(len(examples), generator=gen).tolist()
        idx, order = order[:batch_size], order[batch_size:]
        loss = reference_loss(model, [examples[i] for i in idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(loss.item())
    model.eval()
    return losses


def prompt_examples(instances, with_target: bool):
    from recbench.interpreters.llm import LLMInterpreter

    return LLMInterpreter._examples(instances, with_target)


# --- self-check ---------------------------------------------------------------------------------


def main() -> None:
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    start = time.perf_counter()
    env = setup(n_test=8, n_train=16, rec_epochs=1, align_steps=50)
    model = env["interpreter"].model
    gen_ex = prompt_examples(env["test"], False)
    train_ex = prompt_examples(env["train"][:8], True)
    with torch.no_grad():
        embeds, mask, _ = model.build_inputs(gen_ex, with_targets=False)
        pad_embed = model.embed(torch.tensor([model.pad_id], device=model.embed.weight.device))
        ref, ref_mask = _pad(
            [reference_wrap(model, e.prompt, e.latents) for e in gen_ex], pad_embed, left=True
        )
        loss_sum, n_tok = model._loss_sum(train_ex)
        ref_loss = reference_loss(model, train_ex)
    same_inputs = bool(
        torch.equal(mask.cpu(), ref_mask)
        and torch.allclose(embeds[mask.bool()], ref[ref_mask.bool()], atol=1e-6)
    )
    loss_diff = abs(float(loss_sum / n_tok) - float(ref_loss)) / float(ref_loss)
    ok = same_inputs and loss_diff < 1e-4
    print(json.dumps({"bench": "reference", "same_generation_inputs": same_inputs, "loss_rel_diff": loss_diff,
                      "ok": ok, "seconds": round(time.perf_counter() - start, 1)}))  # fmt: skip
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
