"""The popularity baseline's ranks: those of full-catalogue ranking, without a users x items matrix."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap

import pytest
import torch

from recbench.recommenders.evaluate import popularity_metrics, target_ranks


def test_golden_ranks_on_a_hand_made_split():
    # counts: item 2 three times, items 1 and 3 once (1 ahead of 3 by id), items 4..9 never
    train = [[1, 2, 2], [2, 3]]
    pairs = [
        ([1], 2),  # the most popular item: rank 0
        ([9], 4),  # behind 2, 1, 3: rank 3 (the excluded 9 is below it anyway)
        ([2, 1], 3),  # 2 and 1 are history, so excluded: rank 0
        ([3], 3),  # the target itself in the history is not excluded: rank 2
    ]
    m = popularity_metrics(train, pairs, n_items=9, ks=(1, 3))
    assert m == {"hr@1": 0.5, "ndcg@1": 0.5, "hr@3": 0.75, "ndcg@3": pytest.approx(2.5 / 4), "n": 4}


def test_same_ranks_as_ranking_the_whole_catalogue():
    rng = random.Random(7)
    n_items = 40
    train = [[rng.randint(1, 12) for _ in range(rng.randint(1, 8))] for _ in range(30)]
    pairs = [
        ([rng.randint(1, n_items) for _ in range(rng.randint(0, 10))], rng.randint(1, n_items))
        for _ in range(200)
    ]
    counts = [sum(seq.count(i) for seq in train) for i in range(1, n_items + 1)]
    scores = torch.tensor([c - i * 1e-6 for i, c in enumerate(counts, start=1)], dtype=torch.float64)
    brute = target_ranks(scores.expand(len(pairs), -1), [h for h, _ in pairs], [t for _, t in pairs])
    ks = (1, 5, 10, 40)
    expected = {}
    for k in ks:
        hit = brute < k
        expected[f"hr@{k}"] = hit.float().mean().item()
        expected[f"ndcg@{k}"] = torch.where(hit, 1.0 / torch.log2(brute.float() + 2.0), 0.0).mean().item()
    assert popularity_metrics(train, pairs, n_items, ks=ks) == {**expected, "n": len(pairs)}


def test_a_large_catalogue_never_needs_a_users_by_items_matrix():
    """3,000 users x 2,000,000 items would be a 48 GB score matrix; under a 2 GiB address-space limit
    the baseline must still finish (in its own process, so the limit binds nothing else)."""
    code = textwrap.dedent(
        """
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        import torch
        torch.set_num_threads(1)
        from recbench.recommenders.evaluate import popularity_metrics
        train = [[1, 2, 3]] * 3000 + [[5]]
        pairs = [([1], 2)] * 2999 + [([], 4)]
        m = popularity_metrics(train, pairs, n_items=2_000_000, ks=(1, 10))
        print(m["hr@1"], m["hr@10"], m["n"])
        """
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    # item 2 ranks first once item 1 (history) is excluded; item 4 comes after 1, 2, 3 and 5
    hr1, hr10, n = done.stdout.split()
    assert (float(hr1), float(hr10), int(n)) == (pytest.approx(2999 / 3000), 1.0, 3000)
