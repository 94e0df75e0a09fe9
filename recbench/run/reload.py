"""Rebuild a finished run's recommender and trained interpreter from its results.json (and the cache).

results.json holds the full :class:`RunSpec`; :func:`load_run` runs the same stages as ``evaluate``
(data, recommender, interpreter set-up, fit key) and checks that what they rebuild is what the run
used (dataset and checkpoint sha256, interpreter identity), so whatever serves it (the lm-eval model)
answers with the run's own interpreter. The tasks a run holds are the keys of its ``tasks`` block.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from recbench.cache import cache_dir, find_entry
from recbench.data.base import SequenceData
from recbench.data.splits import Window
from recbench.errors import ConfigError
from recbench.interpreters.base import Interpreter
from recbench.recommenders.train import TrainedRecommender
from recbench.results import load_results
from recbench.run import stages
from recbench.run.latents import attach_latents
from recbench.run.spec import RunSpec, interpreter_key
from recbench.tasks import load_task
from recbench.tasks.instances import Instance
from recbench.tasks.spec import TaskSpec


@dataclass
class LoadedRun:
    """A run's interpreter, ready to generate, with what it needs to turn window ids into latents."""

    folder: Path
    results: dict
    config: RunSpec
    data: SequenceData
    recommender: TrainedRecommender
    interpreter: Interpreter
    interp_key: str  # the run's interpreter identity: part of every generation-cache key
    specs: dict[str, TaskSpec]  # the tasks the run holds (its results.json tasks block)
    windows: dict[str, Window]

    @property
    def spec(self) -> RunSpec:
        return self.config

    @property
    def run_id(self) -> str:
        return self.results["run_id"]

    def latents(self, instances: list[Instance]) -> None:
        """Fill ``instances[i].latents`` from their windows and sources, as the run did."""
        attach_latents(self.recommender.model, instances, self.config.window)


def spec_of(results: dict, where: str) -> RunSpec:
    """The exact :class:`RunSpec` recorded in results.json (no profile defaults filled in)."""
    spec = RunSpec.from_dict(results.get("config"), where=f"{where}: config")
    if spec.run_id() != results.get("run_id"):
        raise ConfigError(
            f"{where}: its config gives run id {spec.run_id()}, not {results.get('run_id')}: the config "
            "was edited or written by another recbench version; re-run its command"
        )
    return spec


config_of = spec_of  # the name lm-eval's export uses


def run_tasks(results: dict) -> list[str]:
    """The tasks a run holds: the keys of its results.json ``tasks`` block (the one rule)."""
    return list(results.get("tasks") or {})


def trained_setup(results: dict, where: str) -> tuple[RunSpec, stages.Setup]:
    """The run's spec and set-up; a run whose interpreter was not trained has nothing to rebuild."""
    spec = spec_of(results, where)
    setup = stages.setup(spec)
    if not setup.interpreter.trainable:
        raise ConfigError(
            f"{where}: run {results['run_id']} used the '{spec.interpreter}' interpreter; only trained "
            "(LLM) interpreters can be rebuilt"
        )
    return spec, setup


def check_fit(
    spec: RunSpec, setup: stages.Setup, data, trained, results: dict, where: str
) -> tuple[str, str]:
    """``(fit key, identity)`` of the interpreter rebuilt from the spec; both must be the ones recorded."""
    key = stages.fit_key(spec, setup, data, trained)
    identity = interpreter_key(setup.interpreter.identity(), key)
    recorded = (results["interpreter"].get("training") or {}).get("key")
    if key != recorded or identity != results["interpreter"].get("identity"):
        raise ConfigError(
            f"{where}: the interpreter rebuilt from run {results['run_id']}'s config is not the one that ran "
            "(its LLM, adapter or task files changed since); re-run its command"
        )
    return key, identity


def load_run(folder: str | Path, device: str = "cpu") -> LoadedRun:
    """The run's recommender and trained interpreter (both from the cache), checked against the run."""
    folder = Path(folder)
    results = load_results(folder)  # clear one-line errors for a missing, malformed or older run
    run_id = results["run_id"]
    spec, setup = trained_setup(results, str(folder))
    data = stages.load_data(spec, results["dataset"].get("sha256"), f"run {run_id}")
    trained = stages.recommender(
        spec, data.data, device, expect_sha256=results["recommender"].get("checkpoint_sha256")
    )
    stages.prepare_interpreter(spec, setup.interpreter, data, trained, device)
    key, identity = check_fit(spec, setup, data, trained, results, str(folder))
    entry = find_entry("interpreters", f"{setup.interpreter.name}-{key}")
    if entry is None:
        raise ConfigError(
            f"run {run_id}'s trained adapter is not in the cache ({cache_dir() / 'interpreters'}); "
            f"re-run its command to rebuild it: {results.get('command', 'recbench run ...')}"
        )
    setup.interpreter.load(entry)
    tasks = {name: load_task(name, spec.task_version(name)) for name in run_tasks(results)}
    windows = {w.id: w for split in data.splits.values() for w in split}
    return LoadedRun(folder, results, spec, data.data, trained, setup.interpreter, identity, tasks, windows)
