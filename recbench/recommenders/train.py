"""Train a recommender on a dataset's leave-one-out split, or load it from the cache."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from recbench import registry
from recbench.cache import atomic_dir, cache_dir, entry_lock, find_entry, partial_dir, sha256_of_file
from recbench.checkpoint import Checkpointer
from recbench.data.base import SequenceData
from recbench.data.splits import leave_one_out
from recbench.errors import ConfigError
from recbench.recommenders.base import SequentialRecommender, config_to_dict
from recbench.recommenders.evaluate import popularity_metrics, ranking_metrics
from recbench.run.spec import recommender_key


@dataclass
class TrainedRecommender:
    """A fitted recommender with where it is stored and how well it ranks."""

    name: str
    model: SequentialRecommender
    checkpoint: Path
    sha256: str  # of model.safetensors
    config: dict
    seed: int
    test: dict  # full-ranking HR/NDCG on the leave-one-out test
    popularity: dict  # the popularity baseline on the same split
    train_seconds: float
    load_seconds: float
    from_cache: bool

    def summary(self) -> dict:
        """Everything results.json records about the recommender."""
        return {
            "name": self.name,
            "config": self.config,
            "seed": self.seed,
            "checkpoint_sha256": self.sha256,
            "test": self.test,
            "popularity": self.popularity,
            "train_seconds": self.train_seconds,
            "from_cache": self.from_cache,
        }


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: CUDA is not available on this machine")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise ConfigError(f"--device must be cpu, cuda, cuda:N or auto, got '{device}'")
    return device


def make_config(cls, max_len: int | None = None, epochs: int | None = None, **model_overrides):
    """The recommender's default config with the given overrides, validated."""
    config = cls.config_from_dict(config_to_dict(_default_config(cls)))
    for key, value in model_overrides.items():
        if value is None:
            continue
        if not hasattr(config, key):
            raise ConfigError(f"{cls.name} has no setting '{key}'")
        setattr(config, key, value)
    if max_len is not None:
        if max_len < 2:
            raise ConfigError(f"--max-len must be at least 2, got {max_len}")
        config.train.max_len = max_len
    if epochs is not None:
        if epochs < 1:
            raise ConfigError(f"--epochs must be at least 1, got {epochs}")
        config.train.epochs = epochs
    return config


def _default_config(cls):
    return cls(1).config


def train_recommender(
    data: SequenceData,
    rec: str = "sasrec",
    *,
    max_len: int | None = None,
    epochs: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    overwrite: bool = False,
) -> TrainedRecommender:
    """Fit ``rec`` on ``data`` (leave-one-out) unless an identical fit is cached; report ranking quality.

    The cache key is (dataset sha256, recommender name and version, config, seed); the entry is
    written to a temp folder and renamed, so an interrupted run never leaves half a checkpoint, and
    training saves a checkpoint after every epoch, so a killed one resumes where it stopped.
    """
    cls = registry.recommenders.get(rec)
    device = resolve_device(device)
    config = make_config(cls, max_len=max_len, epochs=epochs)
    key = recommender_key(data.sha256, cls.name, cls.version, asdict(config), seed)
    entry = f"{cls.name}-{key}"
    folder = cache_dir() / "recommenders" / entry
    split = leave_one_out(data)
    start = time.perf_counter()
    # Under the entry's lock: a second identical run waits here for the first, then loads its entry.
    with entry_lock(folder):
        found = None if overwrite else find_entry("recommenders", entry)
        checkpoint = Checkpointer(partial_dir("recommenders", entry), every_steps=1)  # every epoch
        if found is not None:
            folder = found
            model = cls.load(folder).to(device)
            from_cache = True
            if found == cache_dir() / "recommenders" / entry:
                checkpoint.discard()  # left by a kill after the entry was written
        else:
            torch.manual_seed(seed)  # the initial weights depend on the seed too
            model = cls(data.n_items, config).to(device)
            model.fit(split.train, split.valid, seed=seed, checkpoint=checkpoint)
            with atomic_dir(folder) as tmp:
                model.cpu().save(tmp)
            checkpoint.discard()
            model.to(device)
            from_cache = False
    elapsed = time.perf_counter() - start
    max_len = config.train.max_len
    test = {k: round(v, 6) for k, v in ranking_metrics(model, split.test, max_len).items()}
    pop = {k: round(v, 6) for k, v in popularity_metrics(split.train, split.test, data.n_items).items()}
    return TrainedRecommender(
        name=cls.name,
        model=model.eval(),
        checkpoint=folder,
        sha256=sha256_of_file(folder / "model.safetensors"),
        config=config_to_dict(config),
        seed=seed,
        test=test,
        popularity=pop,
        train_seconds=model.history.get("train_seconds", round(elapsed, 2)),
        load_seconds=round(elapsed, 3) if from_cache else 0.0,
        from_cache=from_cache,
    )
