"""Cost vs dataset size: how each stage of a run grows from 1x to 50x ML-100K.

Synthetic sequence datasets at each scale S (S x 943 users, S x 1,682 items, S x 100,000 interactions,
ML-100K's shape: a skewed item popularity, a long-tailed user activity, tied timestamps, titles with
genres and years) are written as the CSV pair recbench reads (``--dataset csv``). For each size one fresh
process times, with its peak memory (the process's peak RSS, reset before each stage):

* ``load``: ``load_dataset("csv", folder)``, recbench's CSV loader;
* ``splits``: the leave-one-out split and the interpreter windows split by user (``data_of``);
* ``sasrec_epoch``: one epoch of ``SASRec.fit`` (the training pass and the valid ranking);
* ``rec_eval``: the rest of the recommender stage, full-ranking test metrics and the popularity baseline;
* ``latents``: ``stages.instances`` (the fast profile: every training window, four tasks) with the
  recommender's latents attached; ``attach_latents`` and ``beliefs`` (the recommender's own top-10 per
  window, where a task declares it) are reported beside it;
* ``embed_catalogue``: MiniLM embeddings of every catalogue title (model load excluded), what a cold
  ``validate`` computes first (cached on disk after that);
* ``make_run``: writing the synthetic run below (``recbench.leaderboard.synthetic.make_run``);
* ``validate``: ``recbench leaderboard validate RUN --data-dir FOLDER`` in its own process, on a
  synthetic ``popular`` baseline run of that dataset (100 test windows per task, the fast profile's
  ``--limit``), the catalogue embeddings warm.

Three stages are timed on a seeded sample above a cap and scaled up by the sample's inverse fraction,
each linear in what is sampled at a fixed catalogue; the JSON says so (``sampled_fraction``,
``measured_cpu_seconds``): one SASRec epoch on a sample of users when training positions x items exceeds
``EPOCH_WORK_CAP`` (full-catalogue cross-entropy costs positions x items by design), ``latents`` on
``TRAIN_WINDOW_CAP`` training windows, ``embed_catalogue`` on ``EMBED_CAP`` titles (the full catalogue's
cache entry then holds placeholder vectors, so validate's work is unchanged). Peak memory of a sampled
stage is the sample's. The exponent of each stage is the slope of log(CPU seconds) against log(size), by
least squares. One JSON object on the last line.

    .venv/bin/python bench/cost_vs_size.py [--sizes 1,10,50] [--quick] [--until splits]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import gc
import json
import math
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ML100K = {"users": 943, "items": 1682, "interactions": 100_000}
MIN_USER_ITEMS = 20  # as in ML-100K: every user rated at least 20 movies
# Item popularity by rank fraction x = rank / items: w(x) = (x + 0.001)^-0.3 * exp(-4.5x), a power-law
# head with an exponential tail. With each user's items distinct, at 1x the top 10% of items hold 43% of
# the interactions (ML-100K: 43%), the top 20% 66% (65%), the bottom half 7.4% (7.3%); the items ranked
# 1, 10, 100, 500, 1000 have 541, 397, 223, 62, 15 interactions (ML-100K: 583, 429, 218, 65, 16).
POPULARITY = {"offset": 0.001, "power": 0.3, "decay": 4.5}
# User activity: 20 + lognormal(median 45, sigma 1.14): ML-100K's median 65, mean 106, p90 244.
ACTIVITY = {"median_excess": 45.0, "sigma": 1.14}
TIES = 0.7  # chance that an interaction shares its predecessor's timestamp (ML-100K: 76% of them tie)
START, END = 874_724_710, 893_286_638  # ML-100K's first and last timestamps
GENRES = {  # ML-100K's genres and how many of its 1,682 movies carry each
    "Drama": 725, "Comedy": 505, "Action": 251, "Thriller": 251, "Romance": 247, "Adventure": 135,
    "Children's": 122, "Crime": 109, "Sci-Fi": 101, "Horror": 92, "War": 71, "Mystery": 61,
    "Musical": 56, "Documentary": 50, "Animation": 42, "Western": 27, "Film-Noir": 24, "Fantasy": 22,
}  # fmt: skip
GENRES_PER_ITEM = {1: 833, 2: 569, 3: 215, 4: 51, 5: 11, 6: 3}  # ML-100K
SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in ("a", "e", "i", "o", "u", "ar", "en", "on")]
# An epoch above this many (training positions x catalogue items) is timed on a sample of users.
EPOCH_WORK_CAP = 1e9
# Training windows given latents (and, where a training task needs them, the recommender's own top-k):
# above this many, a seeded sample of this many (the fast profile itself uses every one).
TRAIN_WINDOW_CAP = 12_000
# Catalogue titles embedded with MiniLM; above this many, a seeded sample of this many, scaled up (the
# full catalogue's cache entry, which validate reads, then holds placeholder vectors: its cost is the same).
EMBED_CAP = 4_000
LIMIT = 100  # test windows per task in the validated run: the fast profile's --limit
SUPERLINEAR = 1.15


# --- the synthetic dataset -------------------------------------------------------------------------------


def popularity(n_items: int) -> np.ndarray:
    """Interaction probability of the item at each popularity rank (most popular first)."""
    x = (np.arange(n_items) + 0.5) / n_items
    w = (x + POPULARITY["offset"]) ** -POPULARITY["power"] * np.exp(-POPULARITY["decay"] * x)
    return w / w.sum()


def user_lengths(n_users: int, n_interactions: int, n_items: int, rng: np.random.Generator) -> np.ndarray:
    """Items per user: at least 20, long-tailed, at most half the catalogue, summing to ``n_interactions``."""
    excess = rng.lognormal(math.log(ACTIVITY["median_excess"]), ACTIVITY["sigma"], n_users)
    excess *= (n_interactions - MIN_USER_ITEMS * n_users) / excess.sum()
    cap = max(MIN_USER_ITEMS, n_items // 2)
    lengths = np.minimum(MIN_USER_ITEMS + np.round(excess).astype(np.int64), cap)
    short = n_interactions - int(lengths.sum())
    order = rng.permutation(n_users)
    while short:  # spread the rounding (and any capped excess) one item at a time
        step = 1 if short > 0 else -1
        room = (lengths[order] < cap) if step > 0 else (lengths[order] > MIN_USER_ITEMS)
        chosen = order[room][: abs(short)]
        if not len(chosen):
            raise ValueError("the catalogue is too small for this many interactions")
        lengths[chosen] += step
        short -= step * len(chosen)
    return lengths


def user_items(lengths: np.ndarray, probs: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Each user's distinct items, drawn by popularity (``probs`` per item id - 1), in draw order."""
    cdf = np.cumsum(probs)
    cdf[-1] = 1.0
    out = []
    for n in lengths.tolist():
        draws = np.empty(0, dtype=np.int64)
        while len(draws) < n:
            more = np.searchsorted(cdf, rng.random(int(n * 1.5) + 8), side="right")
            both = np.concatenate([draws, more])
            _, first = np.unique(both, return_index=True)
            draws = both[np.sort(first)]
        out.append(draws[:n] + 1)
    return out


