"""SASRec and GRU4Rec: shapes, padding, determinism, cache, checkpoints."""

from __future__ import annotations

import pytest
import torch

from recbench.cache import sha256_of_file
from recbench.errors import CheckpointError
from recbench.recommenders.base import pad_left, training_chunks
from recbench.recommenders.evaluate import popularity_metrics, target_ranks
from recbench.recommenders.gru4rec import GRU4Rec
from recbench.recommenders.sasrec import SASRec
from recbench.recommenders.train import train_recommender

MODELS = [SASRec, GRU4Rec]


@pytest.mark.parametrize("cls", MODELS)
def test_encode_and_score_shapes(cls):
    model = cls(24).eval()
    batch = pad_left([[1, 2, 3], [4, 5, 6, 7, 8]], 10)
    assert model.encode(batch).shape == (2, 10, model.config.hidden)
    assert model.score(batch).shape == (2, 24)


@pytest.mark.parametrize("cls", MODELS)
def test_extra_left_padding_does_not_change_the_last_state(cls):
    torch.manual_seed(0)
    model = cls(24).eval()
    short = model.encode(pad_left([[3, 9, 4]], 3))[0, -1]
    long = model.encode(pad_left([[3, 9, 4]], 12))[0, -1]
    assert torch.allclose(short, long, atol=1e-5)


@pytest.mark.parametrize("cls", MODELS)
def test_padding_positions_are_zero(cls):
    model = cls(24).eval()
    out = model.encode(pad_left([[3, 9]], 6))
    assert out[0, :4].abs().sum() == 0 and out[0, 4:].abs().sum() > 0


def test_training_chunks_cover_long_users():
    inputs, targets = training_chunks([list(range(1, 12))], max_len=4)
    assert inputs.shape == targets.shape and inputs.shape[1] == 4
    # every item except the very first is a target somewhere
    assert set(targets[targets > 0].tolist()) == set(range(2, 12))


def test_ties_rank_against_the_target():
    scores = torch.zeros(1, 5)
    assert target_ranks(scores, [[]], [3]).item() == 4


def test_history_items_are_excluded_from_ranking():
    scores = torch.tensor([[5.0, 4.0, 3.0, 2.0]])
    assert target_ranks(scores, [[1, 2]], [3]).item() == 0
    assert target_ranks(scores, [[]], [3]).item() == 2


def test_popularity_ranks_by_training_count():
    train = [[1, 2, 2], [2, 3]]
    m = popularity_metrics(train, [([1], 2), ([9], 4)], n_items=9, ks=(1,))
    assert m["hr@1"] == 0.5  # item 2 is the most popular; item 4 never seen


@pytest.mark.parametrize("rec", ["sasrec", "gru4rec"])
def test_training_beats_popularity_on_tiny_data(rec, tiny_data, fresh_cache):
    trained = train_recommender(tiny_data, rec, epochs=30, max_len=12, seed=0)
    assert trained.test["hr@10"] >= trained.popularity["hr@10"]
    assert trained.test["ndcg@10"] > trained.popularity["ndcg@10"]


def test_same_seed_same_weights_and_metrics(tiny_data, fresh_cache):
    a = train_recommender(tiny_data, "sasrec", epochs=3, max_len=8, seed=1)
    b = train_recommender(tiny_data, "sasrec", epochs=3, max_len=8, seed=1, overwrite=True)
    assert not b.from_cache and a.test == b.test and a.sha256 == b.sha256
    c = train_recommender(tiny_data, "sasrec", epochs=3, max_len=8, seed=2)
    assert c.checkpoint != a.checkpoint


def test_second_run_loads_the_cache(tiny_data, fresh_cache):
    a = train_recommender(tiny_data, "gru4rec", epochs=3, max_len=8, seed=0)
    b = train_recommender(tiny_data, "gru4rec", epochs=3, max_len=8, seed=0)
    assert not a.from_cache and b.from_cache
    assert a.test == b.test and a.sha256 == b.sha256


def test_checkpoint_is_safetensors_and_json(tiny_data, fresh_cache):
    a = train_recommender(tiny_data, "sasrec", epochs=2, max_len=8)
    assert sorted(p.name for p in a.checkpoint.iterdir()) == ["config.json", "model.safetensors"]
    assert sha256_of_file(a.checkpoint / "model.safetensors") == a.sha256


def test_corrupted_checkpoint_is_named(tiny_data, fresh_cache):
    a = train_recommender(tiny_data, "sasrec", epochs=2, max_len=8)
    weights = a.checkpoint / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"model\.safetensors: checkpoint is truncated or corrupted"):
        train_recommender(tiny_data, "sasrec", epochs=2, max_len=8)
    # --overwrite repairs it
    assert not train_recommender(tiny_data, "sasrec", epochs=2, max_len=8, overwrite=True).from_cache


def test_garbled_checkpoint_config_is_named(tiny_data, fresh_cache):
    a = train_recommender(tiny_data, "sasrec", epochs=2, max_len=8)
    (a.checkpoint / "config.json").write_text('{"name": "sasr')
    with pytest.raises(CheckpointError, match=r"config\.json: checkpoint config is not valid JSON"):
        SASRec.load(a.checkpoint)


def test_interrupted_save_leaves_no_cache_entry(tiny_data, fresh_cache, monkeypatch):
    def explode(self, folder):
        (folder / "model.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(SASRec, "save", explode)
    with pytest.raises(KeyboardInterrupt):
        train_recommender(tiny_data, "sasrec", epochs=1, max_len=8)
    assert list((fresh_cache / "recommenders").iterdir()) == []
