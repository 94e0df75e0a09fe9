"""Synthetic run folders for the leaderboard's tests and build benchmark.

A synthetic run is what ``recbench run`` would write for an interpreter that guesses: its instances
are the real ones (the dataset's test windows for the run's window, seed and limit, built from the
installed task definitions, so ``leaderboard validate`` re-derives exactly these ids and targets),
and each output names the target with probability ``quality`` (a random catalogue item otherwise).
The scores are computed from those samples as ``validate`` re-computes them (the tasks' full metric
lists, the MiniLM embedder included; each distinct text embedded once and cached), so a synthetic
run passes ``leaderboard validate`` given its dataset folder (``--data-dir``).
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

from recbench.data.base import SequenceData
from recbench.data.splits import dataset_card
from recbench.leaderboard.validate import (
    Embeddings,
    prefetch_embeddings,
    sample_test_windows,
    scoring_context,
    task_definition,
)
from recbench.metrics.base import RoundTrip, Sample
from recbench.metrics.roundtrip import title_items
from recbench.results.io import RunSamples, new_results, write_run
from recbench.results.scoring import summarise_task, task_block
from recbench.run.spec import RunSpec
from recbench.tasks import build_instances
from recbench.tasks.inputs import TOP_K
from recbench.tasks.instances import sample_of

TASKS = ("seq_recovery", "residual_id", "description", "next_item")
WINDOW = 3


def _guess(rng: random.Random, data: SequenceData, item: int, quality: float) -> int:
    return item if rng.random() < quality else rng.randint(1, data.n_items)


def _output(inst, spec, data: SequenceData, rng: random.Random, quality: float) -> str:
    """A made-up answer to ``inst``: titles, a title, or a taste, right with probability ``quality``."""
    if "genres" in spec.inputs:
        genres = [g for g in inst.target_genres if rng.random() < quality] or [
            rng.choice(data.items[rng.randint(1, data.n_items) - 1].genres or ("Drama",))
        ]
        title = data.title(_guess(rng, data, inst.target_items[0], quality))
        return f"{' and '.join(genres)} films, such as {title}."
    guesses = [data.title(_guess(rng, data, item, quality)) for item in inst.target_items]
    return ", ".join(guesses) + "."


def _outside(window, data: SequenceData, rng: random.Random, k: int, taken=()) -> list[int]:
    """``k`` distinct random items outside the window (and outside ``taken``)."""
    free = [i for i in range(1, data.n_items + 1) if i not in set(window.items) | set(taken)]
    return rng.sample(free, min(k, len(free)))


def _beliefs(windows: list, data: SequenceData, rng: random.Random) -> dict[str, dict]:
    """A stand-in for the recommender's own top-10 (and top-1) of each window: items outside it."""
    top10 = {}
    for w in windows:
        top1 = rng.randint(1, data.n_items)
        while top1 in w.items:
            top1 = rng.randint(1, data.n_items)
        top10[w.id] = [top1]
    for w in windows:
        top10[w.id] += _outside(w, data, rng, TOP_K - 1, taken=top10[w.id])
    return {"rec_top1": {w: items[0] for w, items in top10.items()}, "rec_top10": top10}


def _round_trip(output: str, inst, ctx, data: SequenceData, rng: random.Random, quality: float):
    """A stand-in round trip, consistent as validate checks it: the output's titles fed back, a top-10
    that keeps a ``quality`` share of the window's, and the window's top-1 ranked accordingly."""
    items = title_items(output, ctx)
    if not items:
        return RoundTrip([], [], None)
    own = list(inst.rec_top10)
    kept = [i for i in own if rng.random() < quality]
    top10 = (kept + _outside(inst.window, data, rng, len(own), taken=own))[: len(own)]
    rng.shuffle(top10)
    candidates = data.n_items - len(set(inst.window.items))
    rank = top10.index(own[0]) + 1 if own[0] in top10 else rng.randint(len(top10) + 1, candidates)
    return RoundTrip(items, top10, rank)


