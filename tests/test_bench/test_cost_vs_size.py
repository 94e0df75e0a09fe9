"""bench/cost_vs_size.py: its synthetic datasets load in recbench with the promised sizes and skew."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from recbench.data import load_dataset
from recbench.data.splits import leave_one_out, make_windows

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "cost_vs_size.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("cost_vs_size", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("scale", [0.5, 2])
def test_the_dataset_loads_with_the_promised_sizes_and_skew(bench, tmp_path, scale):
    card = bench.make_dataset(tmp_path, scale, seed=1)
    data = load_dataset("csv", tmp_path)
    # sizes: scale x ML-100K's 943 users, 1,682 items, 100,000 interactions, each user's items distinct
    sizes = (round(943 * scale), round(1682 * scale), round(100_000 * scale))
    assert (len(data.users), data.n_items, data.n_interactions) == sizes
    assert (card["users"], card["items"], card["interactions"]) == sizes
    lengths = sorted(len(s) for s in data.sequences)
    assert all(len(set(s)) == len(s) for s in data.sequences)
    # long-tailed activity: at least 20 items each (as in ML-100K), the heaviest user far above the median
    assert lengths[0] >= 20 and lengths[-1] > 5 * lengths[len(lengths) // 2]
    # skewed popularity: a tenth of the catalogue holds 35-55% of the interactions (ML-100K: 43%)
    counts = sorted(Counter(i for s in data.sequences for i in s).values(), reverse=True)
    top_tenth = sum(counts[: round(0.1 * data.n_items)]) / data.n_interactions
    assert 0.35 <= top_tenth <= 0.55 and top_tenth == pytest.approx(card["top_10pct_items_share"], abs=1e-3)
    # titles with a year, ML-100K genres; windows and leave-one-out splits exist
    assert all(item.year and item.title.endswith(f"({item.year})") and item.genres for item in data.items)
    assert {g for item in data.items for g in item.genres} <= set(bench.GENRES)
    assert len(leave_one_out(data).test) == len(data.users)
    assert len(make_windows(data, 5)) > data.n_interactions // 10


def test_ties_and_the_file_order(bench, tmp_path):
    bench.make_dataset(tmp_path, 0.25, seed=2)
    rows = (tmp_path / "interactions.csv").read_text().splitlines()
    assert rows[0] == "user,item,timestamp"
    stamps = [int(r.split(",")[2]) for r in rows[1:]]
    assert min(stamps) >= bench.START and max(stamps) <= bench.END
    users = [r.split(",")[0] for r in rows[1:200]]
    assert users != sorted(users, key=int)  # not grouped by user, like u.data
    # about 70% of a user's interactions share the previous one's timestamp (ML-100K: 76%)
    by_user: dict[str, list[int]] = {}
    for row in rows[1:]:
        user, _, stamp = row.split(",")
        by_user.setdefault(user, []).append(int(stamp))
    ties = sum(len(s) - len(set(s)) for s in by_user.values()) / (len(rows) - 1)
    assert 0.6 < ties < 0.8


def test_exponent_is_the_log_log_slope(bench):
    assert bench.exponent([1, 10, 50], [2.0, 20.0, 100.0]) == 1.0
    assert bench.exponent([1, 10, 50], [1.0, 100.0, 2500.0]) == 2.0
    assert bench.exponent([1], [3.0]) is None


def test_bad_sizes_are_one_line_and_exit_2():
    done = subprocess.run([sys.executable, str(SCRIPT), "--sizes", "1,x"], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --sizes '1,x': give scales of ML-100K separated by commas, each in (0, 200], e.g. 1,10,50"
    ]
