"""Warm start for per-position adapters: align each soft token with its item's title in the LLM's space.

End-to-end training through a frozen LLM costs seconds per step on a CPU. Before it, this stage
trains the adapter alone (no LLM forward, thousands of steps per second) so that the soft token
at each window position lands near the LLM's embedding of the first token of that position's
item title, as a feature-alignment stage does for vision-language projectors. It uses only the
training split: latents of training windows and the titles of their items. End-to-end training
then starts from a point where the LLM already "sees" a word of each title.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from recbench.checkpoint import (
    Checkpointer,
    Saved,
    host_rng,
    load_optimizer_state,
    module_state,
    optimizer_state,
    set_host_rng,
    set_torch_rng,
    torch_rng,
)
from recbench.tasks.instances import Instance


def title_tokens(tokenizer, title: str, n: int) -> list[int]:
    """The first ``n`` token ids of ``" <title>,"``; a shorter title is padded by repeating its comma.

    With ``n == 1`` this is the title's first token. Longer titles lose their tail but keep the comma,
    so every item's token group ends in a separator the LLM knows.
    """
    ids = tokenizer(" " + title, add_special_tokens=False).input_ids
    if n == 1:
        return ids[:1]
    comma = tokenizer(",", add_special_tokens=False).input_ids[-1]
    ids = ids[: n - 1] + [comma]
    return ids + [comma] * (n - len(ids))


def alignment_pairs(
    instances: list[Instance],
    tokenizer,
    titles,
    tokens_per_item: int = 1,
    belief: bool = False,
    summary: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(latents [N, L, d], token ids [N, (L + belief + summary) * tokens_per_item]) from the one-window
    instances: each window's item titles, then with ``belief`` the title of the recommender's own top-1
    for the window, then with ``summary`` (a task name) the start of that task's reference answer for
    the window. Windows lacking either (no instance carries it) are left out."""
    top1 = {inst.window.id: inst.rec_top1 for inst in instances if inst.rec_top1 is not None}
    texts = {
        inst.window.id: inst.target
        for inst in instances
        if summary is not None and inst.task == summary and inst.sources == ("window",)
    }
    seen, lat, ids = set(), [], []
    tokens: dict[int, list[int]] = {}
    for inst in instances:
        if inst.sources != ("window",) or inst.window.id in seen:
            continue
        if (belief and inst.window.id not in top1) or (summary is not None and inst.window.id not in texts):
            continue
        seen.add(inst.window.id)
        row = []
        for item in inst.window.items + ((top1[inst.window.id],) if belief else ()):
            if item not in tokens:
                tokens[item] = title_tokens(tokenizer, titles(item), tokens_per_item)
            row.extend(tokens[item])
        if summary is not None:  # the answer's first words, ending in a separator like a title group
            row.extend(title_tokens(tokenizer, texts[inst.window.id].rstrip(". "), tokens_per_item))
        lat.append(inst.latents[0])
        ids.append(row)
    if not lat:
        return torch.empty(0), torch.empty(0, dtype=torch.long)
    return torch.stack(lat), torch.tensor(ids)


def will_align(adapter, latents: torch.Tensor, token_ids: torch.Tensor, steps: int) -> bool:
    """Whether :func:`align_adapter` runs: steps asked for, windows to fit, one target per soft token."""
    return steps > 0 and len(latents) > 0 and adapter.n_tokens == token_ids.shape[1]


