"""``evaluate()``: dataset → recommender → instances → interpreter → generations → scores → run folder.

The stages live in :mod:`recbench.run.stages`; this module resolves the :class:`RunSpec`, composes
the stages and writes the run folder.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from recbench import __version__
from recbench.errors import ConfigError
from recbench.results import new_results, write_run
from recbench.run import stages
from recbench.run.parallel import (
    check_num_processes,
    chunk_size,
    count_units,
    current_ranks,
    launch,
    launched_world,
    rank_device,
    too_many_processes,
)
from recbench.run.spec import RunSpec

RESULTS_ROOT = Path("runs")


@dataclass(frozen=True)
class RunOptions:
    """How a run is carried out; none of these changes its numbers (so none is in the RunSpec)."""

    out_dir: str = str(RESULTS_ROOT)
    device: str = "cpu"
    overwrite: bool = False
    command: str | None = None
    metrics_device: str | None = None
    include_path: tuple[str, ...] = ()


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
    include_path: list[str] | tuple[str, ...] | None = None,
    **settings,
) -> dict | None:
    """Run the benchmark and return the results object (also written to ``<out_dir>/<run-id>/``).

    ``settings`` are :class:`RunSpec` fields (``interpreter``, ``adapter``, ``window``, ``limit``,
    ``steps``, ``seed``, ``train_tasks`` …); ``profile`` supplies the defaults. ``tasks`` are the tasks
    evaluated; the interpreter is trained on ``train_tasks`` (default: the profile's four), so
    evaluating fewer tasks reuses the profile's trained interpreter. ``include_path`` adds folders of
    task YAMLs, searched after the built-ins. Everything expensive is cached, so calling again with
    the same arguments only re-reads the caches; ``overwrite`` recomputes all.

    ``num_processes > 1`` runs data-parallel in that many local processes (see
    :mod:`recbench.run.parallel`): generation with the same results, and adapter training over the
    same processes unless ``train_processes=1`` (``train_processes`` is in the run id when not 1).
    Under ``accelerate launch`` / ``torchrun`` every rank calls this (training over all of them, unless
    ``train_processes=1``); rank 0 returns the results and the other ranks ``None``.
    """
    check_num_processes(num_processes)
    include = tuple(str(p) for p in include_path or ())
    use_include_path(include)
    world = num_processes if num_processes > 1 else launched_world()
    if settings.get("train_processes") is None and world > 1:  # training shared over every process
        settings["train_processes"] = world
    spec = RunSpec.resolve(profile, rec=rec, llm=llm, tasks=tasks or None, **settings)
    if spec.train_processes > 1 and world == 1:
        num_processes = world = spec.train_processes  # a data-parallel training needs its processes
    if spec.train_processes not in (1, world):
        raise ConfigError(
            f"--train-processes {spec.train_processes} with {world} processes: training runs in one "
            "process or in all of them"
        )
    opts = RunOptions(
        out_dir=str(out_dir or RESULTS_ROOT),
        device=device,
        overwrite=overwrite,
        command=command or _python_command(rec, llm, tasks, profile, settings),
        metrics_device=metrics_device,
        include_path=include,
    )
    if num_processes > 1:
        check_work(spec, num_processes)
        return launch(num_processes, {"spec": spec.to_dict(), "options": options_to_dict(opts)})
    return run(spec, opts)


def check_work(spec: RunSpec, num_processes: int) -> None:
    """Refuse more ranks than generation chunks before any rank starts (from the data alone, no model)."""
    setup = stages.setup(spec)
    n_test = len(stages.load_data(spec).splits["test"])
    n = n_test if spec.limit is None else min(spec.limit, n_test)
    chunk = chunk_size(setup.interpreter)
    controls = n if (setup.interpreter.uses_latents and n >= 2) else 0
    units = count_units([n, controls] * len(setup.tasks), chunk)
    if num_processes > units:
        raise too_many_processes(num_processes, units, chunk)


def run(spec: RunSpec, opts: RunOptions) -> dict | None:
    """The stages of one run; rank 0 returns the results, other data-parallel ranks ``None``."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    setup = stages.setup(spec)  # bad task, plug-in or interpreter settings fail before any work
    ranks = current_ranks(opts.device)  # rank 0 of 1 unless launched data-parallel
    device = rank_device(opts.device, ranks)
    with _timed(timings, "data"):
        data = stages.load_data(spec)
    with _timed(timings, "recommender"), ranks.main_first():  # rank 0 trains, the others load its entry
        trained = stages.recommender(spec, data.data, device, overwrite=opts.overwrite and ranks.is_main)
    with _timed(timings, "latents"):
        insts = stages.instances(spec, setup, data, trained)
    with _timed(timings, "interpreter_fit"):
        if spec.train_processes > 1:  # data-parallel training: every rank trains its share of each batch
            with ranks.main_first():  # rank 0 fills the LLM's cache entry, the others read it
                stages.prepare_interpreter(spec, setup.interpreter, data, trained, device)
            fitted = stages.fit(spec, setup, data, trained, insts, opts.overwrite, ranks)
        else:  # rank 0 trains, the others load its entry
            with ranks.main_first():
                stages.prepare_interpreter(spec, setup.interpreter, data, trained, device)
                fitted = stages.fit(spec, setup, data, trained, insts, opts.overwrite and ranks.is_main)
    with _timed(timings, "generate"):
        jobs = stages.jobs_of(spec, setup, insts, fitted.interpreter.uses_latents)
        outputs = stages.generate(fitted, jobs, ranks, opts.overwrite)
    if outputs is None:
        return None
    with _timed(timings, "score"):
        ctx = stages.metric_context(data, device, opts.metrics_device, opts.overwrite)
        blocks, samples = stages.score(spec, setup, data, outputs, ctx, trained)
    timings["total"] = time.perf_counter() - start
    results = new_results(
        run_id=spec.run_id(),
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        command=opts.command or "",
        recbench={"version": __version__, **_git_state()},
        dataset=data.card,
        recommender=trained.summary(),
        interpreter={**fitted.interpreter.describe(), "identity": fitted.key, "training": fitted.training},
        config=spec.to_dict(),
        seeds=spec.seeds,
        hardware=_hardware(device),
        timings={k: round(v, 2) for k, v in timings.items()},
        tasks=blocks,
    )
    write_run(Path(opts.out_dir) / spec.run_id(), results, samples)
    return results


def options_to_dict(opts: RunOptions) -> dict:
    return {**asdict(opts), "include_path": list(opts.include_path)}


@contextlib.contextmanager
def _timed(timings: dict[str, float], stage: str):
    t = time.perf_counter()
    yield
    timings[stage] = time.perf_counter() - t


def use_include_path(paths: tuple[str, ...]) -> None:
    """Task folders of this run, searched after the built-ins (see recbench.tasks)."""
    if paths:
        from recbench.tasks import set_include_paths

        set_include_paths(list(paths))


def _python_command(rec, llm, tasks, profile, settings) -> str:
    args = {"rec": rec, "llm": llm, "tasks": tasks, "profile": profile, **settings}
    return "recbench.evaluate(" + ", ".join(f"{k}={v!r}" for k, v in args.items() if v is not None) + ")"


def _git_state() -> dict:
    from recbench.provenance import git_state

    return git_state()


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
