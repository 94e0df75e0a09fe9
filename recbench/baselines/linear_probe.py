"""Linear probe: latent → items with a softmax classifier, no LLM: how much the vector linearly holds.

One classifier per task, trained on that task's interpreter-training instances, chosen by the kind
of answer the task's target names (read from its target template, see :mod:`recbench.baselines.answers`):

* window-kind targets (seq_recovery, description: every item of the window): one softmax classifier
  shared by all positions maps a position's hidden state ``h_p`` (``[d]``) to the item at that
  position; it is trained on every (position, item) pair, ``L`` times the data separate
  per-position classifiers would get (SASRec adds position embeddings, so ``h_p`` knows where it
  is). At test time each position takes its most probable item, positions assigned in order of
  confidence so that no item is named twice; the answer lists them in window order.
* one-item targets (residual_id, next_item): the last position of every slot, concatenated, maps to
  the item. For residual_id that is ``[h_last(before); h_last(after)]``: a linear map of that pair
  can use ``after`` alone or the difference ``after - before``, so it subsumes both choices. For
  next_item it is the window's last hidden state.

Features are standardised with the training mean and standard deviation; weights start at zero;
training is full-catalogue cross-entropy with Adam for a fixed number of epochs over mini-batches
in a seeded order, on the CPU, so a fit is deterministic given the run's seed and takes seconds on
ML-100K. Tasks whose training features and labels are identical (seq_recovery and description
share both) share one fit.
"""

from __future__ import annotations

import hashlib

import torch

from recbench.baselines.answers import ITEM_FIELDS, WINDOW_FIELDS, answer_text, template_fields
from recbench.interpreters.base import Interpreter


def probe_mode(inst) -> str:
    """``"positions"`` for window-kind targets, ``"last"`` for one-item ones."""
    fields = template_fields(inst.task, inst.version)
    if fields & WINDOW_FIELDS:
        return "positions"
    if fields & ITEM_FIELDS:
        return "last"
    return "positions" if len(inst.target_items) > 1 else "last"


def position_pairs(inst) -> tuple[torch.Tensor, list[int]]:
    """(rows of the last slot aligned with the target items from the right, the target items)."""
    states = inst.latents[-1].detach().to("cpu", torch.float32)
    items = list(inst.target_items)[-states.shape[0] :]
    return states[states.shape[0] - len(items) :], items


def last_features(inst) -> torch.Tensor:
    """The last position of every slot, concatenated: ``[slots * d]``."""
    return torch.cat([t.detach().to("cpu", torch.float32)[-1] for t in inst.latents])


class SoftmaxProbe:
    """Standardise, then one linear layer to item logits (class ``c`` is item ``c + 1``)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor):
        self.mean, self.std, self.weight, self.bias = mean, std, weight, bias

    @classmethod
    def train(
        cls, x: torch.Tensor, y: torch.Tensor, n_items: int, *, epochs: int, lr: float, batch_size: int,
        weight_decay: float, seed: int,
    ) -> tuple[SoftmaxProbe, float]:  # fmt: skip
        mean, std = x.mean(0), x.std(0, unbiased=False).clamp_min(1e-6)
        z = (x - mean) / std
        weight = torch.zeros(x.shape[1], n_items, requires_grad=True)
        bias = torch.zeros(n_items, requires_grad=True)
        opt = torch.optim.Adam([weight, bias], lr=lr, weight_decay=weight_decay)
        gen = torch.Generator().manual_seed(seed)
        loss = torch.tensor(float("nan"))
        for _ in range(epochs):
            order = torch.randperm(len(z), generator=gen)
            for s in range(0, len(z), batch_size):
                idx = order[s : s + batch_size]
                loss = torch.nn.functional.cross_entropy(z[idx] @ weight + bias, y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        return cls(mean, std, weight.detach(), bias.detach()), float(loss.detach())

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(((x - self.mean) / self.std) @ self.weight + self.bias, dim=-1)


def distinct_argmax(log_probs: torch.Tensor) -> list[int]:
    """One class per row, no class twice: rows claim their best free class, most confident row first."""
    best = log_probs.max(dim=1).values
    order = sorted(range(len(best)), key=lambda r: (-float(best[r]), r))
    taken: set[int] = set()
    out = [0] * len(best)
    for r in order:
        ranked = torch.argsort(log_probs[r], descending=True, stable=True).tolist()
        out[r] = next((c for c in ranked if c not in taken), ranked[0])
        taken.add(out[r])
    return out


class LinearProbe(Interpreter):
    """Latent -> items with a linear softmax classifier per task (no LLM)."""

    name = "linear_probe"
    kind = "baseline"
    trainable = False
    uses_latents = True

    def __init__(self, epochs: int = 5, lr: float = 1e-2, batch_size: int = 256, weight_decay: float = 0.0):
        self.settings = {"epochs": epochs, "lr": lr, "batch_size": batch_size, "weight_decay": weight_decay}
        self.probes: dict[str, SoftmaxProbe] = {}
        self.modes: dict[str, str] = {}
        self.fingerprint: str | None = None

    def identity(self) -> dict:
        return {"name": self.name, **self.settings, "train": self.fingerprint}

    def fit(self, train, valid, progress=None) -> dict:
        by_task: dict[str, list] = {}
        for inst in train:
            by_task.setdefault(inst.task, []).append(inst)
        shared: dict[str, tuple[SoftmaxProbe, float]] = {}  # data hash -> fit (seq_recovery = description)
        info: dict[str, dict] = {}
        whole = hashlib.sha256()
        for task, insts in sorted(by_task.items()):
            mode = probe_mode(insts[0])
            x, y = self._training_pairs(insts, mode)
            key = hashlib.sha256(x.numpy().tobytes() + y.numpy().tobytes()).hexdigest()
            whole.update(f"{task}:{mode}:{key}".encode())
            if key not in shared:
                shared[key] = SoftmaxProbe.train(
                    x, y, self.ctx.data.n_items, seed=self.ctx.seed, **self.settings
                )
            self.probes[task], last_loss = shared[key]
            self.modes[task] = mode
            info[task] = {"mode": mode, "pairs": len(y), "train_loss_last": round(last_loss, 4)}
        self.fingerprint = whole.hexdigest()[:16]
        return {"tasks": info}

    @staticmethod
    def _training_pairs(insts, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
        if mode == "positions":
            xs, ys = [], []
            for inst in insts:
                states, items = position_pairs(inst)
                xs.append(states)
                ys.extend(items)
            x = torch.cat(xs)
        else:
            x = torch.stack([last_features(i) for i in insts])
            ys = [i.target_items[0] for i in insts]
        return x, torch.tensor(ys, dtype=torch.long) - 1

    def predict(self, inst) -> list[int]:
        """The item ids of ``inst``'s answer (empty when its task had no training instances)."""
        probe = self.probes.get(inst.task)
        if probe is None:
            return []
        with torch.no_grad():
            if self.modes[inst.task] == "positions":
                states = inst.latents[-1].detach().to("cpu", torch.float32)
                return [c + 1 for c in distinct_argmax(probe.log_probs(states))]
            return [int(probe.log_probs(last_features(inst)[None]).argmax()) + 1]

    def generate(self, instances, *, max_new_tokens, stop, progress=None) -> list[str]:
        return [answer_text(inst.task, self.predict(inst), self.ctx.data, inst.version) for inst in instances]
