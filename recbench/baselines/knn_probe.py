"""Nearest-neighbour probe: answer with the nearest training latent's answer (no LLM).

How much the vector holds, read the simplest way: for each task, every interpreter-training
instance's latents (its ``<rec_emb>`` slots' ``[L, d]`` tensors, concatenated and flattened) are kept
with that instance's target items. A test instance gets the target items of the training instance
whose flattened latents have the highest cosine similarity with its own (one neighbour; ties go to
the earlier training instance), written in the task's answer format. So a training instance is
answered with exactly its own target, and the shuffled control (latents permuted across test
instances) shows how much of the score the latent, rather than the answer format, explains.
"""

from __future__ import annotations

import hashlib

import torch

from recbench.baselines.answers import answer_text
from recbench.interpreters.base import Interpreter


def flat_latents(inst) -> torch.Tensor:
    """An instance's slot latents, concatenated and flattened into one float32 vector."""
    return torch.cat([t.detach().to("cpu", torch.float32).reshape(-1) for t in inst.latents])


class KNNProbe(Interpreter):
    """The answer of the nearest training latent (cosine over flattened latents, per task)."""

    name = "knn_probe"
    kind = "baseline"
    trainable = False
    uses_latents = True

    def __init__(self) -> None:
        self.keys: dict[str, torch.Tensor] = {}  # task -> [N, D] unit rows
        self.answers: dict[str, list[list[int]]] = {}  # task -> target items of each row
        self.fingerprint: str | None = None

    def fit(self, train, valid, progress=None) -> dict:
        by_task: dict[str, list] = {}
        for inst in train:
            by_task.setdefault(inst.task, []).append(inst)
        h = hashlib.sha256()
        for task, insts in sorted(by_task.items()):
            x = torch.stack([flat_latents(i) for i in insts])
            self.keys[task] = torch.nn.functional.normalize(x, dim=1)
            self.answers[task] = [list(i.target_items) for i in insts]
            h.update(task.encode() + x.numpy().tobytes() + repr(self.answers[task]).encode())
        # the outputs depend on the training set, so its hash joins the identity (and the generation cache key)
        self.fingerprint = h.hexdigest()[:16]
        return {"train_instances": {task: len(v) for task, v in sorted(by_task.items())}}

    def identity(self) -> dict:
        return {"name": self.name, "neighbours": 1, "similarity": "cosine", "train": self.fingerprint}

    def neighbours(self, instances) -> list[int | None]:
        """Index of each instance's nearest training instance of its task (None: the task had none)."""
        out: list[int | None] = [None] * len(instances)
        for task in sorted({i.task for i in instances}):
            idx = [j for j, inst in enumerate(instances) if inst.task == task]
            keys = self.keys.get(task)
            if keys is None or not len(keys):
                continue
            query = torch.nn.functional.normalize(
                torch.stack([flat_latents(instances[j]) for j in idx]), dim=1
            )
            best = (query @ keys.T).argmax(dim=1)  # argmax returns the first maximum: ties are stable
            for j, b in zip(idx, best.tolist(), strict=True):
                out[j] = b
        return out

    def generate(self, instances, *, max_new_tokens, stop, progress=None) -> list[str]:
        texts = []
        for inst, best in zip(instances, self.neighbours(instances), strict=True):
            items = [] if best is None else self.answers[inst.task][best]
            texts.append(answer_text(inst.task, items, self.ctx.data, inst.version))
        return texts
