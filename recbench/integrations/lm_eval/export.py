"""Export a run's tasks for lm-eval: task YAMLs generated from recbench's task files plus one docs JSONL each.

recbench's task file (built-in: ``recbench/tasks/builtin/*.yaml``; or from an include path) stays the
one source of truth. lm-eval cannot read it directly: a recbench task has
no documents of its own (they are the run's test windows), its ``description`` is prose that lm-eval
would prepend to every prompt, and its ``<rec_emb>`` slots name latent *sources*, not latents. The
export fills that in from a finished run:

* ``recbench_<task>.jsonl``: one document per test instance of the run (the same instances, in the
  same order, as its samples.jsonl), with the template fields, the target, what the metrics need and
  ``latent_<k>`` = ``<window id>:<source>`` for each slot.
* ``recbench_<task>.yaml``: the task in lm-eval's own schema; ``doc_to_text`` is ours with each
  ``<rec_emb>`` written ``<rec_emb:{{latent_k}}>``, so the lm-eval model ``recbench`` resolves it to
  soft tokens. Metrics call recbench's own metric code (``utils.py``), so the scores are recbench's.
* ``recbench_<task>_shuffled``: the shuffled control (each document reads another's latents), as in
  results.json's ``controls.shuffled``.

Tags: ``recbench`` (the real tasks) and ``recbench_shuffled`` (the controls). Besides each metric
``m``, every task reports ``m_stderr``, ``m_low`` and ``m_high`` (recbench's bootstrap interval) and a
real task with an exported control ``m_shuffled`` and ``m_gap`` (see :mod:`.scoring`).

``utils.py`` imports :mod:`recbench.integrations.lm_eval`, which registers the lm-eval model
``recbench``: lm-eval's own ``lm_eval --tasks <export folder or its YAML files>`` resolves the tasks'
``!function`` references (importing ``utils.py``) before it looks the model up, so plain ``lm_eval``
finds the model when the tasks are given as paths (docs/lm_eval.md).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from recbench import registry
from recbench.cache import atomic_write_text
from recbench.errors import ConfigError
from recbench.integrations.lm_eval.runinfo import read_run, recorded_spec
from recbench.integrations.lm_eval.scoring import extra_metrics
from recbench.results import read_samples
from recbench.run import stages
from recbench.run.latents import shuffled
from recbench.run.reload import run_tasks
from recbench.tasks import load_task
from recbench.tasks.instances import Instance, _document
from recbench.tasks.spec import PLACEHOLDER, TaskSpec

PREFIX = "recbench_"
TAG = "recbench"
CONTROL_TAG = "recbench_shuffled"


class _Dumper(yaml.SafeDumper):
    """Block YAML; strings with line breaks (prompts, stop strings) double-quoted on one line."""


def _str(dumper: yaml.SafeDumper, value: str):
    style = '"' if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _dump(obj: dict) -> str:
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000)


def lm_eval_name(task: str, condition: str = "real") -> str:
    """The lm-eval task name of a recbench task (and condition)."""
    return f"{PREFIX}{task}" + ("_shuffled" if condition == "shuffled" else "")


def export_tasks(
    run_dir: str | Path, out_dir: str | Path, tasks: list[str] | None = None, controls: bool = True
) -> list[str]:
    """Write lm-eval task files for ``tasks`` (default: all of the run's) into ``out_dir``; their names."""
    run_dir, out = Path(run_dir), Path(out_dir)
    results = read_run(run_dir)
    run_id = results["run_id"]
    cfg = recorded_spec(results, run_dir)
    ran = run_tasks(results)
    wanted = list(dict.fromkeys(tasks or ran))
    for name in wanted:
        if name not in ran:
            raise ConfigError(f"run {run_id} has no task '{name}' (it ran: {', '.join(ran)})")
    samples = read_samples(run_dir)
    loaded = stages.load_data(cfg, results["dataset"].get("sha256"), f"run {run_id}")
    data = loaded.data
    windows = {w.id: w for split in loaded.splits.values() for w in split}
    dataset = {
        "name": cfg.dataset,
        "data_dir": str(Path(cfg.data_dir).resolve()) if cfg.data_dir else None,
        "sha256": data.sha256,
    }
    seed = int(results.get("seeds", {}).get("bootstrap", cfg.seed))
    out.mkdir(parents=True, exist_ok=True)
    names: list[str] = []
    processors: dict[str, tuple[list[str], str, bool]] = {}
    for task in wanted:
        recorded = results["tasks"][task]
        spec = load_task(task, cfg.task_version(task))  # the version the run recorded
        if spec.version != recorded.get("version"):
            raise ConfigError(
                f"task {task} ({spec.path}) is version {spec.version}, run {run_id} ran version {recorded.get('version')}"
            )
        real = samples.by_task.get(task, {}).get("real", [])
        if not real:
            raise ConfigError(f"run {run_id}: samples.jsonl has no samples of task '{task}'")
        built = [_instance(spec, s, windows, data, run_id) for s in real]
        insts = [inst for inst, _ in built]
        # a round trip feeds the model's answer back to the recommender after generation, which an
        # lm-eval run of the exported task does not do: those metrics stay in recbench's results
        metrics = [m for m in recorded.get("metrics") or spec.metrics if not after_generation(m)]
        conditions = [("real", [[i] for i in range(len(insts))])]
        with_control = bool(controls and samples.by_task[task].get("shuffled"))
        if with_control:
            for i, inst in enumerate(insts):
                inst.latents = [i]  # markers: shuffled() moves them like latents
            conditions.append(("shuffled", [c.latents for c in shuffled(insts, cfg.seed)]))
        for condition, sources in conditions:
            name = lm_eval_name(task, condition)
            docs = [
                _doc(inst, fields, real[i], [insts[j] for j in sources[i]], condition, run_id, data.sha256)
                for i, (inst, fields) in enumerate(built)
            ]
            docs_path = (out / f"{name}.jsonl").resolve()
            atomic_write_text(docs_path, "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs))
            atomic_write_text(
                out / f"{name}.yaml",
                _task_yaml(spec, name, condition, docs_path, metrics, run_id, with_control),
            )
            processors[name] = (metrics, condition, with_control)
            names.append(name)
    atomic_write_text(out / "utils.py", _utils_py(processors, dataset, seed, run_id))
    return names


def after_generation(metric: str) -> bool:
    """Whether ``metric`` reads an input computed from the answer after generation (the round trip)."""
    return "roundtrip" in getattr(registry.metrics.get(metric), "needs", ())


def _instance(spec: TaskSpec, sample, windows: dict, data, run_id: str) -> tuple[Instance, dict]:
    """The run's instance behind one sample (and its template fields), rebuilt from its window.

    Its prompt must be the one the run recorded: otherwise the task file changed since the run.
    """
    window_id = sample.id.split(":", 1)[1] if ":" in sample.id else ""
    window = windows.get(window_id)
    if window is None:
        raise ConfigError(f"run {run_id}: sample {sample.id!r} names no window of the dataset")
    fields, _ = _document(window, data, sample.rec_top1)
    prompt = spec.render(spec.doc_to_text, fields)
    if prompt != sample.prompt:
        raise ConfigError(
            f"task {spec.name} ({spec.path}) renders another prompt than run {run_id} recorded for {sample.id!r}: "
            "the task changed since the run; re-run it"
        )
    inst = Instance(
        sample.id, spec.name, window, prompt, sample.target, spec.doc_to_latents, sample.target_items
    )
    return inst, fields


def _doc(
    inst: Instance, fields: dict, sample, latent_from: list[Instance], condition: str, run_id: str, sha: str
) -> dict:
    (source_inst,) = latent_from
    return {
        "id": inst.id,
        "task": inst.task,
        "condition": condition,
        "window": inst.window.id,
        **fields,
        **{f"latent_{k}": f"{source_inst.window.id}:{src}" for k, src in enumerate(inst.sources)},
        "prompt": inst.prompt,
        "target": sample.target,
        "target_items": list(sample.target_items),
        "rec_top1": sample.rec_top1,
        "target_genres": list(sample.target_genres),
        "rec_top10": list(sample.rec_top10),
        "next_item": sample.next_item,
        "run_id": run_id,
        "dataset_sha256": sha,
    }


def _text_template(spec: TaskSpec) -> str:
    """Our ``doc_to_text`` with the k-th ``<rec_emb>`` written ``<rec_emb:{{latent_k}}>`` (Jinja, as lm-eval reads it)."""
    if "{%" in spec.doc_to_text or "{#" in spec.doc_to_text:
        raise ConfigError(
            f"task {spec.name} ({spec.path}): doc_to_text must not contain Jinja statements or comments"
        )
    parts = spec.doc_to_text.split(PLACEHOLDER)
    out = parts[0]
    for k, part in enumerate(parts[1:]):
        out += f"<rec_emb:{{{{latent_{k}}}}}>" + part
    return out


def _identifier(name: str) -> str:
    return re.sub(r"\W", "_", name)


def _task_yaml(
    spec: TaskSpec, name: str, condition: str, docs: Path, metrics: list[str], run_id: str, controls: bool
) -> str:
    body = {
        "task": name,
        "tag": [TAG if condition == "real" else CONTROL_TAG],
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(docs)}},
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_text": _text_template(spec),
        "doc_to_target": "{{target}}",
        "generation_kwargs": {
            "until": list(spec.until),
            "max_gen_toks": spec.max_new_tokens,
            "do_sample": False,
        },
    }
    header = (
        f"# Generated by `recbench lm-eval export` from recbench task {spec.name} (version {spec.version})\n"
        f"# and run {run_id} ({condition} latents). Do not edit: re-export instead.\n"
    )
    metric_lines = "".join(
        f"  - metric: {extra}\n"
        f"    aggregation: !function utils.{_identifier('agg_' + extra)}\n"
        f"    higher_is_better: {_higher_is_better(m, field)}\n"
        for m in metrics
        for extra, field in extra_metrics(m, condition, controls)
    )
    meta = _dump(
        {
            "metadata": {
                "version": spec.version,
                "recbench_task": spec.name,
                "condition": condition,
                "run_id": run_id,
            }
        },
    )
    return (
        header
        + _dump(body)
        + f"process_results: !function utils.{_identifier('process_' + name)}\n"
        + "metric_list:\n"
        + metric_lines
        + meta
    )


