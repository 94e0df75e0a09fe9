"""Per-position adapter: one soft token for each of the L hidden states."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from recbench.adapters.base import Adapter


class PerPositionAdapter(Adapter):
    """One soft token per position: a shared Linear(d, H) on each of the L states (+ learned positions)."""

    name = "per_position"

    def __init__(
        self,
        rec_dim: int,
        llm_dim: int,
        window: int,
        token_norm: float | None = None,
        *,
        position_embedding: bool = True,
        **unknown: Any,
    ):
        super().__init__(rec_dim, llm_dim, window, token_norm, **unknown)
        self.n_tokens = window
        self.proj = nn.Linear(rec_dim, llm_dim)
        # zeros: starts as a pure shared projection; RoPE already tells the LLM the order, this lets the
        # adapter mark "oldest" vs "most recent" explicitly if that helps
        self.position = nn.Parameter(torch.zeros(window, llm_dim)) if position_embedding else None

    def project(self, latents: torch.Tensor) -> torch.Tensor:
        """[B, L, d] -> [B, L, H]."""
        self._check_window(latents)
        out = self.proj(latents)
        return out + self.position if self.position is not None else out

    def hparams(self) -> dict[str, Any]:
        return {"position_embedding": self.position is not None}
