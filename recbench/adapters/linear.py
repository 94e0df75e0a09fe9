"""Linear adapter: the last position's state -> k soft tokens."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from recbench.adapters.base import Adapter
from recbench.errors import ConfigError


class LinearAdapter(Adapter):
    """Last position's hidden state -> k soft tokens through one Linear(d, k*H) (default k=1)."""

    name = "linear"

    def __init__(
        self,
        rec_dim: int,
        llm_dim: int,
        window: int,
        token_norm: float | None = None,
        *,
        k: int = 1,
        **unknown: Any,
    ):
        super().__init__(rec_dim, llm_dim, window, token_norm, **unknown)
        if k < 1:
            raise ConfigError(f"adapter 'linear' needs k >= 1 soft tokens, got {k}")
        self.k = self.n_tokens = k
        self.proj = nn.Linear(rec_dim, k * llm_dim)

    def project(self, latents: torch.Tensor) -> torch.Tensor:
        """[B, L, d] -> [B, k, H] from the last position only (the state SASRec scores the next item with)."""
        return self.proj(latents[:, -1]).view(latents.shape[0], self.k, self.llm_dim)

    def hparams(self) -> dict[str, Any]:
        return {"k": self.k}
