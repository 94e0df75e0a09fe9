"""Leave-one-out splits for the recommender and by-user window splits for the interpreter."""

from __future__ import annotations

import random
from dataclasses import dataclass

from recbench.data.base import SequenceData, gc_paused
from recbench.errors import ConfigError, DataError


@dataclass
class LeaveOneOut:
    """Per user: train on all but the last two items; valid predicts the second last, test the last.

    ``valid`` and ``test`` are (history, target) pairs. Users with fewer than three items train only.
    """

    train: list[list[int]]
    valid: list[tuple[list[int], int]]
    test: list[tuple[list[int], int]]


def leave_one_out(data: SequenceData) -> LeaveOneOut:
    train, valid, test = [], [], []
    with gc_paused():
        for seq in data.sequences:
            if len(seq) < 3:
                train.append(list(seq))
                continue
            train.append(seq[:-2])
            valid.append((seq[:-2], seq[-2]))
            test.append((seq[:-1], seq[-1]))
    if not test:
        raise DataError(
            f"dataset '{data.name}': no user has three or more interactions to split leave-one-out"
        )
    return LeaveOneOut(train, valid, test)


@dataclass(frozen=True)
class Window:
    """``length`` consecutive items of one user's sequence and the item that follows them."""

    user: str
    start: int
    items: tuple[int, ...]
    next_item: int

    @property
    def id(self) -> str:
        return f"{self.user}@{self.start}"


def make_windows(data: SequenceData, length: int = 10, stride: int | None = None) -> list[Window]:
    """Non-overlapping windows (stride = length by default), each with a following item.

    Users shorter than ``length + 1`` items contribute none; if no user is long enough it is an error.
    """
    if length < 1:
        raise ConfigError(f"window length must be at least 1, got {length}")
    stride = stride or length
    if stride < 1:
        raise ConfigError(f"window stride must be at least 1, got {stride}")
    windows = []
    with gc_paused():
        for user, seq in zip(data.users, data.sequences, strict=False):
            for start in range(0, len(seq) - length, stride):
                windows.append(Window(user, start, tuple(seq[start : start + length]), seq[start + length]))
    if not windows:
        longest = max((len(s) for s in data.sequences), default=0)
        raise DataError(
            f"dataset '{data.name}': every user is shorter than the window ({length} items plus one to follow; "
            f"the longest user has {longest}); use a smaller --window"
        )
    return windows


def split_windows_by_user(
    windows: list[Window], seed: int = 0, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
) -> dict[str, list[Window]]:
    """Assign whole users to train/valid/test (seeded), so no test user's sequence is seen in training."""
    if abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) < 0:
        raise ConfigError(f"split fractions must be non-negative and sum to 1, got {fractions}")
    users = sorted({w.user for w in windows})
    random.Random(seed).shuffle(users)
    n_train = round(fractions[0] * len(users))
    n_valid = round(fractions[1] * len(users))
    side = {u: "train" for u in users[:n_train]}
    side.update({u: "valid" for u in users[n_train : n_train + n_valid]})
    side.update({u: "test" for u in users[n_train + n_valid :]})
    out: dict[str, list[Window]] = {"train": [], "valid": [], "test": []}
    for w in windows:
        out[side[w.user]].append(w)
    return out


def window_card(splits: dict[str, list[Window]], length: int) -> dict:
    """Window counts (and users) per split, for the dataset card."""
    return {
        "window": length,
        **{name: {"windows": len(ws), "users": len({w.user for w in ws})} for name, ws in splits.items()},
    }


def dataset_card(data: SequenceData, window: int = 10, seed: int = 0) -> dict:
    """The dataset card with interpreter window counts for the given window length and split seed."""
    splits = split_windows_by_user(make_windows(data, window), seed=seed)
    return {**data.card(), "windows": window_card(splits, window), "split_seed": seed}


def sample_windows(windows: list, limit: int | None, rng) -> list:
    """A seeded sample of ``limit`` windows (all when ``limit`` is None), in (user, start) order.

    ``rng`` is a ``random.Random``; a run draws test, then train, then valid windows from one stream
    seeded with its seed (:func:`recbench.run.stages.instances`).
    """
    if limit is None or limit >= len(windows):
        return list(windows)
    return sorted(rng.sample(windows, limit), key=lambda w: (w.user, w.start))


def test_windows(data, window: int, seed: int, limit: int | None) -> list:
    """The test windows a run with these settings evaluates: the first draw of its seeded stream."""
    import random

    test = split_windows_by_user(make_windows(data, window), seed=seed)["test"]
    return sample_windows(test, limit, random.Random(seed))
