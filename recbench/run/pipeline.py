"""``evaluate()``: dataset → recommender → instances → interpreter → generations → scores → run folder."""

from __future__ import annotations

import datetime as dt
import os
import platform
import random
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch

from recbench import __version__, progress, registry
from recbench.cache import atomic_dir, cache_dir, find_entry, stable_hash
from recbench.data import load_dataset, make_windows, split_windows_by_user
from recbench.data.splits import window_card
from recbench.errors import ConfigError
from recbench.gencache import GenerationCache, generation_key, latent_hash
from recbench.interpreters.base import InterpreterContext
from recbench.metrics.base import MetricContext, Sample
from recbench.metrics.embedding_cache import CachedEmbedder
from recbench.recommenders.train import train_recommender
from recbench.results import SCHEMA_VERSION, RunSamples, summarise_task, write_run
from recbench.run.config import RunConfig, resolve_config
from recbench.run.latents import attach_latents, recommender_top1, shuffled
from recbench.run.parallel import (
    Unit,
    assign,
    check_num_processes,
    chunk_size,
    count_units,
    current_ranks,
    launch,
    rank_device,
    too_many_processes,
)
from recbench.tasks import build_instances, load_task

RESULTS_ROOT = Path("runs")


def evaluate(
    rec: str = "sasrec",
    llm: str | None = None,
    tasks: list[str] | tuple[str, ...] | None = None,
    *,
    profile: str = "fast",
    out_dir: str | Path | None = None,
    device: str = "cpu",
    overwrite: bool = False,
    command: str | None = None,
    metrics_device: str | None = None,
    num_processes: int = 1,
    **settings,
) -> dict | None:
    """Run the benchmark and return the results object (also written to ``<out_dir>/<run-id>/``).

    ``settings`` are :class:`RunConfig` fields (``interpreter``, ``adapter``, ``window``, ``limit``,
    ``steps``, ``seed`` …); ``profile`` supplies the defaults. Everything expensive is cached, so
    calling again with the same arguments only re-reads the caches; ``overwrite`` recomputes all.

    ``num_processes > 1`` generates data-parallel in that many local processes (see
    :mod:`recbench.run.parallel`), with the same results. Under ``accelerate launch`` / ``torchrun``
    every rank calls this; rank 0 returns the results and the other ranks ``None``.
    """
    check_num_processes(num_processes)
    if num_processes > 1:
        kwargs = dict(rec=rec, llm=llm, tasks=list(tasks) if tasks else None, profile=profile, out_dir=str(out_dir) if out_dir else None,
                      device=device, overwrite=overwrite, command=command, metrics_device=metrics_device, **settings)  # fmt: skip
        return launch(num_processes, kwargs)
    t_total = time.perf_counter()
    cfg = resolve_config(profile, rec=rec, llm=llm, tasks=tuple(tasks) if tasks else None, **settings)
    specs = [load_task(t) for t in cfg.tasks]  # bad task names or files fail before any work
    interp_cls = registry.interpreters.get(cfg.interpreter)
    registry.recommenders.get(cfg.rec)
    interpreter = interp_cls.from_config(cfg)  # bad interpreter settings fail before any work
    ranks = current_ranks(device)  # rank 0 of 1 unless launched data-parallel
    device = rank_device(device, ranks)
    timings: dict[str, float] = {}

    t = time.perf_counter()
    data = load_dataset(cfg.dataset, cfg.data_dir)
    splits = split_windows_by_user(make_windows(data, cfg.window), seed=cfg.seed)
    card = {
        **data.card(),
        "data_dir": cfg.data_dir,
        "windows": window_card(splits, cfg.window),
        "split_seed": cfg.seed,
    }
    timings["data"] = time.perf_counter() - t

    t = time.perf_counter()
    with ranks.main_first():  # rank 0 trains (or loads); the other ranks then load its cache entry
        trained = train_recommender(
            data,
            cfg.rec,
            epochs=cfg.rec_epochs,
            seed=cfg.seed,
            device=device,
            overwrite=overwrite and ranks.is_main,
        )
    timings["recommender"] = time.perf_counter() - t

    t = time.perf_counter()
    rng = random.Random(cfg.seed)
    test_w = _sample(splits["test"], cfg.limit, rng)
    train_w = _sample(splits["train"], cfg.train_limit, rng)
    valid_w = _sample(splits["valid"], cfg.valid_limit, rng)
    needs_top1 = any(s.name == "next_item" for s in specs)
    top1 = recommender_top1(trained.model, test_w, cfg.window) if needs_top1 else {}
    test = {s.name: build_instances(s, test_w, data, top1) for s in specs}
    train = [i for s in specs for i in build_instances(s, train_w, data)]
    valid = [i for s in specs for i in build_instances(s, valid_w, data)]
    everything = train + valid + [i for insts in test.values() for i in insts]
    attach_latents(trained.model, everything, cfg.window)
    timings["latents"] = time.perf_counter() - t

    t = time.perf_counter()
    rec_dim = everything[0].latents[0].shape[-1]
    with ranks.main_first():  # LLM conversion and training stay single-process: see recbench/run/parallel.py
        interpreter.setup(InterpreterContext(data, rec_dim, cfg.window, device, cfg.seed))
        training = _fit_or_load(
            interpreter, cfg, specs, trained.sha256, data.sha256, train, valid, overwrite and ranks.is_main
        )
    timings["interpreter_fit"] = time.perf_counter() - t

    interp_key = stable_hash({"interpreter": interpreter.identity(), "fit": training.get("key")}, 32)
    cache = GenerationCache()
    t = time.perf_counter()
    jobs = []  # (task, condition, instances)
    for spec in specs:
        real = test[spec.name]
        control = shuffled(real, cfg.seed) if interpreter.uses_latents else []
        jobs += [(spec, "real", real), (spec, "shuffled", control)]
    if ranks.world > 1:
        _generate_shard(interpreter, interp_key, jobs, cache, ranks, overwrite)
        overwrite = False  # this run's outputs are fresh in the cache now
        if not ranks.is_main:
            cache.close()
            return None
    outputs: dict[str, dict] = {}
    for spec, condition, insts in jobs:
        label = f"{spec.name} ({condition})"
        outputs.setdefault(spec.name, {})[condition] = (
            insts,
            _generate(interpreter, interp_key, spec, insts, cache, label, overwrite),
        )
    cache.close()
    timings["generate"] = time.perf_counter() - t

    t = time.perf_counter()
    metric_dev = metrics_device or ("cuda" if device.startswith("cuda") else "cpu")
    # embeddings memoised per exact encode() call: a cached re-run neither loads MiniLM nor embeds again
    ctx = MetricContext(
        data.items, device=metric_dev, embedder=CachedEmbedder(metric_dev, read=not overwrite)
    )
    samples = RunSamples()
    task_blocks = {}
    for spec in specs:
        groups = {}
        for condition, (insts, outs) in outputs[spec.name].items():
            groups[condition] = [sample_of(i, o) for i, o in zip(insts, outs, strict=True)]
            for s in groups[condition]:
                samples.add(condition, s)
        block = summarise_task(groups["real"], groups["shuffled"], list(spec.metrics), ctx, seed=cfg.seed)
        task_blocks[spec.name] = {
            "version": spec.version,
            "main_metric": spec.main_metric,
            "generation": {"max_new_tokens": spec.max_new_tokens, "until": list(spec.until), "greedy": True},
            **block,
        }
    timings["score"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t_total

    run_id = cfg.run_id()
    results = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command or _python_command(rec, llm, tasks, profile, settings),
        "recbench": {"version": __version__, **_git_state()},
        "dataset": card,
        "recommender": trained.summary(),
        "interpreter": {**interpreter.describe(), "identity": interp_key, "training": training},
        "config": cfg.to_dict(),
        "seeds": {
            k: cfg.seed for k in ("split", "recommender", "interpreter", "control", "bootstrap", "sample")
        },
        "hardware": _hardware(device),
        "timings": {k: round(v, 2) for k, v in timings.items()},
        "tasks": task_blocks,
    }
    write_run(Path(out_dir or RESULTS_ROOT) / run_id, results, samples)
    return results


