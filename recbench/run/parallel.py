"""Data-parallel evaluation: N processes share generation through the SQLite cache; rank 0 scores.

Design (results identical to one process by construction):

* Ranks are ordinary ``torch.distributed`` processes, initialised through accelerate's
  ``PartialState`` (gloo on CPU, nccl on CUDA). They come from ``recbench run --num-processes N``
  (which starts N copies of :mod:`recbench.run.rank`, the way torchrun does) or from ``accelerate launch`` /
  ``torchrun`` (which set ``RANK``/``WORLD_SIZE``/``MASTER_ADDR`` themselves).
* The recommender is trained by rank 0 only; the other ranks wait, then load its cache entry.
* The adapter is trained data-parallel over the ranks when ``RunSpec.train_processes`` is their
  number (the default under ``--num-processes N``, accelerate launch and torchrun): each rank takes a
  fixed share of every batch and the gradients are summed (:mod:`recbench.interpreters.data_parallel`).
  Sums in another order give other bits, so ``train_processes`` is part of the run id (left out at 1).
  With ``train_processes=1`` rank 0 trains alone and the others load its entry, as before.
* Generation is cut into the very chunks the single-process path uses (``2 x gen_batch_size``
  prompts of one task and condition). Each rank generates whole chunks (longest first, to the least
  loaded rank) and writes them into the shared generation cache. Every ``interpreter.generate``
  call is therefore the same call, with the same batch, as in a single process.
* After a barrier rank 0 runs the ordinary single-process path, which finds every output cached,
  scores and writes the run folder. The other ranks return ``None``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from recbench.errors import ConfigError, RecbenchError

ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
BARRIER_TIMEOUT = dt.timedelta(hours=48)  # rank 0 may train an adapter for hours while the others wait


@dataclass
class Ranks:
    """Where this process stands in a data-parallel run (one process: rank 0 of 1)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    state: object | None = field(default=None, repr=False)  # accelerate.PartialState

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            self.state.wait_for_everyone()

    @contextlib.contextmanager
    def main_first(self) -> Iterator[None]:
        """Rank 0 runs the block first (filling a cache); the others run it after, reading the cache."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()


def launched_world() -> int:
    """``WORLD_SIZE`` as set by accelerate launch, torchrun or :func:`launch` (1 when absent)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise ConfigError(f"WORLD_SIZE={os.environ['WORLD_SIZE']!r} is not an integer") from None


def current_ranks(device: str) -> Ranks:
    """Join the process group when launched as one of several ranks; otherwise rank 0 of 1."""
    if launched_world() <= 1:
        return Ranks()
    from accelerate import PartialState
    from accelerate.utils import InitProcessGroupKwargs

    kwargs = InitProcessGroupKwargs(timeout=BARRIER_TIMEOUT).to_kwargs()
    state = PartialState(cpu=not device.startswith("cuda"), **kwargs)
    return Ranks(state.process_index, state.num_processes, state.local_process_index, state)


def rank_device(device: str, ranks: Ranks) -> str:
    """One GPU per rank (``cuda:<local rank>``) when several ranks share a CUDA machine."""
    if ranks.world > 1 and device == "cuda":
        return f"cuda:{ranks.local_rank}"
    return device


def check_num_processes(num_processes: int) -> None:
    if not isinstance(num_processes, int) or isinstance(num_processes, bool) or num_processes < 1:
        raise ConfigError(f"--num-processes must be a positive integer, got {num_processes!r}")
    if num_processes > 1 and launched_world() > 1:
        raise ConfigError(
            f"--num-processes {num_processes} inside an already launched run (WORLD_SIZE={launched_world()}); "
            "use either accelerate launch / torchrun or --num-processes, not both"
        )


# --- sharding generation ------------------------------------------------------------------------


@dataclass
class Unit:
    """One chunk of prompts (one task and condition) that a single ``interpreter.generate`` call handles."""

    job: int  # index into the run's (task, condition) jobs
    index: list[int]  # positions of its prompts in that job's instance list
    cost: int  # prompts x max_new_tokens: what the longest-first assignment balances


def chunk_size(interpreter) -> int:
    """Prompts per ``interpreter.generate`` call; the single-process path uses the same."""
    return max(1, getattr(interpreter, "gen_batch_size", 16)) * 2


