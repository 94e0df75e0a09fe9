"""The stages of a run, each a plain function of the :class:`RunSpec` and what earlier stages made.

``evaluate()`` composes them (data, recommender, instances, fit, generate, score, write); reloading a
run (:mod:`recbench.run.reload`), the data-parallel launcher and lm-eval reuse the same functions, so
nothing about a run is derived twice.
"""

from __future__ import annotations

import contextlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

import torch

from recbench import progress, registry
from recbench.cache import atomic_dir, cache_dir, entry_lock, find_entry, partial_dir
from recbench.checkpoint import Checkpointer
from recbench.data import make_windows, split_windows_by_user
from recbench.data.base import SequenceData
from recbench.data.checked import load_checked
from recbench.data.splits import sample_windows, window_card
from recbench.errors import ConfigError
from recbench.gencache import GenerationCache
from recbench.interpreters.base import Interpreter, InterpreterContext
from recbench.metrics.base import MetricContext, RoundTrip
from recbench.metrics.embedding_cache import CachedEmbedder
from recbench.metrics.roundtrip import answer_items
from recbench.recommenders.base import pad_left
from recbench.recommenders.train import TrainedRecommender, train_recommender
from recbench.results import RunSamples, summarise_task
from recbench.results.scoring import task_block
from recbench.run.belief import TOP_K, recommender_topk, round_trips
from recbench.run.latents import attach_latents, shuffled
from recbench.run.parallel import Ranks, Unit, assign, chunk_size, count_units, too_many_processes
from recbench.run.spec import RunSpec, generation_keys, interpreter_fit_key, interpreter_key
from recbench.tasks import Instance, TaskSpec, build_instances, load_task
from recbench.tasks.inputs import check_inputs_available
from recbench.tasks.instances import sample_of

# --- setup: everything a user can get wrong, checked before any work --------------------------------


@dataclass
class Setup:
    tasks: list[TaskSpec]  # evaluated
    train_tasks: list[TaskSpec]  # the interpreter is trained on these
    interpreter: Interpreter


def setup(spec: RunSpec) -> Setup:
    """Load the tasks, look up the plug-ins and build the interpreter: bad names fail here."""
    tasks = [load_task(t, spec.task_version(t)) for t in spec.tasks]
    train_tasks = [load_task(t, spec.task_version(t)) for t in spec.train_tasks]
    registry.recommenders.get(spec.rec)
    interpreter = registry.interpreters.get(spec.interpreter).from_config(spec)
    return Setup(tasks, train_tasks, interpreter)


# --- data --------------------------------------------------------------------------------------------


@dataclass
class Data:
    data: SequenceData
    splits: dict[str, list]  # train / valid / test windows, split by user
    card: dict  # the dataset block of results.json


def load_data(spec: RunSpec, expect_sha256: str | None = None, owner: str = "the run") -> Data:
    """The dataset (its sha256 checked when ``expect_sha256`` is given) and its windows split by user."""
    return data_of(spec, load_checked(spec.dataset, spec.data_dir, expect_sha256, owner))


def data_of(spec: RunSpec, data: SequenceData) -> Data:
    """A loaded dataset's windows split by user, and its card for results.json."""
    splits = split_windows_by_user(make_windows(data, spec.window), seed=spec.seed)
    card = {
        **data.card(),
        "data_dir": spec.data_dir,
        "windows": window_card(splits, spec.window),
        "split_seed": spec.seed,
    }
    return Data(data, splits, card)


# --- recommender -------------------------------------------------------------------------------------


def recommender(
    spec: RunSpec, data: SequenceData, device: str, overwrite: bool = False, expect_sha256: str | None = None
) -> TrainedRecommender:
    """Train the recommender or load it from the cache; its checkpoint checked when ``expect_sha256`` is given."""
    trained = train_recommender(
        data, spec.rec, epochs=spec.rec_epochs, seed=spec.seed, device=device, overwrite=overwrite
    )
    if expect_sha256 is not None and trained.sha256 != expect_sha256:
        raise ConfigError(
            f"the {spec.rec} checkpoint rebuilt here (sha256 {trained.sha256[:12]}) is not the run's "
            f"({str(expect_sha256)[:12]})"
        )
    return trained


