"""A training stopped after any checkpoint resumes from it and ends with the bits of an uninterrupted one.

In-process: a checkpointer that "dies" (raises) at a chosen checkpoint stands in for the kill; the
state on disk is then exactly what a kill -9 at that moment leaves (see test_kill.py for real kills).
"""

from __future__ import annotations

import pytest
import torch

from recbench import registry
from recbench.checkpoint import Checkpointer
from recbench.data.splits import leave_one_out
from recbench.recommenders.train import make_config


class Killed(Exception):
    pass


class DyingCheckpointer(Checkpointer):
    """Dies at checkpoint ``(stage, step)``: before writing it, or just after (``after=True``)."""

    def __init__(self, folder, die_at: tuple[str, int], after: bool = False, **kw):
        super().__init__(folder, **kw)
        self.die_at, self.after = die_at, after

    def save(self, stage, step, tensors, meta):
        if (stage, step) == self.die_at and not self.after:
            raise Killed
        super().save(stage, step, tensors, meta)
        if (stage, step) == self.die_at:
            raise Killed


def same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --- the recommender -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("patience", "die_at", "after"),
    [(10, 3, False), (10, 2, True), (1, None, False), (1, None, True)],
    ids=["mid-training", "just-after-a-checkpoint", "at-the-early-stop", "after-the-early-stop"],
)
def test_recommender_resumes_from_its_last_epoch(tmp_path, tiny_data, patience, die_at, after):
    split = leave_one_out(tiny_data)
    cls = registry.recommenders.get("sasrec")
    config = make_config(cls, max_len=8, epochs=5)
    config.train.patience = patience

    def fit(checkpoint=None):
        torch.manual_seed(0)
        return cls(tiny_data.n_items, config).fit(split.train, split.valid, seed=0, checkpoint=checkpoint)

    clean = fit()
    epochs = clean.history["epochs"]
    if die_at is None:  # the epoch whose checkpoint ends training (early stopping)
        assert epochs < 5
        die_at = epochs
    with pytest.raises(Killed):
        fit(DyingCheckpointer(tmp_path, ("epoch", die_at), after=after, every_steps=1))
    torch.manual_seed(123)  # whatever the global RNG holds now, the resume restores the saved one
    resumed = fit(Checkpointer(tmp_path, every_steps=1))
    assert resumed.history["resumed_from_epoch"] == (die_at if after else die_at - 1)
    assert same_state(clean.state_dict(), resumed.state_dict())
    for key in ("epochs", "best_epoch", "train_loss", "valid_ndcg@10"):
        assert clean.history[key] == resumed.history[key], key


# --- the interpreter: alignment, then end-to-end training (LoRA with dropout: the RNG matters) ----------


@pytest.fixture(scope="module")
def tiny_llm():
    from recbench.llms import load_llm

    return load_llm("tiny-random", device="cpu")


def test_alignment_resumes_mid_stage_and_after_it(tmp_path, tiny_llm):
    from recbench.adapters.mlp import MLPAdapter
    from recbench.interpreters.align import align_adapter

    embedding = tiny_llm.model.get_input_embeddings().weight
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(12, 4, 16, generator=g)
    ids = torch.randint(0, embedding.shape[0], (12, 8), generator=g)

    def align(checkpoint=None, resume=None):
        torch.manual_seed(0)
        adapter = MLPAdapter(16, embedding.shape[1], 4, hidden=32, tokens_per_item=2)
        adapter.calibrate(embedding)
        report = align_adapter(
            adapter, embedding, latents, ids, 20, 0, 8, checkpoint=checkpoint, resume=resume
        )
        return adapter, report

    clean, report = align()
    for stage_step, after in ((("align", 7), False), (("align", 20), True)):
        folder = tmp_path / str(after)
        with pytest.raises(Killed):
            align(DyingCheckpointer(folder, stage_step, after=after, every_steps=1))
        saved = Checkpointer(folder).load()
        assert saved.step == (20 if after else 6)
        resumed, again = align(Checkpointer(folder, every_steps=1), saved)
        assert same_state(clean.state_dict(), resumed.state_dict())
        assert {k: v for k, v in again.items() if k != "align_seconds"} == {
            k: v for k, v in report.items() if k != "align_seconds"
        }


def test_end_to_end_training_resumes_with_identical_weights_losses_and_rng(tmp_path):
    from recbench.adapters.per_position import PerPositionAdapter
    from recbench.interpreters.soft_prompt import PromptExample, SoftPromptModel
    from recbench.llms import load_llm

    g = torch.Generator().manual_seed(1)
    titles = ["Toy Story", "Heat", "Casino", "Fargo", "Babe", "Clueless", "Jumanji"]
    train = [PromptExample("Seen: <rec_emb>", [torch.randn(4, 16, generator=g)], t) for t in titles]

    def fit(checkpoint=None, resume=None):
        llm = load_llm("tiny-random", device="cpu")  # LoRA goes into the model in place: a fresh copy
        torch.manual_seed(0)
        model = SoftPromptModel(
            llm, PerPositionAdapter(16, llm.hidden_size, 4), lora={"r": 4, "dropout": 0.3}
        )
        torch.manual_seed(42)  # the global state training starts from (it must come back after)
        history = model.fit(
            train, train[:2], steps=7, batch_size=3, lr=1e-2, weight_decay=0.01, seed=0, warmup=3,
            checkpoint=checkpoint, resume=resume, checkpoint_meta={"align_report": {}},
        )  # fmt: skip
        return model, history, torch.get_rng_state()

    clean, history, rng = fit()
    with pytest.raises(Killed):
        fit(DyingCheckpointer(tmp_path, ("train", 4), every_steps=1))
    saved = Checkpointer(tmp_path).load()
    assert (saved.stage, saved.step) == ("train", 3)
    torch.manual_seed(7)
    resumed, again, rng_again = fit(Checkpointer(tmp_path, every_steps=1), saved)
    assert same_state(clean.adapter_state(), resumed.adapter_state())  # adapter and LoRA weights
    assert again["train_loss"] == history["train_loss"] and again["valid_loss"] == history["valid_loss"]
    assert torch.equal(rng, rng_again)