def title(rng: random.Random) -> str:
    words = [
        "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((1, 2, 2, 3)))).capitalize()
        for _ in range(rng.choice((1, 2, 2, 3, 3, 4)))
    ]
    text = " ".join(words)
    return f"{text}, The" if rng.random() < 0.12 else text


def make_dataset(folder: Path, scale: float, seed: int = 0) -> dict:
    """Write ``interactions.csv`` and ``items.csv`` for ``scale`` x ML-100K to ``folder``; return their sizes and skew."""
    folder.mkdir(parents=True, exist_ok=True)
    n_users, n_items = round(ML100K["users"] * scale), round(ML100K["items"] * scale)
    n_interactions = round(ML100K["interactions"] * scale)
    rng = np.random.default_rng(seed)
    lengths = user_lengths(n_users, n_interactions, n_items, rng)
    by_rank = popularity(n_items)
    probs = np.empty(n_items)
    probs[rng.permutation(n_items)] = by_rank  # popularity is not tied to item ids
    sequences = user_items(lengths, probs, rng)

    users = np.repeat(np.arange(1, n_users + 1), lengths)
    items = np.concatenate(sequences)
    gaps = np.where(rng.random(n_interactions) < TIES, 0, rng.exponential(86_400.0, n_interactions))
    gaps = gaps.astype(np.int64)
    starts = np.cumsum(lengths) - lengths
    gaps[starts] = 0
    offsets = np.cumsum(gaps)
    offsets -= np.repeat(offsets[starts], lengths)  # seconds since the user's first interaction
    spans = offsets[np.cumsum(lengths) - 1]
    first = START + (rng.random(n_users) * np.maximum(END - START - spans, 0)).astype(np.int64)
    stamps = np.repeat(first, lengths) + offsets
    order = rng.permutation(n_interactions)  # like u.data, the file is in no particular order
    with open(folder / "interactions.csv", "w", encoding="utf-8", newline="\n") as f:
        f.write("user,item,timestamp\n")
        for s in range(0, n_interactions, 500_000):
            idx = order[s : s + 500_000]
            rows = zip(users[idx].tolist(), items[idx].tolist(), stamps[idx].tolist(), strict=True)
            f.write("".join(f"{u},{i},{t}\n" for u, i, t in rows))

    text_rng = random.Random(seed)
    genre_names, genre_weights = list(GENRES), list(GENRES.values())
    counts, count_weights = list(GENRES_PER_ITEM), list(GENRES_PER_ITEM.values())
    with open(folder / "items.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["item", "title", "genres", "year"])
        for item in range(1, n_items + 1):
            k = text_rng.choices(counts, count_weights)[0]
            genres = sorted(set(text_rng.choices(genre_names, genre_weights, k=k)))
            year = max(1920, 1998 - round(math.exp(text_rng.gauss(1.0, 1.2))))
            writer.writerow([item, title(text_rng), "|".join(genres), year])

    per_item = np.bincount(items, minlength=n_items + 1)[1:]
    ranked = np.sort(per_item)[::-1]
    top = lambda fraction: float(ranked[: round(fraction * n_items)].sum() / n_interactions)  # noqa: E731
    return {
        "scale": scale,
        "users": n_users,
        "items": n_items,
        "interactions": n_interactions,
        "bytes": sum((folder / f).stat().st_size for f in ("interactions.csv", "items.csv")),
        "top_10pct_items_share": round(top(0.1), 3),
        "top_20pct_items_share": round(top(0.2), 3),
        "bottom_50pct_items_share": round(1 - top(0.5), 3),
        "items_never_seen": int((per_item == 0).sum()),
        "user_items": {
            "min": int(lengths.min()),
            "median": float(np.median(lengths)),
            "mean": round(float(lengths.mean()), 1),
            "p90": float(np.percentile(lengths, 90)),
            "max": int(lengths.max()),
        },
        "tied_timestamps": round(float((gaps == 0).mean() - n_users / n_interactions), 3),
    }


# --- measuring one stage: CPU and wall seconds, the process's peak RSS while it ran -----------------


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class Stage:
    """``with Stage(out, name):`` records CPU and wall seconds, peak RSS and the peak's rise over the start.

    CPU seconds (this process, one torch thread) are the figure used: on a shared machine the wall time
    also counts the time other jobs held the cores."""

    def __init__(self, out: dict, name: str):
        self.out, self.name = out, name

    def __enter__(self) -> Stage:
        gc.collect()
        try:  # reset the peak (VmHWM) to the current RSS (Linux >= 4.0)
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pass
        self.rss = _status_kib("VmRSS")
        self.start, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        seconds, cpu = time.perf_counter() - self.start, time.process_time() - self.cpu
        peak = max(_status_kib("VmHWM"), _status_kib("VmRSS"))
        self.out[self.name] = {
            "cpu_seconds": round(cpu, 3),
            "wall_seconds": round(seconds, 3),
            "peak_rss_mib": round(peak / 1024, 1),
            "peak_increase_mib": round((peak - self.rss) / 1024, 1),
        }


# Runs the recbench CLI and reports its own peak RSS. ``ru_maxrss`` of a child started by fork or vfork
# counts the parent's pages from before exec, so the child reads VmHWM (its own, post-exec) at exit.
_CLI_WITH_PEAK = """
import atexit, sys
from pathlib import Path
def peak():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            sys.stderr.write("\\nPEAK_RSS_KIB " + line.split()[1] + "\\n")
atexit.register(peak)
from recbench.cli import main
sys.argv = ["recbench", *sys.argv[1:]]
main()
"""


def cli_with_peak(args: list[str], env: dict, cwd: Path) -> tuple[int, float, float, float | None, str]:
    """Run ``recbench ARGS`` in a fresh process: (exit status, wall and CPU seconds, peak RSS in MiB, output)."""
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _CLI_WITH_PEAK, *args], env=env, cwd=cwd, capture_output=True, text=True
    )
    seconds, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    peak = [line.split()[1] for line in done.stderr.splitlines() if line.startswith("PEAK_RSS_KIB ")]
    return done.returncode, seconds, cpu, int(peak[-1]) / 1024 if peak else None, done.stdout + done.stderr


