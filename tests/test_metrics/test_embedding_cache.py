"""CachedEmbedder: one entry per exact encode() call, read back bit for bit, the model loaded only on a miss."""

from __future__ import annotations

import numpy as np

from recbench.metrics.embedding_cache import CachedEmbedder


class FakeEmbedder:
    dim = 3

    def __init__(self):
        self.calls = []

    def encode(self, texts):
        self.calls.append(list(texts))
        rng = np.random.default_rng(len(self.calls))
        return rng.standard_normal((len(texts), 3)).astype(np.float32)


def test_same_call_is_read_back_without_the_model(tmp_path):
    first = CachedEmbedder(folder=tmp_path)
    first._inner = FakeEmbedder()
    a = first.encode(["Heat (1995)", "Casino (1995)"])
    again = CachedEmbedder(folder=tmp_path)  # a new process: no model loaded
    b = again.encode(["Heat (1995)", "Casino (1995)"])
    assert again._inner is None and again.hits == 1
    assert np.array_equal(a, b) and b.dtype == np.float32


def test_other_lists_order_and_overwrite_are_computed(tmp_path):
    emb = CachedEmbedder(folder=tmp_path)
    emb._inner = fake = FakeEmbedder()
    emb.encode(["a", "b"])
    emb.encode(["b", "a"])  # another call: never assembled from per-text entries
    emb.encode(["a", "b"])
    assert fake.calls == [["a", "b"], ["b", "a"]]
    fresh = CachedEmbedder(folder=tmp_path, read=False)
    fresh._inner = fake
    fresh.encode(["a", "b"])
    assert fake.calls[-1] == ["a", "b"] and fresh.misses == 1


def test_damaged_entry_is_recomputed(tmp_path):
    emb = CachedEmbedder(folder=tmp_path)
    emb._inner = fake = FakeEmbedder()
    emb.encode(["x"])
    (entry,) = tmp_path.rglob("*.npy")
    entry.write_bytes(b"not numpy")
    out = emb.encode(["x"])
    assert out.shape == (1, 3) and len(fake.calls) == 2
