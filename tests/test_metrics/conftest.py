"""A small hand-made catalogue with the titles that trip matchers up, and shared fixtures."""

from __future__ import annotations

import numpy as np
import pytest

from recbench.data.base import Item
from recbench.metrics.base import MetricContext, Sample

TITLES = [
    ("Toy Story (1995)", ("Animation", "Children's", "Comedy")),  # 1
    ("Usual Suspects, The (1995)", ("Crime", "Thriller")),  # 2
    ("Seven (Se7en) (1995)", ("Crime", "Thriller")),  # 3
    ("Misérables, Les (1995)", ("Drama", "Musical")),  # 4
    ("Shall We Dance? (1996)", ("Comedy",)),  # 5
    ("Star Wars (1977)", ("Action", "Sci-Fi")),  # 6
    ("Heat (1995)", ("Action", "Crime")),  # 7
    ("Ran (1985)", ("Drama", "War")),  # 8
    ("Chasing Amy (1997)", ("Comedy",)),  # 9
    ("Chasing Amy (1997)", ("Comedy",)),  # 10: the same title string again, as in ML-100K
    ("M*A*S*H (1970)", ("Comedy", "War")),  # 11
    ("Plus+ [Remix] (2001)", ("Comedy",)),  # 12: regex metacharacters
    ("Godfather, The (1972)", ("Crime", "Drama")),  # 13
    ("Godfather: Part II, The (1974)", ("Crime", "Drama")),  # 14
    ("Kids (1995)", ("Drama",)),  # 15
    ("unkonwn", ("unknown",)),  # 16: ML-100K's placeholder item
    ("Casablanca (1942)", ("Drama", "Romance", "War")),  # 17
    ("Game, The (1997)", ("Mystery", "Thriller")),  # 18
]


def make_catalog() -> list[Item]:
    """The hand-made catalogue; item id i is ``make_catalog()[i - 1]``."""
    out = []
    for i, (title, genres) in enumerate(TITLES, start=1):
        year = int(title[-5:-1]) if title.endswith(")") else None
        out.append(Item(str(i), title, genres, year))
    return out


def sample(output: str, target_items: list[int], **kw) -> Sample:
    """A sample with defaults for the fields a test does not care about."""
    fields = {
        "id": "s",
        "task": "t",
        "prompt": "p",
        "target": "",
        "output": output,
        "target_items": target_items,
    }
    fields.update(kw)
    return Sample(**fields)


class FakeEmbedder:
    """Embeds known texts as given vectors (normalised) and counts calls; unknown texts -> ``default``."""

    def __init__(self, vectors: dict[str, list[float]], default: list[float]):
        self.vectors = {k: _unit(v) for k, v in vectors.items()}
        self.default = _unit(default)
        self.calls = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        return np.stack([self.vectors.get(t, self.default) for t in texts]).astype(np.float32)


class NoEmbedder:
    """Stands in where no metric should need embeddings."""

    def encode(self, texts: list[str]) -> np.ndarray:
        raise AssertionError("this metric should not embed anything")


def _unit(v: list[float]) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    return a / np.linalg.norm(a)


@pytest.fixture()
def catalog() -> list[Item]:
    return make_catalog()


@pytest.fixture()
def ctx(catalog) -> MetricContext:
    """A context for item and text-overlap metrics: using the embedder fails the test."""
    return MetricContext(catalog, embedder=NoEmbedder())


@pytest.fixture(scope="session")
def real_ctx() -> MetricContext:
    """A context with the real offline MiniLM embedder (loaded once per test session)."""
    return MetricContext(make_catalog(), device="cpu")