def _sample(windows: list, limit: int | None, rng: random.Random) -> list:
    if limit is None or limit >= len(windows):
        return list(windows)
    return sorted(rng.sample(windows, limit), key=lambda w: (w.user, w.start))


def _fit_or_load(
    interpreter, cfg: RunConfig, specs, rec_sha: str, data_sha: str, train, valid, overwrite
) -> dict:
    """Fit a trainable interpreter, or load the identical fit from the cache / pretrained layer."""
    if not interpreter.trainable:
        interpreter.fit(train, valid)
        return {"from_cache": False}
    key = stable_hash(
        {
            "interpreter": interpreter.identity(),
            "recommender_sha256": rec_sha,
            "dataset_sha256": data_sha,
            "tasks": [s.identity() for s in specs],
            "window": cfg.window,
            "train_limit": cfg.train_limit,
            "valid_limit": cfg.valid_limit,
            "seed": cfg.seed,
        }
    )
    entry = f"{interpreter.name}-{key}"
    found = None if overwrite else find_entry("interpreters", entry)
    if found is not None:
        interpreter.load(found)
        info = _read_info(found)
        return {**info, "key": key, "from_cache": True}
    steps = getattr(interpreter, "train_settings", {}).get("steps", 0)
    with progress.bar(f"train {interpreter.describe()['label']}", max(steps, 1)) as update:

        def report(done: int, total: int, loss: float, stage: str = "") -> None:
            update(note=f"{stage} loss {loss:.3f}".strip(), total=max(total, 1))

        info = interpreter.fit(train, valid, progress=report)
    with atomic_dir(cache_dir() / "interpreters" / entry) as tmp:
        interpreter.save(tmp)
        import json

        (tmp / "training.json").write_text(json.dumps(info, indent=2))
    return {**info, "key": key, "from_cache": False}


