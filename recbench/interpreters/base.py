"""The interpreter protocol: read latents (or not), write text. LLM interpreters and baselines share it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recbench.data.base import SequenceData
from recbench.tasks.instances import Instance

# callable(done, total, loss_or_None[, stage]); stage names a training phase ("align", "train")
Progress = Any


@dataclass
class InterpreterContext:
    """What an interpreter may know about the run it serves."""

    data: SequenceData
    rec_dim: int
    window: int
    device: str
    seed: int


class Interpreter:
    """Base class. Subclasses set ``name``/``kind`` and implement :meth:`generate` (and :meth:`fit` if trained).

    ``kind`` is ``"llm"`` for interpreters built on a language model and ``"baseline"`` otherwise.
    An interpreter whose ``trainable`` is true has its fitted state cached under its identity.
    """

    name = "base"
    kind = "baseline"
    trainable = False
    uses_latents = True
    # set by the fit stage for a trainable interpreter: a recbench.checkpoint.Checkpointer whose folder
    # is keyed like the cache entry; fit() may save its state there and resume from it after a kill
    checkpoint = None

    @classmethod
    def from_config(cls, cfg) -> Interpreter:
        """Build from a :class:`recbench.run.spec.RunSpec` (baselines without options just call ``cls()``)."""
        return cls()

    def setup(self, ctx: InterpreterContext) -> None:
        """Called once before fit/generate with the run's data and dimensions."""
        self.ctx = ctx

    def identity(self) -> dict:
        """Everything that determines this interpreter's outputs (hashed into cache keys)."""
        return {"name": self.name}

    def describe(self) -> dict:
        """The interpreter block of results.json (without training info)."""
        return {
            "kind": self.kind,
            "name": self.name,
            "label": self.name,
            "llm": None,
            "adapter": None,
            "lora": None,
            "config": self.identity(),
        }

    def fit(self, train: list[Instance], valid: list[Instance], progress: Progress = None) -> dict:
        """Learn from training instances; returns training info for results.json."""
        return {}

    def generate(
        self, instances: list[Instance], *, max_new_tokens: int, stop: list[str], progress: Progress = None
    ) -> list[str]:
        raise NotImplementedError

    def save(self, folder: Path) -> None:
        """Write the fitted state (safetensors/JSON only)."""

    def load(self, folder: Path) -> None:
        """Read a state written by :meth:`save`."""
