"""bench/probe_positions.py: per-position probes find the offset a latent was built to encode."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import torch

from recbench.data.splits import Window

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "probe_positions.py"
_spec = importlib.util.spec_from_file_location("probe_positions", SCRIPT)
probe_positions = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(probe_positions)

N_ITEMS, LENGTH = 12, 5


def windows(n: int, seed: int) -> list[Window]:
    """Windows of distinct items (so item t never equals item t+1), each with a next item."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        seq = rng.sample(range(1, N_ITEMS + 1), LENGTH + 1)
        out.append(Window(f"u{i}", 0, tuple(seq[:LENGTH]), seq[LENGTH]))
    return out


def next_item_latents(ws: list[Window], embeddings: torch.Tensor) -> torch.Tensor:
    """``[N, L, d]``: position t holds item t+1's embedding exactly (the last one, the next item's)."""
    return torch.stack([embeddings[torch.tensor([*w.items[1:], w.next_item]) - 1] for w in ws])


def test_offset_targets_shift_within_the_window_and_use_the_next_item_at_the_end():
    w = [Window("u", 0, (3, 1, 4, 5, 9), 2)]
    assert probe_positions.offset_targets(w, -1).tolist() == [[0, 3, 1, 4, 5]]
    assert probe_positions.offset_targets(w, 0).tolist() == [[3, 1, 4, 5, 9]]
    assert probe_positions.offset_targets(w, 1).tolist() == [[1, 4, 5, 9, 2]]


def test_hits_counts_the_target_among_the_k_best_columns():
    scores = torch.tensor([[0.1, 0.9, 0.5], [0.7, 0.2, 0.1]])
    found = probe_positions.hits(scores, torch.tensor([3, 3]), ks=(1, 2))
    assert found[1].tolist() == [0.0, 0.0]
    assert found[2].tolist() == [1.0, 0.0]


def test_latents_that_encode_the_next_item_read_as_offset_plus_one_at_every_position():
    embeddings = torch.eye(N_ITEMS)  # orthogonal item vectors: retrieval is exact
    train_w, test_w = windows(400, seed=1), windows(120, seed=2)
    cells = probe_positions.probe_cells(
        next_item_latents(train_w, embeddings), train_w, next_item_latents(test_w, embeddings), test_w,
        N_ITEMS, embeddings, epochs=20, mlp_epochs=30, resamples=200,
    )  # fmt: skip
    cell = {(c["reader"], c["position"], c["offset"]): c for c in cells}
    for t in range(LENGTH):
        for reader in ("linear", "retrieval"):
            plus_one = cell[(reader, t, 1)]["top1"]
            assert (plus_one["value"], plus_one["low"], plus_one["high"], plus_one["n"]) == (
                1.0,
                1.0,
                1.0,
                120,
            )
            assert probe_positions.best_offset(cells, reader, t) == 1
        # item t is never item t+1 here, so the recommender-style reading of item t is exactly wrong
        assert cell[("retrieval", t, 0)]["top1"]["value"] == 0.0
        assert cell[("linear", t, 0)]["top1"]["value"] < 0.3  # chance is 1/11
        assert cell[("popular", t, 1)]["top1"]["value"] < 0.3
        assert cell[("mlp", t, 0)]["top1"]["value"] < 0.3
        assert ("mlp", t, 1) not in cell  # the MLP readers read the item at the position only
    # with its predecessor, a position holds its own item (the predecessor encodes it), except the first
    for t in range(1, LENGTH):
        for reader in ("linear_pair", "mlp_pair"):
            assert cell[(reader, t, 0)]["top1"]["value"] == 1.0
    assert cell[("mlp_pair", 0, 0)]["top1"]["value"] < 0.3
    assert cell[("linear", 0, -1)]["top1"] is None  # no item before the window's first
    assert cell[("retrieval", 0, -1)]["top10"] is None
    table = probe_positions.format_table("toy", cells)
    assert "100.0 [100.0, 100.0] / 100.0" in table and "5 (last)" in table and "(not run)" in table