def _read_info(folder: Path) -> dict:
    import json

    path = folder / "training.json"
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ConfigError(f"{path}: cached training record is corrupted; run with --overwrite") from None


def _generation_keys(interp_key, spec, instances) -> list[str]:
    settings = {"max_new_tokens": spec.max_new_tokens, "until": list(spec.until)}
    return [
        generation_key(interp_key, settings, inst.prompt, latent_hash(inst.latents) if inst.latents else "")
        for inst in instances
    ]


def _generate(interpreter, interp_key, spec, instances, cache: GenerationCache, label: str, overwrite: bool):
    """Outputs for ``instances`` in order, generating only what the cache lacks, saving batch by batch."""
    if not instances:
        return []
    keys = _generation_keys(interp_key, spec, instances)
    if overwrite:
        cache.delete(keys)
    done = cache.get_many(keys)
    todo = [i for i, k in enumerate(keys) if k not in done]
    chunk = chunk_size(interpreter)
    with progress.bar(f"generate {label}", len(instances)) as update:
        update(advance=len(instances) - len(todo), note="cached" if not todo else "")
        for s in range(0, len(todo), chunk):
            idx = todo[s : s + chunk]
            texts = interpreter.generate(
                [instances[i] for i in idx], max_new_tokens=spec.max_new_tokens, stop=list(spec.until)
            )
            cache.put_many([(keys[i], text) for i, text in zip(idx, texts, strict=True)])
            done.update({keys[i]: text for i, text in zip(idx, texts, strict=True)})
            update(advance=len(idx))
    return [done[k] for k in keys]


def _generate_shard(interpreter, interp_key, jobs, cache: GenerationCache, ranks, overwrite: bool) -> None:
    """This rank's share of the chunks :func:`_generate` would run, written to the shared cache.

    The chunks are cut exactly as :func:`_generate` cuts them (so each ``generate`` call matches the
    single-process one); all ranks read the cache before any writes, and meet at a barrier at the end.
    """
    chunk = chunk_size(interpreter)
    units_cold = count_units([len(insts) for _, _, insts in jobs], chunk)
    if ranks.world > units_cold:
        raise too_many_processes(ranks.world, units_cold, chunk)
    keys = [_generation_keys(interp_key, spec, insts) if insts else [] for spec, _, insts in jobs]
    if overwrite and ranks.is_main:
        cache.delete([k for ks in keys for k in ks])
    ranks.barrier()  # deletions done before anyone reads
    units = []
    for j, ((spec, _, _), ks) in enumerate(zip(jobs, keys, strict=True)):
        done = cache.get_many(ks)
        todo = [i for i, k in enumerate(ks) if k not in done]
        units += [
            Unit(j, todo[s : s + chunk], len(todo[s : s + chunk]) * spec.max_new_tokens)
            for s in range(0, len(todo), chunk)
        ]
    ranks.barrier()  # every rank planned from the same cache state before anyone writes
    mine = assign(units, ranks.world)[ranks.rank]
    with progress.bar(
        f"generate (rank {ranks.rank} of {ranks.world})", sum(len(u.index) for u in mine)
    ) as update:
        for u in mine:
            spec, _, insts = jobs[u.job]
            texts = interpreter.generate(
                [insts[i] for i in u.index], max_new_tokens=spec.max_new_tokens, stop=list(spec.until)
            )
            cache.put_many([(keys[u.job][i], text) for i, text in zip(u.index, texts, strict=True)])
            update(advance=len(u.index))
    ranks.barrier()


def sample_of(inst, output: str) -> Sample:
    """The scored form of an instance and the interpreter's output for it."""
    return Sample(
        id=inst.id,
        task=inst.task,
        prompt=inst.prompt,
        target=inst.target,
        output=output,
        target_items=list(inst.target_items),
        rec_top1=inst.rec_top1,
        target_genres=list(inst.target_genres),
    )


def _python_command(rec, llm, tasks, profile, settings) -> str:
    args = {"rec": rec, "llm": llm, "tasks": tasks, "profile": profile, **settings}
    return "recbench.evaluate(" + ", ".join(f"{k}={v!r}" for k, v in args.items() if v is not None) + ")"


def _git_state() -> dict:
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return {"git_commit": None, "git_dirty": None}
    if commit.returncode != 0:
        return {"git_commit": None, "git_dirty": None}
    return {"git_commit": commit.stdout.strip(), "git_dirty": bool(status.stdout.strip())}


def _hardware(device: str) -> dict:
    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") and torch.cuda.is_available() else None
    return {
        "device": device,
        "gpu": gpu,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "processes": int(os.environ.get("WORLD_SIZE", "1")),
    }


def current_command() -> str:
    """The command line as typed, for results.json."""
    return "recbench " + shlex.join(sys.argv[1:])
