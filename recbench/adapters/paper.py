"""RecInterpreter's adapter: a learned weighted sum over the window, then one linear map to one token."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from recbench.adapters.base import Adapter


class PaperAdapter(Adapter):
    """RecInterpreter-style: softmax-weighted sum over the L positions, then Linear(d, H) -> 1 soft token."""

    name = "paper"

    def __init__(
        self, rec_dim: int, llm_dim: int, window: int, token_norm: float | None = None, **unknown: Any
    ):
        super().__init__(rec_dim, llm_dim, window, token_norm, **unknown)
        # zeros = a plain mean at init; training learns which positions matter
        self.position_logits = nn.Parameter(torch.zeros(window))
        self.proj = nn.Linear(rec_dim, llm_dim)

    def project(self, latents: torch.Tensor) -> torch.Tensor:
        """[B, L, d] -> [B, 1, H]."""
        self._check_window(latents)
        weights = torch.softmax(self.position_logits, dim=0)
        pooled = torch.einsum("l,bld->bd", weights, latents)
        return self.proj(pooled).unsqueeze(1)
