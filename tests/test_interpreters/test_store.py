"""Adapters kept in half precision on disk: half the bytes, and the same numbers before and after saving."""

from __future__ import annotations

import pytest
import torch

from recbench.adapters.base import WEIGHTS, load_adapter, save_adapter
from recbench.adapters.mlp import MLPAdapter
from recbench.errors import ConfigError


def _adapter(store: str) -> MLPAdapter:
    torch.manual_seed(0)
    adapter = MLPAdapter(8, 16, 3, hidden=64, tokens_per_item=2, store=store)
    adapter.calibrate(torch.randn(100, 16))
    return adapter


def test_float16_store_halves_the_file_and_round_trips_exactly(tmp_path):
    full, half = _adapter("float32"), _adapter("float16")
    half.round_to_storage()
    save_adapter(full, tmp_path / "full")
    save_adapter(half, tmp_path / "half")
    size_full = (tmp_path / "full" / WEIGHTS).stat().st_size
    size_half = (tmp_path / "half" / WEIGHTS).stat().st_size
    assert size_half < 0.55 * size_full
    x = torch.randn(5, 3, 8)
    loaded = load_adapter(tmp_path / "half")
    assert loaded.hparams() == {"hidden": 64, "tokens_per_item": 2, "store": "float16"}
    assert torch.equal(loaded(x), half(x))  # what was generated with is what is read back


def test_rounding_changes_the_weights_only_when_stored_in_half():
    full, half = _adapter("float32"), _adapter("float16")
    before = [p.clone() for p in full.parameters()]
    full.round_to_storage()
    assert all(torch.equal(a, b) for a, b in zip(before, full.parameters(), strict=True))
    half.round_to_storage()
    assert all(torch.equal(p, p.half().float()) for p in half.parameters())


def test_an_unknown_store_is_one_line():
    with pytest.raises(ConfigError, match="store in float32, float16, int8, got 'int3'"):
        MLPAdapter(8, 16, 3, store="int3")


def test_int8_store_round_trips_exactly_and_is_a_quarter_of_the_bytes(tmp_path):
    full, small = _adapter("float32"), _adapter("int8")
    small.round_to_storage()
    save_adapter(full, tmp_path / "full")
    save_adapter(small, tmp_path / "small")
    assert (tmp_path / "small" / WEIGHTS).stat().st_size < 0.4 * (tmp_path / "full" / WEIGHTS).stat().st_size
    x = torch.randn(5, 3, 8)
    assert torch.equal(load_adapter(tmp_path / "small")(x), small(x))
    from recbench.adapters.base import _quantize

    w = small.mlp[2].weight  # on the int8 grid already: quantizing it again is exact
    q, scale = _quantize(w)
    assert torch.equal(q.float() * scale, w) and int(q.abs().max()) <= 127


def test_int8_quantizing_twice_changes_nothing():
    from recbench.adapters.base import _quantize

    w = torch.randn(50, 40) * torch.logspace(-3, 2, 50)[:, None]
    q, scale = _quantize(w)
    again, scale2 = _quantize(q.float() * scale)
    assert torch.equal(q, again) and torch.equal(scale, scale2)