def _results(run_id, label, kind, quality, data, data_dir, n, seed, window, blocks) -> dict:
    """The results object of a synthetic run: a real RunSpec, a made-up recommender and interpreter."""
    llm = "tiny-random" if kind == "llm" else None
    folder_text = None if data_dir is None else str(data_dir)
    run_spec = RunSpec.resolve(
        "fast",
        dataset=data.name,
        data_dir=folder_text,
        llm=llm or "smollm2-135m",
        interpreter="llm" if kind == "llm" else "popular",
        adapter="linear" if kind == "llm" else "mlp",
        window=window,
        limit=n,
        seed=seed,
        tasks=tuple(blocks),
    )
    if n is None:  # resolve() reads None as "the profile's": every test window is limit None
        run_spec = dataclasses.replace(run_spec, limit=None)
    results = new_results(
        run_id=run_id,
        created="2026-11-26T21:40:00+00:00",
        command=f"recbench run --dataset {data.name} --llm tiny-random --seed {seed}"
        + (f" --limit {n}" if n is not None else ""),
        recbench={"version": "0.1.0", "git_commit": "0" * 40, "git_dirty": False},
        dataset={**dataset_card(data, window, seed), "data_dir": folder_text},
        recommender={
            "name": "sasrec",
            "config": {"hidden": 16},
            "seed": seed,
            "checkpoint_sha256": "c" * 64,
            "test": {"hr@10": 0.25, "ndcg@10": 0.12, "hr@20": 0.4, "ndcg@20": 0.16, "n": 30},
        },
        interpreter={
            "kind": kind,
            "name": run_spec.interpreter,
            "label": label,
            "llm": llm,
            "adapter": "linear" if kind == "llm" else None,
            "lora": None,
            "identity": run_id,
            "config": {"quality": quality},
        },
        config=run_spec.to_dict(),
        seeds=run_spec.seeds,
        hardware={"device": "cpu", "gpu": None, "python": "3.11", "cpus": 2},
        timings={"data": 0.1, "generate": 1.0, "score": 0.5, "total": 1.6},
        tasks=blocks,
    )
    return results


def make_run(
    folder: Path,
    data: SequenceData,
    data_dir: Path | None,
    run_id: str,
    label: str,
    kind: str = "llm",
    quality: float = 0.6,
    n: int | None = 8,
    seed: int = 0,
    tasks: list[str] | None = None,
    window: int = WINDOW,
    ctx=None,
) -> Path:
    """Write a complete, valid run (results.json + samples.jsonl) to ``folder`` and return it.

    ``data`` is the dataset read from ``data_dir`` (None: ML-100K from the installed wheel); ``n`` is
    the run's ``--limit`` (all test windows when there are fewer; None: all of them). ``kind="llm"`` runs get a shuffled control (outputs of quality
    ``quality / 4``); baselines none. ``ctx`` is accepted for compatibility and ignored: scores are
    always computed with the embeddings ``validate`` uses.
    """
    rng = random.Random(f"{run_id}:{seed}")
    specs = [task_definition(t) for t in (tasks or TASKS)]
    windows = sample_test_windows(data, window, seed, n)
    beliefs = _beliefs(windows, data, random.Random(seed))
    embeddings = Embeddings()
    scoring = scoring_context(data, embeddings)
    rows: dict[str, dict[str, list[Sample]]] = {}
    for spec in specs:
        insts = build_instances(spec, windows, data, beliefs)
        conditions = [("real", quality)] + ([("shuffled", quality / 4)] if kind == "llm" else [])
        for condition, q in conditions:
            group = rows.setdefault(spec.name, {}).setdefault(condition, [])
            for i in insts:
                output = _output(i, spec, data, rng, q)
                trip = _round_trip(output, i, scoring, data, rng, q) if "roundtrip" in spec.inputs else None
                group.append(sample_of(i, output, trip))
    prefetch_embeddings(scoring, embeddings, {s.name: s.metrics for s in specs}, rows)
    samples, blocks = RunSamples(), {}
    for spec in specs:
        groups = rows[spec.name]
        scores = summarise_task(groups["real"], groups.get("shuffled"), list(spec.metrics), scoring, seed)
        blocks[spec.name] = task_block(spec, scores)
        for condition, group in groups.items():
            for s in group:
                samples.add(condition, s)
    results = _results(run_id, label, kind, quality, data, data_dir, n, seed, window, blocks)
    return write_run(Path(folder), results, samples)