@torch.no_grad()
def latent_dim(model, window: int) -> int:
    """Width of the recommender's hidden states (what the adapter reads)."""
    model.eval()
    device = next(model.parameters()).device
    return int(model.encode(pad_left([[1]], window).to(device)).shape[-1])


# --- instances ---------------------------------------------------------------------------------------


@dataclass
class Instances:
    test: dict[str, list[Instance]]  # per evaluated task
    train: list[Instance]
    valid: list[Instance]


def test_instances(
    spec: RunSpec, s: Setup, d: Data, trained: TrainedRecommender
) -> dict[str, list[Instance]]:
    """Each evaluated task's test instances (seeded sample of test windows), with inputs and latents."""
    test_w = sample_windows(d.splits["test"], spec.limit, random.Random(spec.seed))
    for task in {t.name: t for t in s.tasks + s.train_tasks}.values():
        check_inputs_available(task, d.data)
    provided = beliefs(s.tasks, test_w, trained, spec.window)
    test = {t.name: build_instances(t, test_w, d.data, provided) for t in s.tasks}
    attach_latents(trained.model, [i for insts in test.values() for i in insts], spec.window)
    return test


def beliefs(tasks: list[TaskSpec], windows: list, trained: TrainedRecommender, window: int) -> dict:
    """The recommender's own top-1 / top-10 for ``windows``, when a task declares them (else ``{}``)."""
    if not any({"rec_top1", "rec_top10"} & set(t.inputs) for t in tasks):
        return {}
    top10 = recommender_topk(trained.model, windows, window, TOP_K)
    return {"rec_top1": {w: items[0] for w, items in top10.items()}, "rec_top10": top10}


def instances(spec: RunSpec, s: Setup, d: Data, trained: TrainedRecommender) -> Instances:
    """Test instances, then the seeded train and valid instances of the training tasks, with latents."""
    test = test_instances(spec, s, d, trained)
    rng = random.Random(spec.seed)  # one stream, in this order: test, train, valid
    sample_windows(d.splits["test"], spec.limit, rng)  # the test draw, as test_instances made it
    train_w = sample_windows(d.splits["train"], spec.train_limit, rng)
    valid_w = sample_windows(d.splits["valid"], spec.valid_limit, rng)
    # a training target may be the recommender's own top-1 (next_item v2): computed like the test one
    train_in, valid_in = (beliefs(s.train_tasks, w, trained, spec.window) for w in (train_w, valid_w))
    train = [i for t in s.train_tasks for i in build_instances(t, train_w, d.data, train_in)]
    valid = [i for t in s.train_tasks for i in build_instances(t, valid_w, d.data, valid_in)]
    attach_latents(trained.model, train + valid, spec.window)
    return Instances(test, train, valid)


# --- fit ---------------------------------------------------------------------------------------------


@dataclass
class Fitted:
    interpreter: Interpreter
    training: dict  # the interpreter.training block of results.json
    key: str  # interpreter identity: part of every generation key


def prepare_interpreter(spec: RunSpec, interpreter: Interpreter, d: Data, trained, device: str) -> None:
    interpreter.setup(
        InterpreterContext(d.data, latent_dim(trained.model, spec.window), spec.window, device, spec.seed)
    )


def fit_key(spec: RunSpec, s: Setup, d: Data, trained: TrainedRecommender) -> str:
    identity = s.interpreter.identity()
    return interpreter_fit_key(
        spec, identity, trained.sha256, d.data.sha256, [t.identity() for t in s.train_tasks]
    )