def align_adapter(adapter, embedding: torch.Tensor, latents: torch.Tensor, token_ids: torch.Tensor,
                  steps: int, seed: int, batch_size: int = 256, lr: float = 3e-3,
                  progress: Callable[[int, float], None] | None = None,
                  checkpoint: Checkpointer | None = None, resume: Saved | None = None,
                  bf16: bool = False) -> dict:  # fmt: skip
    """Minimise 1 - cos(soft token, title-token embedding) per position; returns a short report.

    ``progress(step, loss)`` is called after each step. With a ``checkpoint``, the state is saved when
    it says so and at the end (with the report); ``resume`` (an ``"align"`` checkpoint) continues from
    it, with the same result as an uninterrupted run. ``bf16`` runs the adapter's forward under bf16
    autocast (bf16 training; its weights stay fp32).
    """
    if not will_align(adapter, latents, token_ids, steps):
        return {"align_steps": 0}
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    targets = embedding.detach().float()
    opt = torch.optim.Adam(adapter.parameters(), lr=lr)
    cuda = [targets.device.index or 0] if targets.device.type == "cuda" else []
    first, earlier = 0, 0.0
    if resume is not None:
        first, earlier = _restore(adapter, opt, gen, resume, cuda)
        if "report" in resume.meta:  # alignment had finished
            adapter.eval()
            return dict(resume.meta["report"])

    def save(done: int, report: dict | None = None) -> None:
        opt_tensors, opt_meta = optimizer_state(opt, "opt")
        host_tensors, host_meta = host_rng()
        tensors = {
            **module_state(adapter, "adapter"),
            **opt_tensors,
            **host_tensors,
            **torch_rng("torch", cuda),
        }
        tensors["gen"] = gen.get_state()
        meta = {"optimizer": opt_meta, **host_meta, "seconds": earlier + time.perf_counter() - start}
        checkpoint.save("align", done, tensors, meta if report is None else {**meta, "report": report})

    adapter.train()
    for step in range(first, steps):
        idx = torch.randint(0, len(latents), (min(batch_size, len(latents)),), generator=gen)
        with torch.autocast(targets.device.type, dtype=torch.bfloat16, enabled=bf16):
            out = adapter(latents[idx].to(targets.device)).float()
        goal = targets[token_ids[idx].to(targets.device)]
        loss = (1 - F.cosine_similarity(out, goal, dim=-1)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if progress is not None:
            progress(step + 1, loss.item())
        if checkpoint is not None and step + 1 < steps and checkpoint.due("align", step + 1):
            save(step + 1)
    adapter.eval()
    with torch.no_grad():
        # nearest vocabulary token of each soft token: how often is it the title token it was fitted to?
        # (in chunks: soft tokens x vocabulary similarities of a whole split would not fit in memory)
        vocab = F.normalize(targets, dim=-1)
        hits = []
        for i in range(0, min(len(latents), 512), 32):
            out = F.normalize(adapter(latents[i : i + 32].to(targets.device)), dim=-1)
            hits.append((out @ vocab.T).argmax(-1).cpu() == token_ids[i : i + 32])
        hits = torch.cat(hits)
    report = {"align_steps": steps, "align_loss": round(loss.item(), 4),
              "align_token_accuracy": round(hits.float().mean().item(), 4),
              "align_seconds": round(earlier + time.perf_counter() - start, 1)}  # fmt: skip
    # the extra groups on their own: the recommender's own top-1 (belief), then the window's summary
    t, end = getattr(adapter, "tokens_per_item", 1), hits.shape[1]
    if getattr(adapter, "summary", None) is not None:
        report["align_summary_accuracy"] = round(hits[:, end - t : end].float().mean().item(), 4)
        end -= t
    if getattr(adapter, "belief", False):
        report["align_belief_accuracy"] = round(hits[:, end - t : end].float().mean().item(), 4)
    if checkpoint is not None:
        save(steps, report)  # the end of the stage: a kill in end-to-end training does not redo it
    return report


def _restore(adapter, opt, gen: torch.Generator, saved: Saved, cuda: list[int]) -> tuple[int, float]:
    """Load an alignment checkpoint into the adapter, its optimizer, its generator and the global RNGs."""
    adapter.load_state_dict(saved.sub("adapter"))
    load_optimizer_state(opt, saved, "opt", saved.meta["optimizer"])
    gen.set_state(saved.tensors["gen"])
    set_torch_rng(saved, "torch", cuda)
    set_host_rng(saved)
    return saved.step, float(saved.meta.get("seconds", 0.0))
