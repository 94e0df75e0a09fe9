"""knn_probe and linear_probe: read the latent, no LLM."""

from __future__ import annotations

from dataclasses import replace

import torch

from recbench.baselines.knn_probe import KNNProbe, flat_latents
from recbench.baselines.linear_probe import LinearProbe
from recbench.baselines.random_titles import RandomTitles
from recbench.data import make_windows, split_windows_by_user
from recbench.tasks import build_instances, load_task
from tests.test_baselines.conftest import TASKS, WINDOW, context, mean_metric


def generate(interp, instances):
    return interp.generate(instances, max_new_tokens=8, stop=["\n"])


def fitted(cls, tiny, train=None, **kwargs):
    interp = cls(**kwargs)
    interp.setup(context(tiny.data))
    interp.fit(tiny.train if train is None else train, [])
    return interp


def test_knn_answers_a_training_instance_with_its_own_target(tiny_instances):
    interp = fitted(KNNProbe, tiny_instances)
    for task in TASKS:
        train = [i for i in tiny_instances.train if i.task == task]
        outputs = generate(interp, train)
        for inst, out in zip(train, outputs, strict=True):
            if out != inst.target:  # only allowed when an earlier training instance has the same latents
                twins = [o for o in train if torch.equal(flat_latents(o), flat_latents(inst))]
                assert twins[0] is not inst and twins[0].target == out
        assert sum(o == i.target for i, o in zip(train, outputs, strict=True)) >= 0.9 * len(train)


def test_knn_with_distinct_synthetic_latents_is_exact(tiny_instances):
    gen = torch.Generator().manual_seed(0)
    train = [
        replace(i, latents=[torch.randn(t.shape, generator=gen) for t in i.latents])
        for i in tiny_instances.train
    ]
    interp = fitted(KNNProbe, tiny_instances, train)
    assert generate(interp, train) == [i.target for i in train]


def test_knn_identity_tracks_the_training_set(tiny_instances):
    a = fitted(KNNProbe, tiny_instances)
    b = fitted(KNNProbe, tiny_instances, tiny_instances.train[: len(tiny_instances.train) // 2])
    assert a.identity() != b.identity()
    assert a.identity() == fitted(KNNProbe, tiny_instances).identity()


def synthetic(data, task_names=("seq_recovery", "residual_id", "description"), dim=16, seed=0):
    """Instances whose latents encode the items perfectly: position p holds item p's random embedding.

    (next_item's target is the recommender's own top-1: there is no recommender here.)
    """
    gen = torch.Generator().manual_seed(seed)
    table = torch.randn(data.n_items + 1, dim, generator=gen)
    splits = split_windows_by_user(make_windows(data, WINDOW, stride=1), seed=seed)

    def encode(items):
        rows = [torch.zeros(dim)] * (WINDOW - len(items)) + [table[i] for i in items]
        return torch.stack(rows)

    def instances(windows):
        out = {}
        for name in task_names:
            insts = build_instances(load_task(name), windows, data)
            for inst in insts:
                inst.latents = [encode(inst.sequence(s)) for s in inst.sources]
            out[name] = insts
        return out

    train = instances(splits["train"])
    return [i for insts in train.values() for i in insts], instances(splits["test"])


def test_linear_probe_reads_perfectly_encoded_items(tiny_instances):
    data = tiny_instances.data
    train, test = synthetic(data)
    probe, rand = LinearProbe(epochs=30), RandomTitles()
    for interp in (probe, rand):
        interp.setup(context(data))
        interp.fit(train, [])
    insts = test["seq_recovery"]
    recall = mean_metric("item_recall", insts, generate(probe, insts), data)
    floor = mean_metric("item_recall", insts, generate(rand, insts), data)
    assert recall >= 0.95 and recall > floor + 0.5
    residual = test["residual_id"]
    assert mean_metric("hit_at_1", residual, generate(probe, residual), data) >= 0.95
    # a linear map that reads the items writes exactly the targets
    assert sum(o == i.target for i, o in zip(insts, generate(probe, insts), strict=True)) >= 0.9 * len(insts)


def test_linear_probe_names_distinct_items_and_is_deterministic(tiny_instances):
    a = fitted(LinearProbe, tiny_instances)
    b = fitted(LinearProbe, tiny_instances)
    for task in TASKS:
        insts = tiny_instances.test[task]
        assert generate(a, insts) == generate(b, insts)
    for inst in tiny_instances.test["seq_recovery"]:
        items = a.predict(inst)
        assert len(items) == len(set(items)) == WINDOW
    assert a.identity() == b.identity() and a.identity()["train"]
    assert a.probes["seq_recovery"] is a.probes["description"]  # identical training data: one fit


def test_linear_probe_beats_random_on_tiny_real_latents(tiny_instances):
    data = tiny_instances.data
    probe, rand = fitted(LinearProbe, tiny_instances), fitted(RandomTitles, tiny_instances)
    insts = tiny_instances.test["seq_recovery"]
    assert mean_metric("item_recall", insts, generate(probe, insts), data) >= mean_metric(
        "item_recall", insts, generate(rand, insts), data
    )