def scale_up(entry: dict, fraction: float) -> None:
    """A stage timed on a sample: keep what ran as ``measured_*``, scale the seconds by 1/fraction."""
    for key in ("cpu_seconds", "wall_seconds"):
        entry[f"measured_{key}"] = entry[key]
        entry[key] = round(entry[key] / fraction, 3)
    entry["sampled_fraction"] = round(fraction, 5)


def _unit_vectors(texts: list[str]) -> np.ndarray:
    vectors = np.random.default_rng(len(texts)).standard_normal((len(texts), 384)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


# --- the stages at one size (run in a fresh process) ---------------------------------------------------


STAGES = ("load", "splits", "sasrec_epoch", "rec_eval", "latents", "embed_catalogue", "make_run", "validate")


def run_stages(folder: Path, work: Path, threads: int, until: str = STAGES[-1]) -> dict:
    import torch

    torch.set_num_threads(threads)
    from types import SimpleNamespace

    from recbench import progress
    from recbench.data import load_dataset
    from recbench.data.splits import leave_one_out
    from recbench.leaderboard.synthetic import make_run
    from recbench.metrics.titles import natural_title
    from recbench.recommenders.evaluate import popularity_metrics, ranking_metrics
    from recbench.recommenders.sasrec import SASRec
    from recbench.recommenders.train import make_config
    from recbench.run import stages
    from recbench.run.spec import RunSpec
    from recbench.tasks import load_task

    progress.set_enabled(False)
    out: dict = {}
    notes: dict = {}
    with Stage(out, "load"):
        data = load_dataset("csv", folder)
    spec = RunSpec.resolve("fast", dataset="csv", data_dir=str(folder), interpreter="popular")
    with Stage(out, "splits"):
        split = leave_one_out(data)
        d = stages.data_of(spec, data)
    if until in ("load", "splits"):
        return out

    # one epoch, on a seeded sample of users when the full epoch's work exceeds the cap
    config = make_config(SASRec, epochs=1)
    positions = sum(len(s) - 1 for s in split.train if len(s) > 1)
    fraction = min(1.0, EPOCH_WORK_CAP / (positions * data.n_items))
    users = list(range(len(split.train)))
    if fraction < 1.0:
        users = sorted(random.Random(0).sample(users, max(1, round(fraction * len(users)))))
        fraction = len(users) / len(split.train)
    # leave_one_out gives a valid pair to every user of three or more items, in user order
    has_valid = [len(s) >= 3 for s in data.sequences]
    valid_index, pairs = {}, iter(split.valid)
    for u, ok in enumerate(has_valid):
        if ok:
            valid_index[u] = next(pairs)
    train = [split.train[u] for u in users]
    valid = [valid_index[u] for u in users if u in valid_index]
    # a first fit pays one-time costs (thread pools, first allocations) that a sample scaled up would
    # multiply: pay them on a throwaway model and two users, untimed
    SASRec(data.n_items, config).fit(train[:2], valid[:2], seed=0)
    torch.manual_seed(0)
    model = SASRec(data.n_items, config)
    with Stage(out, "sasrec_epoch"):
        model.fit(train, valid, seed=0)
    scale_up(out["sasrec_epoch"], fraction)
    out["sasrec_epoch"]["positions_per_epoch"] = positions
    del train, valid, valid_index

    with Stage(out, "rec_eval"):
        ranking_metrics(model, split.test, config.train.max_len)
        popularity_metrics(split.train, split.test, data.n_items)
    del split

    # every training window, as the fast profile uses them, or a seeded sample of TRAIN_WINDOW_CAP
    n_train = len(d.splits["train"])
    sampled = min(n_train, TRAIN_WINDOW_CAP)
    spec = dataclasses.replace(spec, train_limit=sampled if sampled < n_train else None)
    fraction = sampled / n_train
    setup = stages.Setup([load_task(t) for t in spec.tasks], [load_task(t) for t in spec.train_tasks], None)
    parts = {"attach_latents": 0.0, "beliefs": 0.0}
    originals = {name: getattr(stages, name) for name in parts if hasattr(stages, name)}

    def timed(name):
        def call(*args, **kwargs):
            start = time.process_time()
            try:
                return originals[name](*args, **kwargs)
            finally:
                parts[name] += time.process_time() - start

        return call

    for name in originals:
        setattr(stages, name, timed(name))
    try:
        with Stage(out, "latents"):
            insts = stages.instances(spec, setup, d, SimpleNamespace(model=model))
    finally:
        for name, original in originals.items():
            setattr(stages, name, original)
    latents = out["latents"]
    scale_up(latents, fraction)
    for name, seconds in parts.items():
        latents[f"{name}_cpu_seconds"] = round(seconds / fraction, 3)
    latents["instances"] = len(insts.train) + len(insts.valid) + sum(map(len, insts.test.values()))
    latents["train_windows"] = n_train
    del insts, model
    gc.collect()

    # MiniLM on every title (what a cold validate computes first), on a seeded sample above EMBED_CAP
    from recbench.metrics.embedding import load_embedder
    from recbench.metrics.embedding_cache import CachedEmbedder

    titles = [natural_title(item.title) for item in data.items]
    sample = titles if len(titles) <= EMBED_CAP else random.Random(0).sample(titles, EMBED_CAP)
    load_embedder("cpu")  # the model's load (seconds, the same at every size) is not the stage's
    with Stage(out, "embed_catalogue"):
        CachedEmbedder("cpu").encode(sample)  # the full list when unsampled: validate finds it cached
    embed = out["embed_catalogue"]
    scale_up(embed, len(sample) / len(titles))
    if sample is not titles:  # validate's cached catalogue: placeholder unit vectors, same key, no MiniLM
        placeholder = CachedEmbedder("cpu")
        placeholder._inner = SimpleNamespace(encode=_unit_vectors)
        placeholder.encode(titles)
    run = work / "run" / "synthetic-popular"
    with Stage(out, "make_run"):
        make_run(run, data, folder, run.name, "popular", kind="baseline", n=LIMIT, window=spec.window)
    del data, d
    gc.collect()

    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    args = ["--quiet", "leaderboard", "validate", str(run), "--data-dir", str(folder)]
    status, seconds, cpu, rss, output = cli_with_peak(args, env, work)
    if status != 0:
        raise SystemExit(f"error: leaderboard validate failed at {folder}:\n{output}")
    out["validate"] = {
        "cpu_seconds": round(cpu, 3),
        "wall_seconds": round(seconds, 3),
        "peak_rss_mib": rss and round(rss, 1),
        "process": True,
    }
    out["_notes"] = notes
    return out


# --- the driver --------------------------------------------------------------------------------------


def exponent(sizes: list[float], values: list[float]) -> float | None:
    """Least-squares slope of log(value) on log(size); None with fewer than two positive points."""
    pts = [(math.log(s), math.log(v)) for s, v in zip(sizes, values, strict=True) if v and v > 0]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    return round(sum((x - mx) * (y - my) for x, y in pts) / sxx, 2) if sxx else None


def parse_sizes(text: str) -> list[float]:
    try:
        sizes = [float(s) for s in text.split(",") if s.strip()]
    except ValueError:
        sizes = []
    if not sizes or any(not math.isfinite(s) or s <= 0 or s > 200 for s in sizes):
        raise ValueError(
            f"--sizes {text!r}: give scales of ML-100K separated by commas, each in (0, 200], e.g. 1,10,50"
        )
    if len(set(sizes)) != len(sizes):
        raise ValueError(f"--sizes {text!r}: a size is given twice")
    return sorted(sizes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,50", help="scales of ML-100K (default 1,10,50)")
    parser.add_argument("--quick", action="store_true", help="sizes 1,2,4: a smoke run of a few minutes")
    parser.add_argument(
        "--until",
        choices=("splits", STAGES[-1]),
        default=STAGES[-1],
        help="stop after this stage (default: all)",
    )
    parser.add_argument("--child", nargs=3, metavar=("DATA", "WORK", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    threads = int(os.environ.get("BENCH_THREADS", "1"))
    if args.child:
        data, work, result = (Path(p) for p in args.child)
        Path(result).write_text(json.dumps(run_stages(data, work, threads, args.until)))
        return
    try:
        sizes = [1.0, 2.0, 4.0] if args.quick else parse_sizes(args.sizes)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None

    started = time.perf_counter()
    datasets, per_size = [], []
    with tempfile.TemporaryDirectory(prefix="recbench-cost-vs-size-") as tmp:
        for size in sizes:
            folder = Path(tmp) / f"x{size:g}"
            start = time.perf_counter()
            card = make_dataset(folder / "data", size)
            card["generate_seconds"] = round(time.perf_counter() - start, 2)
            datasets.append(card)
            print(f"x{size:g}: {card['users']} users, {card['items']} items, {card['interactions']} interactions "
                  f"({card['bytes'] / 2**20:.1f} MiB, {card['generate_seconds']} s to write)", flush=True)  # fmt: skip
            env = {
                **os.environ,
                "RECBENCH_CACHE": str(folder / "cache"),
                "RECBENCH_PRETRAINED": "/nonexistent",
            }
            result = folder / "stages.json"
            command = [sys.executable, __file__, "--child", str(folder / "data"), str(folder), str(result)]
            command += ["--until", args.until]
            done = subprocess.run(command, env=env, cwd=folder)
            if done.returncode != 0:
                print(
                    f"error: the stages at x{size:g} failed (exit status {done.returncode})", file=sys.stderr
                )
                raise SystemExit(1)
            stages = json.loads(result.read_text())
            stages.pop("_notes", None)
            per_size.append(stages)
            print(
                f"x{size:g}: "
                + ", ".join(
                    f"{k} {v['cpu_seconds']} s / {v['peak_rss_mib']:.0f} MiB" for k, v in stages.items()
                ),
                flush=True,
            )
            for f in (folder / "data").iterdir():
                f.unlink()  # the largest files go as soon as they are measured

    names = list(per_size[0])
    table = {}
    for name in names:
        rows = [s[name] for s in per_size]
        cpu = [r["cpu_seconds"] for r in rows]
        entry = {
            "cpu_seconds": cpu,
            "wall_seconds": [r["wall_seconds"] for r in rows],
            "peak_rss_mib": [r["peak_rss_mib"] for r in rows],
            "exponent": exponent(sizes, cpu),
        }
        if "peak_increase_mib" in rows[0]:
            entry["peak_increase_mib"] = [r["peak_increase_mib"] for r in rows]
            entry["memory_exponent"] = exponent(sizes, entry["peak_increase_mib"])
        for extra in (
            "measured_cpu_seconds", "sampled_fraction", "attach_latents_cpu_seconds", "beliefs_cpu_seconds",
            "instances", "train_windows",
        ):  # fmt: skip
            if extra in rows[0]:
                entry[extra] = [r[extra] for r in rows]
        table[name] = entry
    if "sasrec_epoch" in table:
        epoch = table["sasrec_epoch"]
        work = [
            s["sasrec_epoch"]["positions_per_epoch"] * d["items"]
            for s, d in zip(per_size, datasets, strict=True)
        ]
        epoch["exponent_vs_positions_x_items"] = exponent(work, epoch["cpu_seconds"])
    if "latents" in table:
        for part in ("attach_latents", "beliefs"):
            table["latents"][f"{part}_exponent"] = exponent(sizes, table["latents"][f"{part}_cpu_seconds"])
    faster = [n for n, e in table.items() if (e["exponent"] or 0) > SUPERLINEAR]
    print(json.dumps({
        "bench": "cost_vs_size",
        "sizes": sizes,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, shared; torch threads {threads}",
        "datasets": datasets,
        "stages": table,
        "superlinear": faster,
        "epoch_work_cap": EPOCH_WORK_CAP,
        "train_window_cap": TRAIN_WINDOW_CAP,
        "embed_cap": EMBED_CAP,
        "notes": [
            "seconds are CPU seconds of the stage's process (one torch thread); wall_seconds also count the "
            "time other jobs on the shared machine held the cores",
            "sasrec_epoch: timed on a seeded user sample where positions x items exceeds epoch_work_cap, "
            "scaled by 1/sampled_fraction (measured_cpu_seconds is what ran); its cost is positions x items "
            "by design (full-catalogue cross-entropy), see exponent_vs_positions_x_items",
            "latents: every training window (the fast profile) or a seeded sample of train_window_cap, "
            "scaled by 1/sampled_fraction (measured_cpu_seconds is what ran; peak memory is the sample's); "
            "beliefs_cpu_seconds is the recommender's own top-k per window where a training task needs it",
            "embed_catalogue: MiniLM on every catalogue title (model load excluded) or a seeded sample of "
            "embed_cap titles, scaled by 1/sampled_fraction; validate then reads the catalogue from the cache",
            "validate: its own process (peak RSS of that process), catalogue embeddings warm; "
            "embed_catalogue is what a cold validate adds",
        ],
        "total_seconds": round(time.perf_counter() - started, 1),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
