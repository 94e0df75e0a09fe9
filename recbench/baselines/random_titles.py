"""Random catalogue titles, never looking at the latent: the floor every interpreter must clear.

Each answer names as many distinct items as the task's target does (the window length, or one),
drawn uniformly from the catalogue with a generator seeded by the run's seed and the instance id,
so a run is reproducible and an instance's answer does not depend on how instances are batched.
"""

from __future__ import annotations

import random

from recbench.baselines.answers import answer_size, answer_text
from recbench.interpreters.base import Interpreter


class RandomTitles(Interpreter):
    """Random catalogue titles (seeded); never looks at the latent."""

    name = "random"
    kind = "baseline"
    trainable = False
    uses_latents = False

    def identity(self) -> dict:
        return {"name": self.name, "seed": self.ctx.seed if hasattr(self, "ctx") else None}

    def predict(self, inst) -> list[int]:
        """The item ids of ``inst``'s answer."""
        n_items = self.ctx.data.n_items
        k = min(answer_size(inst, self.ctx.window), n_items)
        rng = random.Random(f"recbench-random:{self.ctx.seed}:{inst.id}")  # str seeds hash stably (sha512)
        return rng.sample(range(1, n_items + 1), k)

    def generate(self, instances, *, max_new_tokens, stop, progress=None) -> list[str]:
        return [answer_text(inst.task, self.predict(inst), self.ctx.data, inst.version) for inst in instances]
