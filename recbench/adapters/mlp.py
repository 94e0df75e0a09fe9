"""MLP adapter (LLaRA / RecExplainer style): a 2-layer GELU MLP on each position.

``store="float16"`` keeps the weights in half precision on disk (half the size: the fast profile's
adapter ships inside the package); training rounds them to half precision when it ends, so the run
that trains and every run that loads the checkpoint compute with the same numbers.

With ``tokens_per_item=T`` each position becomes T soft tokens (the MLP's output is cut into T
vectors), so an item can be handed to the LLM as a short "word" rather than a single vector: the
alignment warm start (recbench/interpreters/align.py) fits those T tokens to the first T tokens of the
item's title, which a frozen LLM can then read and copy.

With ``with_previous=True`` each position reads its state and the one before it, ``[h_{t-1}; h_t]``
(zeros before the first): a recurrent recommender such as GRU4Rec keeps the item it just read in the
step between two states, not in either state alone (docs/probes.md measures it).

With ``belief=True`` the soft tokens end with one more group of T: a small map turns the last state
into a state-like vector that the same MLP reads, and alignment fits that group to the title of the
item the recommender itself ranks first for the window (next_item's target), so the LLM is handed
the recommender's prediction as a word it can copy, beside the window's items.

With ``summary="<task>"`` they end with one more group of T (after the belief group, if any): a small
map turns the mean of the window's states into a state-like vector that the same MLP reads, and
alignment fits that group to the first T tokens of the named task's reference answer for the window
(for description v2, " Drama and Comedy films from the 1990s"), so what the window says about taste
reaches the LLM as words too. The adapter only carries the name; which text it is fitted to is the
training tasks' business (recbench/interpreters/align.py).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from recbench.adapters.base import STORE, Adapter
from recbench.errors import ConfigError


class MLPAdapter(Adapter):
    """2-layer GELU MLP applied to each of the L states -> L soft tokens (LLaRA / RecExplainer style)."""

    name = "mlp"

    def __init__(
        self,
        rec_dim: int,
        llm_dim: int,
        window: int,
        token_norm: float | None = None,
        *,
        hidden: int | None = None,
        tokens_per_item: int = 1,
        store: str = "float32",
        with_previous: bool = False,
        belief: bool = False,
        summary: str | None = None,
        **unknown: Any,
    ):
        super().__init__(rec_dim, llm_dim, window, token_norm, **unknown)
        if hidden is not None and (not isinstance(hidden, int) or isinstance(hidden, bool) or hidden < 1):
            raise ConfigError(f"adapter 'mlp' needs hidden to be an integer >= 1, got {hidden!r}")
        self.hidden = hidden or llm_dim
        if not isinstance(tokens_per_item, int) or tokens_per_item < 1:
            raise ConfigError(f"adapter 'mlp' needs tokens_per_item >= 1, got {tokens_per_item!r}")
        self.tokens_per_item = tokens_per_item
        if store not in STORE:
            raise ConfigError(f"adapter 'mlp' needs store in {', '.join(STORE)}, got {store!r}")
        self.store = store
        self.storage_dtype = STORE[store]
        if not isinstance(with_previous, bool):
            raise ConfigError(f"adapter 'mlp' needs with_previous true or false, got {with_previous!r}")
        self.with_previous = with_previous
        if not isinstance(belief, bool):
            raise ConfigError(f"adapter 'mlp' needs belief true or false, got {belief!r}")
        self.belief = belief
        if summary is not None and (not isinstance(summary, str) or not summary.strip()):
            raise ConfigError(f"adapter 'mlp' needs summary to name a task, got {summary!r}")
        self.summary = summary
        self.n_tokens = (window + belief + (summary is not None)) * tokens_per_item
        if belief:  # the last state -> a state-like vector for the item the recommender ranks first
            self.belief_map = _state_map(rec_dim)
        if summary is not None:  # the window's mean state -> a state-like vector for its summary
            self.summary_map = _state_map(rec_dim)
        self.mlp = nn.Sequential(
            nn.Linear(rec_dim * 2 if with_previous else rec_dim, self.hidden),
            nn.GELU(),
            nn.Linear(self.hidden, llm_dim * tokens_per_item),
        )

    def project(self, latents: torch.Tensor) -> torch.Tensor:
        """[B, L, d] -> [B, (L + belief + summary) * tokens_per_item, H] (an item's tokens are adjacent)."""
        self._check_window(latents)
        extra = []
        if self.belief:  # one more group, read through the same MLP: what the recommender predicts
            extra.append(self.belief_map(latents[:, -1:]))
        if self.summary is not None:  # and one for what the whole window says (its taste)
            extra.append(self.summary_map(latents.mean(dim=1, keepdim=True)))
        latents = torch.cat([latents, *extra], dim=1) if extra else latents
        if self.with_previous:
            before = torch.cat([torch.zeros_like(latents[:, :1]), latents[:, :-1]], dim=1)
            latents = torch.cat([before, latents], dim=-1)
        out = self.mlp(latents)
        return out.reshape(out.shape[0], self.n_tokens, self.llm_dim)

    def hparams(self) -> dict[str, Any]:
        out: dict[str, Any] = {"hidden": self.hidden}
        if self.tokens_per_item != 1:  # options at their old default are left out: old checkpoints load
            out["tokens_per_item"] = self.tokens_per_item
        if self.store != "float32":
            out["store"] = self.store
        if self.with_previous:
            out["with_previous"] = True
        if self.belief:
            out["belief"] = True
        if self.summary is not None:
            out["summary"] = self.summary
        return out


def _state_map(rec_dim: int) -> nn.Module:
    """A small MLP from a state to a state-like vector (the extra token groups' input to the shared MLP)."""
    return nn.Sequential(nn.Linear(rec_dim, 4 * rec_dim), nn.GELU(), nn.Linear(4 * rec_dim, rec_dim))
