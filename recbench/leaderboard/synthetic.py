"""Synthetic run folders for the leaderboard's tests and build benchmark.

The samples are made-up interpreter outputs over a real catalogue (the tiny test dataset, say): each
target title is named with probability ``quality``. The scores in results.json are computed from
those samples exactly as ``recbench run`` does, so a synthetic run passes ``leaderboard validate``.
Only deterministic metrics are used, so no sentence embedder is ever loaded.
"""

from __future__ import annotations

import random
from pathlib import Path

from recbench.data.base import SequenceData
from recbench.data.splits import dataset_card
from recbench.metrics.base import MetricContext, Sample
from recbench.results.io import RunSamples, new_results, write_run
from recbench.results.scoring import summarise_task
from recbench.run.spec import RunSpec

# task -> (main metric, metrics); all deterministic (no embedder).
TASKS: dict[str, tuple[str, list[str]]] = {
    "seq_recovery": ("recovered_items", ["recovered_items", "item_recall", "item_precision", "rougeL"]),
    "next_item": ("hit_at_1", ["hit_at_1", "top1_agreement"]),
    "description": ("rougeL", ["rougeL", "rouge1", "genre_hit"]),
}
WINDOW = 5
PROMPTS = {
    "seq_recovery": "<rec_emb>\nThis user has watched",
    "next_item": "<rec_emb>\nNext, this user will watch",
    "description": "<rec_emb>\nIn short, this user likes",
}


def _guess(rng: random.Random, data: SequenceData, item: int, quality: float) -> int:
    return item if rng.random() < quality else rng.randint(1, data.n_items)


def _sample(
    task: str, i: int, window: list[int], data: SequenceData, rng: random.Random, quality: float
) -> Sample:
    titles = [data.title(item) for item in window]
    if task == "seq_recovery":
        guesses = [data.title(_guess(rng, data, item, quality)) for item in window]
        return Sample(f"{task}:{i}", task, PROMPTS[task], ", ".join(titles), ", ".join(guesses), list(window))
    if task == "next_item":
        target, top1 = window[-1], _guess(rng, data, window[-1], 0.8)
        output = data.title(_guess(rng, data, target, quality))
        return Sample(f"{task}:{i}", task, PROMPTS[task], data.title(target), output, [target], rec_top1=top1)
    genres = sorted({g for item in window for g in data.items[item - 1].genres})[:3] or ["Drama"]
    named = [g for g in genres if rng.random() < quality] or [
        data.items[rng.randint(1, data.n_items) - 1].title
    ]
    target = f"{', '.join(genres)} films such as {titles[0]}"
    output = f"{', '.join(named)} films such as {data.title(_guess(rng, data, window[0], quality))}"
    return Sample(f"{task}:{i}", task, PROMPTS[task], target, output, list(window), target_genres=genres)


def _windows(data: SequenceData, n: int) -> list[list[int]]:
    """``n`` windows of WINDOW items: user after user, then again one item further along."""
    long = [seq for seq in data.sequences if len(seq) >= WINDOW]
    out = []
    for i in range(n):
        seq = long[i % len(long)]
        start = (i // len(long)) % (len(seq) - WINDOW + 1)
        out.append(seq[start : start + WINDOW])
    return out


def make_run(
    folder: Path,
    data: SequenceData,
    data_dir: Path,
    run_id: str,
    label: str,
    kind: str = "llm",
    quality: float = 0.6,
    n: int = 12,
    seed: int = 0,
    tasks: list[str] | None = None,
    ctx: MetricContext | None = None,
) -> Path:
    """Write a complete, valid run (results.json + samples.jsonl) to ``folder`` and return it.

    ``kind="llm"`` runs get a shuffled control (outputs of quality ``quality / 4``); baselines none.
    ``data`` must be the csv dataset read from ``data_dir`` (its card records the folder).
    """
    rng = random.Random(f"{run_id}:{seed}")
    ctx = ctx or MetricContext(data.items, seed=seed)
    windows = _windows(data, n)
    samples, blocks = RunSamples(), {}
    for task in tasks or list(TASKS):
        main, metrics = TASKS[task]
        real = [_sample(task, i, w, data, rng, quality) for i, w in enumerate(windows)]
        shuffled = (
            [_sample(task, i, w, data, rng, quality / 4) for i, w in enumerate(windows)]
            if kind == "llm"
            else []
        )
        scores = summarise_task(real, shuffled or None, metrics, ctx, seed)
        blocks[task] = {"version": 1, "main_metric": main, **scores}
        for s in real:
            samples.add("real", s)
        for s in shuffled:
            samples.add("shuffled", s)
    llm = "tiny-random" if kind == "llm" else None
    spec = RunSpec.resolve(
        "fast",
        dataset="csv",
        data_dir=str(data_dir),
        llm=llm,
        interpreter="llm" if kind == "llm" else "popular",
        adapter="linear" if kind == "llm" else None,
        window=WINDOW,
        limit=n,
        seed=seed,
        tasks=tuple(blocks),
    )
    results = new_results(
        run_id=run_id,
        created="2026-11-26T21:40:00+00:00",
        command=f"recbench run --dataset csv --data-dir {data_dir} --llm tiny-random --seed {seed}",
        recbench={"version": "0.1.0", "git_commit": "0" * 40, "git_dirty": False},
        dataset={**dataset_card(data, WINDOW, 0), "data_dir": str(data_dir)},
        recommender={
            "name": "sasrec",
            "config": {"hidden": 16},
            "seed": 0,
            "checkpoint_sha256": "c" * 64,
            "test": {"hr@10": 0.25, "ndcg@10": 0.12, "hr@20": 0.4, "ndcg@20": 0.16, "n": 30},
        },
        interpreter={
            "kind": kind,
            "name": spec.interpreter,
            "label": label,
            "llm": llm,
            "adapter": "linear" if kind == "llm" else None,
            "lora": None,
            "identity": run_id,
            "config": {"quality": quality},
        },
        config=spec.to_dict(),
        seeds=spec.seeds,
        hardware={"device": "cpu", "gpu": None, "python": "3.11", "cpus": 2},
        timings={"data": 0.1, "generate": 1.0, "score": 0.5, "total": 1.6},
        tasks=blocks,
    )
    return write_run(Path(folder), results, samples)
