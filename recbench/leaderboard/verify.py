"""Verified submissions: regenerate seeded instances with the interpreter a submission carries.

A submission may carry the models that produced it, beside ``results.json`` and its samples:

* ``interpreter/``: the fitted interpreter's cache entry (for the LLM interpreter: ``adapter.json``,
  ``adapter.safetensors``, ``soft_prompt.json``, ``training.json``; safetensors and JSON only);
* ``recommender/``: the recommender checkpoint (``config.json``, ``model.safetensors``), optional when
  the checkpoint is the one recbench ships (found in the pretrained layer by its sha256).

:func:`verify_run` rebuilds the run's :class:`RunSpec` (which must give the run's id), the dataset
(identified by its sha256, never read from a path the submission names), the recommender and the
interpreter through the pipeline's own stages, checks that they are the ones the run recorded
(checkpoint sha256, interpreter fit key and identity), then regenerates ``k`` seeded instances of every
task and condition and requires each output to equal the submitted one. Fabricated or edited outputs
cannot pass. Generation is batch-independent for recbench's interpreters (each prompt of a task has
the same length, so no padding; checked on SmolLM2: 16 of 16 outputs identical alone and in batch).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from pathlib import Path

from recbench import registry
from recbench.cache import pretrained_dir, sha256_of_file
from recbench.errors import RecbenchError
from recbench.names import printable
from recbench.results import load_results, read_samples
from recbench.run import stages
from recbench.run.reload import check_fit, trained_setup

INTERPRETER = "interpreter"
RECOMMENDER = "recommender"
MODEL_FILES = {
    INTERPRETER: (
        "adapter.json",
        "adapter.safetensors",
        "soft_prompt.json",
        "training.json",
        "lora.safetensors",
    ),
    RECOMMENDER: ("config.json", "model.safetensors"),
}
MAX_MODEL_BYTES = 5 * 1024 * 1024  # per file, as every other file of a submission


def carries_interpreter(folder: Path) -> bool:
    """Whether a submission carries the interpreter that produced it (so it can be verified)."""
    return (Path(folder) / INTERPRETER).is_dir()


def model_file_defects(folder: Path) -> list[str]:
    """Defects of the model folders a submission carries: only known regular files, each within size."""
    out = []
    for sub, allowed in MODEL_FILES.items():
        path = Path(folder) / sub
        if not path.exists() and not path.is_symlink():
            continue
        if path.is_symlink() or not path.is_dir():
            out.append(f"{path}: must be a plain folder (not a symlink or file)")
            continue
        for entry in sorted(path.iterdir()):
            if entry.name not in allowed:
                out.append(f"{entry}: not a file a {sub} folder holds ({', '.join(allowed)})")
            elif entry.is_symlink() or not entry.is_file():
                out.append(f"{entry}: must be a regular file (not a symlink or folder)")
            elif entry.stat().st_size > MAX_MODEL_BYTES:
                out.append(f"{entry}: {entry.stat().st_size} bytes, over the {MAX_MODEL_BYTES} byte limit")
    return out


class _Carried:
    """The recommender a submission carries (or recbench ships), shaped like a TrainedRecommender."""

    def __init__(self, model, sha256: str):
        self.model = model.eval()
        self.sha256 = sha256


def _recommender(folder: Path, spec, expect_sha256: str, device: str) -> _Carried:
    cls = registry.recommenders.get(spec.rec)
    candidates = [folder / RECOMMENDER] if (folder / RECOMMENDER).is_dir() else []
    root = pretrained_dir() / "recommenders"
    if root.is_dir():
        candidates += sorted(p for p in root.iterdir() if p.name.startswith(f"{cls.name}-"))
    for path in candidates:
        weights = path / "model.safetensors"
        if weights.is_file() and sha256_of_file(weights) == expect_sha256:
            return _Carried(cls.load(path).to(device), expect_sha256)
    raise RecbenchError(
        f"{folder}: the {spec.rec} checkpoint (sha256 {str(expect_sha256)[:12]}) is neither in its "
        f"{RECOMMENDER}/ folder nor shipped with recbench"
    )


def carry_models(run: Path, dest: Path) -> list[str]:
    """Copy the fitted interpreter (and a recommender recbench does not ship) of ``run`` into ``dest``.

    Both come from the cache entries the run used, found by the keys it recorded. Returns the folders
    written. Raises :class:`RecbenchError` when the interpreter entry is no longer in the cache.
    """
    import shutil

    from recbench.cache import find_entry

    results = load_results(run)
    key = (results["interpreter"].get("training") or {}).get("key")
    entry = find_entry("interpreters", f"{results['interpreter']['name']}-{key}") if key else None
    if entry is None:
        raise RecbenchError(f"{run}: its trained interpreter is not in the cache; re-run its command first")
    written = []
    target = Path(dest) / INTERPRETER
    target.mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES[INTERPRETER]:
        if (entry / name).is_file():
            shutil.copyfile(entry / name, target / name)
    written.append(str(target))
    sha = results["recommender"]["checkpoint_sha256"]
    shipped = pretrained_dir() / "recommenders"
    if not any(sha256_of_file(p) == sha for p in shipped.glob("*/model.safetensors")):
        from recbench.cache import cache_dir

        rec_entries = sorted(p.parent for p in (cache_dir() / "recommenders").glob("*/model.safetensors"))
        for folder in rec_entries:
            if (folder / "model.safetensors").is_file() and sha256_of_file(
                folder / "model.safetensors"
            ) == sha:
                target = Path(dest) / RECOMMENDER
                target.mkdir(parents=True, exist_ok=True)
                for name in MODEL_FILES[RECOMMENDER]:
                    shutil.copyfile(folder / name, target / name)
                written.append(str(target))
                break
        else:
            raise RecbenchError(f"{run}: its {results['recommender']['name']} checkpoint is not in the cache")
    return written


def _choose(n: int, k: int, seed: str) -> list[int]:
    return sorted(random.Random(seed).sample(range(n), min(k, n)))


def _rebuild(folder: Path, results: dict, data_dirs: list[Path], device: str):
    """The run's spec, set-up (with the carried interpreter loaded), dataset and recommender, all checked."""
    from recbench.leaderboard.validate import Defect, Validator

    spec, setup = trained_setup(results, str(folder))
    try:  # matched by sha256 among the datasets known here, never read from a path the run names
        data = stages.data_of(spec, Validator(data_dirs).dataset(results["dataset"]))
    except Defect as exc:
        raise RecbenchError(f"{folder}: {exc}") from None
    trained = _recommender(folder, spec, results["recommender"]["checkpoint_sha256"], device)
    stages.prepare_interpreter(spec, setup.interpreter, data, trained, device)
    check_fit(spec, setup, data, trained, results, str(folder))
    try:
        setup.interpreter.load(folder / INTERPRETER)
    except (OSError, ValueError, KeyError, RecbenchError) as exc:
        raise RecbenchError(
            f"{folder / INTERPRETER}: cannot be loaded ({printable(str(exc))[:200]})"
        ) from None
    return spec, setup, data, trained


