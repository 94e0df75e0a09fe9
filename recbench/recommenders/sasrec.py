"""SASRec (Kang & McAuley, 2018): a causal self-attention encoder over the item sequence."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from recbench.recommenders.base import ModelConfigBase, SequentialRecommender, TrainConfig


@dataclass
class SASRecConfig(ModelConfigBase):
    layers: int = 2
    heads: int = 1


class Block(nn.Module):
    """Pre-norm transformer block: causal self-attention, then a position-wise feed-forward."""

    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Dropout(dropout), nn.Linear(d, d))
        self.drop = nn.Dropout(dropout)
        self.attn_dropout = dropout

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        B, L, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (t.view(B, L, self.heads, d // self.heads).transpose(1, 2) for t in (q, k, v))
        p = self.attn_dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=p)
        x = x + self.drop(self.proj(y.transpose(1, 2).reshape(B, L, d)))
        return x + self.drop(self.ff(self.ln2(x)))


class SASRec(SequentialRecommender):
    """SASRec: causal self-attention over the item sequence (Kang & McAuley 2018)."""

    name = "sasrec"

    def __init__(self, n_items: int, config: SASRecConfig | None = None):
        config = config or SASRecConfig()
        super().__init__(n_items, config)
        d = config.hidden
        self.item_emb = nn.Embedding(n_items + 1, d, padding_idx=0)
        self.pos_emb = nn.Embedding(config.train.max_len, d)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(d, config.heads, config.dropout) for _ in range(config.layers))
        self.ln_f = nn.LayerNorm(d)
        nn.init.normal_(self.item_emb.weight, std=d**-0.5)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()

    def encode(self, items: torch.Tensor) -> torch.Tensor:
        B, L = items.shape
        max_len = self.config.train.max_len
        if L > max_len:
            items, L = items[:, -max_len:], max_len
        # Positions are right-aligned: the last item always gets the last position, as in training.
        pos = torch.arange(max_len - L, max_len, device=items.device)
        x = self.drop(self.item_emb(items) * self.config.hidden**0.5 + self.pos_emb(pos))
        real = items > 0
        causal = torch.ones(L, L, dtype=torch.bool, device=items.device).tril()
        # Each position sees earlier real items and itself (so padding rows never attend to nothing).
        allowed = (causal & real[:, None, :]) | torch.eye(L, dtype=torch.bool, device=items.device)
        allowed = allowed[:, None, :, :]
        for block in self.blocks:
            x = block(x, allowed)
        return self.ln_f(x) * real[..., None]

    def item_embeddings(self) -> torch.Tensor:
        return self.item_emb.weight[1:]

    @classmethod
    def config_from_dict(cls, data: dict) -> SASRecConfig:
        data = dict(data)
        return SASRecConfig(**{**data, "train": TrainConfig(**data["train"])})