def _higher_is_better(metric: str, field: str) -> str:
    """A metric's direction (recbench's registry); its stderr is better low."""
    better = bool(registry.metrics.get(metric).higher_is_better)
    return str(better if field != "stderr" else False).lower()


def _utils_py(
    processors: dict[str, tuple[list[str], str, bool]], dataset: dict, seed: int, run_id: str
) -> str:
    aggregations: dict[str, tuple[str, str]] = {}
    for metrics, condition, controls in processors.values():
        for m in metrics:
            for extra, field in extra_metrics(m, condition, controls):
                aggregations[extra] = (m, field)
    lines = [
        f'"""Generated by `recbench lm-eval export` for run {run_id}: lm-eval calls recbench\'s metric code. Do not edit."""',
        "",
        'import recbench.integrations.lm_eval  # noqa: F401  registers the lm-eval model "recbench"',
        "from recbench.integrations.lm_eval.scoring import aggregator, processor",
        "",
        f"RUN = {{'run_id': {run_id!r}, 'dataset': {dataset!r}, 'seed': {seed}}}",
        "",
    ]
    lines += [
        f"{_identifier('process_' + n)} = processor(RUN['run_id'], {ms!r}, {cond!r}, {ctl!r})"
        for n, (ms, cond, ctl) in processors.items()
    ]
    lines.append("")
    lines += [
        f"{_identifier('agg_' + name)} = aggregator(RUN, {m!r}"
        + (")" if field == "value" else f", {field!r})")
        for name, (m, field) in sorted(aggregations.items())
    ]
    return "\n".join(lines) + "\n"