def count_units(sizes: list[int], chunk: int) -> int:
    """How many generation chunks a cold run has, for job sizes ``sizes``."""
    return sum(math.ceil(n / chunk) for n in sizes if n)


def assign(units: list[Unit], world: int) -> list[list[Unit]]:
    """Longest-processing-time-first: each unit (largest first) to the least loaded rank; deterministic."""
    load = [0] * world
    out: list[list[Unit]] = [[] for _ in range(world)]
    for u in sorted(units, key=lambda u: (-u.cost, u.job, u.index[0])):
        r = min(range(world), key=lambda r: (load[r], r))
        out[r].append(u)
        load[r] += u.cost
    for mine in out:
        mine.sort(key=lambda u: (u.job, u.index[0]))
    return out


def too_many_processes(world: int, units: int, chunk: int) -> ConfigError:
    return ConfigError(
        f"--num-processes {world} is more than the work: this run generates {units} batch(es) of up to "
        f"{chunk} prompts; use at most {max(units, 1)} processes (or raise --limit)"
    )


# --- the launcher -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(num_processes: int, payload: dict, threads: int | None = None) -> dict:
    """Run ``payload`` (``{"spec": RunSpec.to_dict(), "options": RunOptions}``) as ``num_processes`` ranks
    on this machine; rank 0's results.

    Each rank is a fresh Python process running :mod:`recbench.run.rank` (as torchrun would start it)
    with ``RANK``/``WORLD_SIZE``/``MASTER_*`` set and ``threads`` torch threads (default: this process's
    threads divided among the ranks). A user error on any rank ends all ranks and is raised here as one
    :class:`RecbenchError` line.
    """
    import torch

    from recbench import progress

    check_num_processes(num_processes)
    threads = threads or max(1, torch.get_num_threads() // num_processes)
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="recbench-ranks-") as tmp:
        status = Path(tmp)
        job = {**payload, "progress": progress._enabled, "threads": threads, "status": str(status)}
        (status / "spec.json").write_text(json.dumps(job))
        procs = []
        for rank in range(num_processes):
            env = {
                **os.environ,
                "RANK": str(rank),
                "WORLD_SIZE": str(num_processes),
                "LOCAL_RANK": str(rank),
                "LOCAL_WORLD_SIZE": str(num_processes),
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": str(port),
                "OMP_NUM_THREADS": str(threads),
            }
            cmd = [sys.executable, "-m", "recbench.run.rank", str(status / "spec.json")]
            procs.append(subprocess.Popen(cmd, env=env))
        failed = _wait_all(procs, status)
        if failed is not None:
            raise failed
        return json.loads((status / "results.json").read_text())


def _wait_all(procs: list[subprocess.Popen], status: Path) -> RecbenchError | None:
    """Wait for every rank; at the first failure stop the others (they would wait at a barrier forever)."""
    bad: list[int] = []
    stopped: set[int] = set()
    try:
        while True:
            codes = [p.poll() for p in procs]
            bad = [r for r, c in enumerate(codes) if c not in (None, 0)]
            if bad or all(c == 0 for c in codes):
                break
            time.sleep(0.2)
    finally:  # also on Ctrl-C: no rank outlives the launcher
        for r, p in enumerate(procs):
            if p.poll() is None:
                p.terminate()
                stopped.add(r)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    if not bad:
        return None
    # a user error is reported by every rank that met it: prefer the lowest rank's own message; a rank
    # that only saw another rank stop ("secondary") does not hide that rank's cause
    infos = {
        r: json.loads(p.read_text()) for r in range(len(procs)) if (p := status / f"error-{r}.json").is_file()
    }
    # ended on its own with an unexpected error (no report): its traceback is above
    crashed = [r for r, p in enumerate(procs) if r not in stopped and p.returncode != 0 and r not in infos]
    primary = [i for i in infos.values() if not i.get("secondary")]
    for info in primary or ([] if crashed else list(infos.values())):
        err = RecbenchError(info["message"])
        err.exit_code = info.get("exit_code", 2)
        return err
    codes = ", ".join(f"rank {r}: exit {procs[r].returncode}" for r in crashed or bad)
    return RecbenchError(f"a rank of the data-parallel run failed ({codes}); see its output above")
