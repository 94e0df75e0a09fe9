"""ROUGE and embedding similarity: golden values, agreement with rouge_score, real MiniLM sanity."""

from __future__ import annotations

import pytest
from rouge_score import rouge_scorer

from recbench.metrics.text import EmbeddingSimilarity, Rouge1, Rouge2, RougeL

from .conftest import FakeEmbedder, sample

PAIRS = [
    ("the cat sat", "the cat ran"),
    ("running dogs", "run dog"),
    ("The Usual Suspects (1995), Heat (1995)", "Usual Suspects, The (1995)\nHeat (1995)"),
    ("", "some reference"),
    ("Misérables, Les — a musical", "Les Miserables is a musical drama"),
]


def text_samples(pairs):
    return [sample(output, [], target=target) for output, target in pairs]


def test_rouge_golden_values_on_a_hand_made_pair(ctx):
    samples = text_samples([("the cat sat", "the cat ran")])
    assert Rouge1().per_sample(samples, ctx) == [pytest.approx(2 / 3)]
    assert Rouge2().per_sample(samples, ctx) == [pytest.approx(1 / 2)]
    assert RougeL().per_sample(samples, ctx) == [pytest.approx(2 / 3)]


def test_rouge_uses_the_porter_stemmer(ctx):
    assert Rouge1().per_sample(text_samples([("running dogs", "run dog")]), ctx) == [1.0]


@pytest.mark.parametrize(
    ("metric", "key"), [(Rouge1(), "rouge1"), (Rouge2(), "rouge2"), (RougeL(), "rougeL")]
)
def test_rouge_equals_rouge_score_called_directly(metric, key, ctx):
    scorer = rouge_scorer.RougeScorer([key], use_stemmer=True)
    expected = [scorer.score(target, output)[key].fmeasure for output, target in PAIRS]
    assert metric.per_sample(text_samples(PAIRS), ctx) == expected


def test_embedding_similarity_is_the_cosine_of_the_two_embeddings(catalog):
    from recbench.metrics.base import MetricContext

    fake = FakeEmbedder({"a": [1, 0], "b": [0, 1], "c": [1, 1]}, default=[-1, 0])
    ctx = MetricContext(catalog, embedder=fake)
    out = EmbeddingSimilarity().per_sample(
        text_samples([("a", "a"), ("a", "b"), ("a", "c"), ("a", "zzz")]), ctx
    )
    assert out == [pytest.approx(1.0), pytest.approx(0.0), pytest.approx(2**-0.5), pytest.approx(-1.0)]
    assert fake.calls == 1  # every text in one batch


@pytest.mark.slow
def test_embedding_similarity_of_identical_strings_is_one_with_real_minilm(real_ctx):
    samples = text_samples(
        [
            ("A tense crime thriller.", "A tense crime thriller."),
            ("A tense crime thriller.", "A gripping heist film about criminals."),
            ("A tense crime thriller.", "Cute animated talking toys for children."),
        ]
    )
    same, related, unrelated = EmbeddingSimilarity().per_sample(samples, real_ctx)
    assert same == pytest.approx(1.0, abs=1e-5)
    assert same > related > unrelated
    assert -1.0 <= unrelated <= 1.0