def fit(
    spec: RunSpec, s: Setup, d: Data, trained, insts: Instances, overwrite: bool, ranks: Ranks | None = None
) -> Fitted:
    """Fit a trainable interpreter, or load the identical fit from the cache / pretrained layer.

    With ``ranks`` (a data-parallel training, ``spec.train_processes > 1``) every rank calls this and
    trains its share; rank 0 alone holds the entry's lock and writes checkpoints and the entry.
    """
    interpreter = s.interpreter
    if not interpreter.trainable:
        interpreter.fit(insts.train, insts.valid)
        training = {"from_cache": False}
        return Fitted(interpreter, training, interpreter_key(interpreter.identity(), None))
    key = fit_key(spec, s, d, trained)
    entry = f"{interpreter.name}-{key}"
    final = cache_dir() / "interpreters" / entry
    ranks = ranks or Ranks()
    # Under the entry's lock: a second identical run waits here for the first, then loads its entry.
    # Training checkpoints go to a partial folder keyed like the entry (recbench.checkpoint), so a
    # killed training resumes from its last one; the folder goes once the entry is written.
    with entry_lock(final) if ranks.is_main else contextlib.nullcontext():
        if not ranks.is_main:
            ranks.barrier()  # rank 0 holds the lock and has looked: nothing can write the entry now
        found = None if overwrite else find_entry("interpreters", entry)
        if ranks.is_main:
            ranks.barrier()
        interpreter.checkpoint = Checkpointer(partial_dir("interpreters", entry), writes=ranks.is_main)
        if found is not None:
            interpreter.load(found)
            training = {**read_training(found), "key": key, "from_cache": True}
        else:
            steps = getattr(interpreter, "train_settings", {}).get("steps", 0)
            with progress.bar(f"train {interpreter.describe()['label']}", max(steps, 1)) as update:
                shown = [0]

                def report(done: int, total: int, loss: float, stage: str = "") -> None:
                    # done can jump (a resumed training starts at its checkpoint's step)
                    note = f"{stage} loss {loss:.3f}".strip()
                    update(advance=done - shown[0], note=note, total=max(total, 1))
                    shown[0] = done

                info = interpreter.fit(insts.train, insts.valid, progress=report)
            if ranks.is_main:  # every rank ends with the same weights
                with atomic_dir(final) as tmp:
                    interpreter.save(tmp)
                    (tmp / "training.json").write_text(json.dumps(info, indent=2))
            training = {**info, "key": key, "from_cache": False}
        if found is None or found == final:
            interpreter.checkpoint.discard()
    return Fitted(interpreter, training, interpreter_key(interpreter.identity(), key))


def read_training(folder: Path) -> dict:
    path = folder / "training.json"
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ConfigError(f"{path}: cached training record is corrupted; run with --overwrite") from None


# --- generate ----------------------------------------------------------------------------------------

Job = tuple[TaskSpec, str, list[Instance]]  # (task, condition, instances)


def jobs_of(spec: RunSpec, s: Setup, insts: Instances, uses_latents: bool) -> list[Job]:
    """Per task: the real instances, then the shuffled control (none for interpreters without latents)."""
    out: list[Job] = []
    for task in s.tasks:
        real = insts.test[task.name]
        out += [(task, "real", real), (task, "shuffled", shuffled(real, spec.seed) if uses_latents else [])]
    return out


def generate(fitted: Fitted, jobs: list[Job], ranks: Ranks, overwrite: bool) -> dict | None:
    """``{task: {condition: (instances, outputs)}}``; ``None`` on a data-parallel rank other than 0."""
    cache = GenerationCache()
    try:
        if ranks.world > 1:
            generate_shard(fitted, jobs, cache, ranks, overwrite)
            overwrite = False  # this run's outputs are fresh in the cache now
            if not ranks.is_main:
                return None
        outputs: dict[str, dict] = {}
        for task, condition, insts in jobs:
            texts = generate_job(fitted, task, insts, cache, f"{task.name} ({condition})", overwrite)
            outputs.setdefault(task.name, {})[condition] = (insts, texts)
        return outputs
    finally:
        cache.close()


def generate_job(
    fitted: Fitted, task: TaskSpec, insts: list, cache: GenerationCache, label: str, overwrite: bool
):
    """Outputs for ``insts`` in order, generating only what the cache lacks, saving chunk by chunk."""
    if not insts:
        return []
    keys = generation_keys(fitted.key, task, insts)
    if overwrite:
        cache.delete(keys)
    done = cache.get_many(keys)
    todo = [i for i, k in enumerate(keys) if k not in done]
    chunk = chunk_size(fitted.interpreter)
    with progress.bar(f"generate {label}", len(insts)) as update:
        update(advance=len(insts) - len(todo), note="cached" if not todo else "")
        for s in range(0, len(todo), chunk):
            idx = todo[s : s + chunk]
            texts = _generate_chunk(fitted, task, [insts[i] for i in idx])
            cache.put_many([(keys[i], text) for i, text in zip(idx, texts, strict=True)])
            done.update({keys[i]: text for i, text in zip(idx, texts, strict=True)})
            update(advance=len(idx))
    return [done[k] for k in keys]


