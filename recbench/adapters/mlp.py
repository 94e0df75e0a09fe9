"""MLP adapter (LLaRA / RecExplainer style): a 2-layer GELU MLP on each position."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from recbench.adapters.base import Adapter
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
        **unknown: Any,
    ):
        super().__init__(rec_dim, llm_dim, window, token_norm, **unknown)
        self.hidden = hidden or llm_dim
        if self.hidden < 1:
            raise ConfigError(f"adapter 'mlp' needs hidden >= 1, got {hidden}")
        self.n_tokens = window
        self.mlp = nn.Sequential(nn.Linear(rec_dim, self.hidden), nn.GELU(), nn.Linear(self.hidden, llm_dim))

    def project(self, latents: torch.Tensor) -> torch.Tensor:
        """[B, L, d] -> [B, L, H]."""
        self._check_window(latents)
        return self.mlp(latents)

    def hparams(self) -> dict[str, Any]:
        return {"hidden": self.hidden}