def verify_run(folder: Path, k: int, data_dirs: Iterable[Path] = (), device: str = "cpu") -> list[str]:
    """Regenerate ``k`` seeded instances per task and condition; one line per output that differs.

    ``data_dirs``: csv dataset folders the run's dataset may be matched against by sha256 (as for
    ``leaderboard validate``; the submission's own ``data_dir`` is never read); ML-100K comes from the
    installed package. Raises :class:`RecbenchError` (one line) when the submission cannot be verified.
    """
    folder = Path(folder)
    if k < 1:
        raise RecbenchError(f"--verify needs k >= 1, got {k}")
    defects = model_file_defects(folder)
    if defects:
        return defects
    if not carries_interpreter(folder):
        raise RecbenchError(
            f"{folder}: carries no {INTERPRETER}/ folder, so its outputs cannot be regenerated"
        )
    results = load_results(folder)
    run_id = results["run_id"]
    spec, setup, data, trained = _rebuild(folder, results, [Path(d) for d in data_dirs], device)
    test = stages.test_instances(spec, setup, data, trained)
    jobs = stages.jobs_of(spec, setup, stages.Instances(test, [], []), setup.interpreter.uses_latents)
    submitted = read_samples(folder).by_task
    ctx = stages.metric_context(data, device, None, overwrite=False)  # retrieval-mapped round trips
    out = []
    for task, condition, insts in jobs:
        if not insts:
            continue
        rows = {s.id: s for s in submitted.get(task.name, {}).get(condition, [])}
        given = {i: s.output for i, s in rows.items()}
        chosen = [insts[i] for i in _choose(len(insts), k, f"verify:{run_id}:{task.name}:{condition}")]
        texts = setup.interpreter.generate(chosen, max_new_tokens=task.max_new_tokens, stop=list(task.until))
        for inst, text in zip(chosen, texts, strict=True):
            if inst.id not in given:
                out.append(
                    f"{folder}: tasks.{task.name} ({condition}): instance {inst.id} is missing from the samples"
                )
            elif given[inst.id] != text:
                out.append(
                    f"{folder}: tasks.{task.name} ({condition}): instance {inst.id}: submitted output "
                    f"{printable(given[inst.id])[:60]!r} but the carried interpreter writes {printable(text)[:60]!r}"
                )
        same = [i for i, t in zip(chosen, texts, strict=True) if i.id in given and given[i.id] == t]
        out += _belief_defects(folder, task, condition, chosen, same, rows, trained, ctx, spec.window)
    return out


def _belief_defects(folder, task, condition, chosen, same, rows, trained, ctx, window) -> list[str]:
    """What the recommender said, re-derived from its checkpoint: ``rec_top1`` and ``rec_top10`` of the
    chosen instances, and the round trip of each output that was regenerated identically (``same``),
    must be exactly what it computes (validate only checks their shape)."""
    out = []
    trips = dict(zip([i.id for i in same], stages.roundtrips_of(
        task, same, [rows[i.id].output for i in same], trained, ctx, window), strict=True))  # fmt: skip
    for inst in chosen:
        row = rows.get(inst.id)
        if row is None:
            continue
        # only what the task declares: rows written before inputs were per task carry rec_top1 everywhere
        checks = [
            (name, got, want)
            for name, got, want in [
                ("rec_top1", row.rec_top1, inst.rec_top1),
                ("rec_top10", row.rec_top10, inst.rec_top10),
            ]
            if name in task.inputs
        ]
        if inst.id in trips:
            checks.append(("roundtrip", row.roundtrip, trips[inst.id]))
        for name, got, want in checks:
            if got != want:
                out.append(
                    f"{folder}: tasks.{task.name} ({condition}): instance {inst.id}: submitted {name} "
                    f"{printable(str(got))[:60]} but the recommender gives {printable(str(want))[:60]}"
                )
    return out
