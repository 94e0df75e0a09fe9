"""Recommender latents for task instances, and the shuffled control."""

from __future__ import annotations

import random

import torch

from recbench.recommenders.base import pad_left
from recbench.tasks.instances import Instance


@torch.no_grad()
def attach_latents(model, instances: list[Instance], window: int, batch_size: int = 256) -> None:
    """Encode every (window, source) sequence once and give each instance its ``[L, d]`` tensors."""
    model.eval()
    wanted: dict[tuple[int, ...], torch.Tensor | None] = {}
    for inst in instances:
        for source in inst.sources:
            wanted.setdefault(inst.sequence(source), None)
    keys = list(wanted)
    device = next(model.parameters()).device
    for i in range(0, len(keys), batch_size):
        chunk = keys[i : i + batch_size]
        states = model.encode(pad_left([list(k) for k in chunk], window).to(device)).float().cpu()
        for key, state in zip(chunk, states, strict=True):
            wanted[key] = state
    for inst in instances:
        inst.latents = [wanted[inst.sequence(s)] for s in inst.sources]


def shuffled(instances: list[Instance], seed: int) -> list[Instance]:
    """Copies whose latents come from another instance of the task (a seeded derangement).

    Prompts and targets stay; only what the interpreter reads moves. With one instance there is
    nothing to swap with, so the control is not defined and an empty list is returned.
    """
    n = len(instances)
    if n < 2:
        return []
    order = list(range(n))
    random.Random(seed).shuffle(order)
    source = [0] * n
    for pos, i in enumerate(order):  # each instance takes the latents of the next one in a random cycle
        source[i] = order[(pos + 1) % n]
    out = []
    for inst, j in zip(instances, source, strict=True):
        copy = Instance(**{**inst.__dict__})
        copy.latents = list(instances[j].latents)
        out.append(copy)
    return out
