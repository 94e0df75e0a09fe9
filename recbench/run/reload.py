"""Rebuild a finished run's recommender and trained interpreter from its results.json (and the cache).

results.json holds the full resolved :class:`RunConfig`; the recommender and the adapter are cache
entries keyed by it. :func:`load_run` rebuilds both and checks that they are the ones the run used
(checkpoint sha256, interpreter identity), so whatever serves them (the lm-eval model) answers with
the run's own interpreter.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import torch

from recbench import registry
from recbench.cache import cache_dir, find_entry, stable_hash
from recbench.data import load_dataset, make_windows
from recbench.data.base import SequenceData
from recbench.data.splits import Window
from recbench.errors import ConfigError
from recbench.interpreters.base import Interpreter, InterpreterContext
from recbench.recommenders.base import pad_left
from recbench.recommenders.train import TrainedRecommender, train_recommender
from recbench.results import load_results
from recbench.run.config import RunConfig
from recbench.run.latents import attach_latents
from recbench.tasks import load_task
from recbench.tasks.instances import Instance
from recbench.tasks.spec import TaskSpec


@dataclass
class LoadedRun:
    """A run's interpreter, ready to generate, with what it needs to turn window ids into latents."""

    folder: Path
    results: dict
    config: RunConfig
    data: SequenceData
    recommender: TrainedRecommender
    interpreter: Interpreter
    interp_key: str  # the run's interpreter identity: part of every generation-cache key
    specs: dict[str, TaskSpec]
    windows: dict[str, Window]

    @property
    def run_id(self) -> str:
        return self.results["run_id"]

    def latents(self, instances: list[Instance]) -> None:
        """Fill ``instances[i].latents`` from their windows and sources, as the run did."""
        attach_latents(self.recommender.model, instances, self.config.window)


def config_of(results: dict, where: str) -> RunConfig:
    """The exact :class:`RunConfig` recorded in results.json (no profile defaults filled in)."""
    raw = results.get("config")
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: results.json has no 'config' object")
    names = {f.name for f in fields(RunConfig)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ConfigError(f"{where}: config has settings this recbench does not know: {', '.join(unknown)}")
    try:
        cfg = RunConfig(**{**raw, "tasks": tuple(raw.get("tasks") or ())})
    except TypeError as exc:
        raise ConfigError(f"{where}: config cannot be read ({exc})") from None
    if cfg.run_id() != results.get("run_id"):
        raise ConfigError(
            f"{where}: its config gives run id {cfg.run_id()}, not {results.get('run_id')}: "
            "recorded with another recbench version; re-run its command"
        )
    return cfg


def load_run(folder: str | Path, device: str = "cpu") -> LoadedRun:
    """The run's recommender and trained interpreter (both from the cache), checked against the run."""
    folder = Path(folder)
    results = load_results(folder)  # clear one-line errors for a missing, malformed or older run
    run_id = results["run_id"]
    cfg = config_of(results, str(folder))
    interp_cls = registry.interpreters.get(cfg.interpreter)
    if not interp_cls.trainable:
        raise ConfigError(
            f"run {run_id} used the '{cfg.interpreter}' interpreter; only trained (LLM) interpreters can be served"
        )
    data = load_dataset(cfg.dataset, cfg.data_dir)
    if data.sha256 != results["dataset"].get("sha256"):
        raise ConfigError(
            f"dataset '{cfg.dataset}' here has sha256 {data.sha256[:12]}, run {run_id} recorded "
            f"{str(results['dataset'].get('sha256'))[:12]}"
        )
    trained = train_recommender(data, cfg.rec, epochs=cfg.rec_epochs, seed=cfg.seed, device=device)
    if trained.sha256 != results["recommender"].get("checkpoint_sha256"):
        raise ConfigError(
            f"the {cfg.rec} checkpoint rebuilt here (sha256 {trained.sha256[:12]}) is not run {run_id}'s "
            f"({str(results['recommender'].get('checkpoint_sha256'))[:12]})"
        )
    specs = {name: load_task(name) for name in cfg.tasks}
    windows = {w.id: w for w in make_windows(data, cfg.window)}
    trained.model.eval()
    with torch.no_grad():
        probe = next(iter(windows.values()))
        device_of = next(trained.model.parameters()).device
        rec_dim = int(trained.model.encode(pad_left([list(probe.items)], cfg.window).to(device_of)).shape[-1])
    interpreter = interp_cls.from_config(cfg)
    key = (results["interpreter"].get("training") or {}).get("key")
    entry = find_entry("interpreters", f"{interpreter.name}-{key}") if key else None
    if entry is None:
        raise ConfigError(
            f"run {run_id}'s trained adapter is not in the cache ({cache_dir() / 'interpreters'}); "
            f"re-run its command to rebuild it: {results.get('command', 'recbench run ...')}"
        )
    interpreter.setup(InterpreterContext(data, rec_dim, cfg.window, device, cfg.seed))
    interpreter.load(entry)
    interp_key = stable_hash({"interpreter": interpreter.identity(), "fit": key}, 32)
    if interp_key != results["interpreter"].get("identity"):
        raise ConfigError(
            f"the interpreter rebuilt from run {run_id}'s config is not the one that ran (its LLM, "
            "adapter or task files changed since); re-run its command"
        )
    return LoadedRun(folder, results, cfg, data, trained, interpreter, interp_key, specs, windows)