def _generate_chunk(fitted: Fitted, task: TaskSpec, insts: list) -> list[str]:
    return fitted.interpreter.generate(insts, max_new_tokens=task.max_new_tokens, stop=list(task.until))


def generate_shard(
    fitted: Fitted, jobs: list[Job], cache: GenerationCache, ranks: Ranks, overwrite: bool
) -> None:
    """This rank's share of the chunks :func:`generate_job` would run, written to the shared cache.

    The chunks are cut exactly as :func:`generate_job` cuts them (so each ``generate`` call matches the
    single-process one); all ranks read the cache before any writes, and meet at a barrier at the end.
    """
    chunk = chunk_size(fitted.interpreter)
    units_cold = count_units([len(insts) for _, _, insts in jobs], chunk)
    if ranks.world > units_cold:
        raise too_many_processes(ranks.world, units_cold, chunk)
    keys = [generation_keys(fitted.key, task, insts) if insts else [] for task, _, insts in jobs]
    if overwrite and ranks.is_main:
        cache.delete([k for ks in keys for k in ks])
    ranks.barrier()  # deletions done before anyone reads
    units = []
    for j, ((task, _, _), ks) in enumerate(zip(jobs, keys, strict=True)):
        done = cache.get_many(ks)
        todo = [i for i, k in enumerate(ks) if k not in done]
        units += [
            Unit(j, todo[s : s + chunk], len(todo[s : s + chunk]) * task.max_new_tokens)
            for s in range(0, len(todo), chunk)
        ]
    ranks.barrier()  # every rank planned from the same cache state before anyone writes
    mine = assign(units, ranks.world)[ranks.rank]
    label = f"generate (rank {ranks.rank} of {ranks.world})"
    with progress.bar(label, sum(len(u.index) for u in mine)) as update:
        for u in mine:
            task, _, insts = jobs[u.job]
            texts = _generate_chunk(fitted, task, [insts[i] for i in u.index])
            cache.put_many([(keys[u.job][i], text) for i, text in zip(u.index, texts, strict=True)])
            update(advance=len(u.index))
    ranks.barrier()


# --- score -------------------------------------------------------------------------------------------


def roundtrips_of(
    task: TaskSpec, insts: list[Instance], outs: list[str], trained, ctx: MetricContext, window: int
) -> list[RoundTrip | None]:
    """Each output's round trip when the task declares it (its items fed back to the recommender)."""
    if "roundtrip" not in task.inputs:
        return [None] * len(insts)
    answers = answer_items(list(outs), task.answer_items, ctx, window)
    return round_trips(
        trained.model, [i.window for i in insts], answers, [i.rec_top10 for i in insts], window
    )


def score(
    spec: RunSpec, s: Setup, d: Data, outputs: dict, ctx: MetricContext, trained: TrainedRecommender
) -> tuple[dict, RunSamples]:
    """Score every task's real and shuffled outputs: the ``tasks`` block and the samples.

    A task that declares ``roundtrip`` has each output's items fed back to ``trained`` first.
    """
    samples = RunSamples()
    blocks = {}
    for task in s.tasks:
        groups = {}
        for condition, (insts, outs) in outputs[task.name].items():
            trips = roundtrips_of(task, insts, outs, trained, ctx, spec.window)
            groups[condition] = [sample_of(*row) for row in zip(insts, outs, trips, strict=True)]
            for sample in groups[condition]:
                samples.add(condition, sample)
        scores = summarise_task(groups["real"], groups["shuffled"], list(task.metrics), ctx, seed=spec.seed)
        blocks[task.name] = task_block(task, scores)
    return blocks, samples


def metric_context(d: Data, device: str, metrics_device: str | None, overwrite: bool) -> MetricContext:
    """The catalogue and a memoised embedder: a cached re-run neither loads MiniLM nor embeds again."""
    dev = metrics_device or ("cuda" if device.startswith("cuda") else "cpu")
    return MetricContext(d.data.items, device=dev, embedder=CachedEmbedder(dev, read=not overwrite))
