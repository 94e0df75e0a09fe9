"""GRU4Rec (Hidasi et al., 2016): a recurrent encoder over the item sequence."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from recbench.recommenders.base import ModelConfigBase, SequentialRecommender, TrainConfig


@dataclass
class GRU4RecConfig(ModelConfigBase):
    layers: int = 1
    dropout: float = 0.3


class GRU4Rec(SequentialRecommender):
    """GRU4Rec: a GRU over the item sequence (Hidasi et al. 2016)."""

    name = "gru4rec"

    def __init__(self, n_items: int, config: GRU4RecConfig | None = None):
        config = config or GRU4RecConfig()
        super().__init__(n_items, config)
        d = config.hidden
        self.item_emb = nn.Embedding(n_items + 1, d, padding_idx=0)
        self.drop = nn.Dropout(config.dropout)
        self.gru = nn.GRU(d, d, num_layers=config.layers, batch_first=True)
        self.out = nn.Linear(d, d)
        nn.init.normal_(self.item_emb.weight, std=d**-0.5)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()

    def encode(self, items: torch.Tensor) -> torch.Tensor:
        B, L = items.shape
        lengths = (items > 0).sum(1)
        # Inputs are left padded; the GRU must start at each row's first real item, so shift
        # every row to the left, run packed, and shift the outputs back into place.
        shift = L - lengths
        cols = (torch.arange(L, device=items.device)[None, :] + shift[:, None]) % L
        left_aligned = items.gather(1, cols)
        x = self.drop(self.item_emb(left_aligned))
        packed = pack_padded_sequence(x, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        h, _ = self.gru(packed)
        h, _ = pad_packed_sequence(h, batch_first=True, total_length=L)
        h = self.out(self.drop(h))
        back = (torch.arange(L, device=items.device)[None, :] - shift[:, None]) % L
        h = h.gather(1, back[..., None].expand(-1, -1, h.shape[-1]))
        return h * (items > 0)[..., None]

    def item_embeddings(self) -> torch.Tensor:
        return self.item_emb.weight[1:]

    @classmethod
    def config_from_dict(cls, data: dict) -> GRU4RecConfig:
        data = dict(data)
        return GRU4RecConfig(**{**data, "train": TrainConfig(**data["train"])})
