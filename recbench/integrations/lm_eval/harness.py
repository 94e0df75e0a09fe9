"""lm-eval's own command line with the ``recbench`` model registered and recbench's checks run first.

    python -m recbench.integrations.lm_eval [run] --model recbench --model_args run=runs/<run-id> \\
        --tasks recbench,recbench_shuffled --include_path <export dir> [any other lm-eval option]
    recbench lm-eval [run] --model recbench ...          (the same, from recbench's command line)

Why a wrapper: lm-eval 0.4.13 looks ``--model`` up in its own registry only (``lm_eval/api/registry.py``
``get_model``), fills that registry from the fixed ``MODEL_MAPPING`` of ``lm_eval/models/__init__.py``,
and reads no entry-point group or environment variable for plug-in models; its command line
(``lm_eval/_cli/run.py``) imports nothing of the user's before it builds the model. The wrapper is
lm-eval's own parser and ``execute`` (what ``lm_eval.__main__.cli_evaluate`` runs), with
``recbench.integrations.lm_eval`` imported first and, for ``--model recbench``, these checks before
anything is loaded (each a one-line ``error: ...`` and exit 2):

* options that would change recbench's prompts are refused: ``--num_fewshot`` (other than 0),
  ``--system_instruction``, ``--apply_chat_template``, ``--fewshot_as_multiturn``; ``--gen_kwargs``
  other than ``until``, ``max_gen_toks``, ``do_sample=false``, ``temperature=0``;
* ``--include_path`` must be a folder holding task YAMLs, and every ``--tasks`` name must be one of its
  tasks or tags (or a task file or folder);
* the run folder is read (its one-line errors) and lm-eval is given the model's name,
  ``recbench:<run id>`` (``model_args model=``), which lm-eval uses for its output folder.

``--batch_size`` / ``--max_batch_size`` are accepted and ignored, with a one-line note.
"""

from __future__ import annotations

import difflib
import glob
import sys
from argparse import Namespace
from pathlib import Path

from recbench.errors import ConfigError, RecbenchError

PROMPT_REFUSAL = "recbench's interpreter was trained and scored on each task's own prompt, with nothing added"


def main(argv: list[str] | None = None) -> int:
    """Run lm-eval's command line on ``argv`` (default: ``sys.argv[1:]``); the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        import recbench.integrations.lm_eval as integration

        integration.require_lm_eval()
        from lm_eval._cli import HarnessCLI
        from lm_eval.utils import setup_logging

        setup_logging()
        saved, sys.argv = sys.argv, ["lm-eval", *argv]
        try:
            parser = HarnessCLI()
            args = parser.parse_args()  # lm-eval's own parsing (it inserts `run` when no command is given)
        finally:
            sys.argv = saved
        if getattr(args, "command", None) == "run":
            preflight(args)
        parser.execute(args)
    except RecbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


def _merged(args: Namespace) -> dict:
    """lm-eval's settings as its EvaluatorConfig.from_cli merges them: --config YAML, then set CLI values."""
    settings: dict = {}
    if getattr(args, "config", None):
        from lm_eval.config.evaluate_config import EvaluatorConfig

        try:
            settings.update(EvaluatorConfig.load_yaml_config(args.config))
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(f"--config {args.config}: {exc}") from None
    settings.update({k: v for k, v in vars(args).items() if (v or v == 0) and k not in ("command", "func")})
    return settings


def _as_dict(value, option: str) -> dict:
    if value is None:
        return {}
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, str):
        from lm_eval.utils import simple_parse_args_string

        return simple_parse_args_string(value)
    raise ConfigError(f"{option}: expected key=value pairs, got {value!r}")


def preflight(args: Namespace) -> None:
    """recbench's checks on an lm-eval ``run`` command (no-op unless ``--model recbench``); sets the model name."""
    settings = _merged(args)
    if settings.get("model") != "recbench":
        return
    from recbench.integrations.lm_eval import model as rb_model
    from recbench.integrations.lm_eval.runinfo import read_run

    _refuse_prompt_changes(args, settings)
    rb_model.check_generation_kwargs(_as_dict(settings.get("gen_kwargs"), "--gen_kwargs"), "--gen_kwargs")
    _check_tasks(args, settings)

    model_args = _as_dict(settings.get("model_args"), "--model_args")
    if not model_args.get("run"):
        raise ConfigError(
            "the recbench lm-eval model needs --model_args run=<run folder>, e.g. run=runs/<run-id>"
        )
    results = read_run(str(model_args["run"]))
    name = rb_model.label(results["run_id"])
    if str(model_args.setdefault("model", name)) != name:
        raise ConfigError(
            f"--model_args model={model_args['model']}: the recbench model of run {results['run_id']} is named "
            f"{name} (or leave model= out)"
        )
    args.model_args = model_args  # lm-eval names the model (and its output folder) from model_args' `model`

    batch = settings.get("batch_size", settings.get("max_batch_size"))  # set only when the user gave one
    if batch is not None:
        gen_batch = model_args.get("gen_batch_size") or (results.get("config") or {}).get("gen_batch_size")
        print(rb_model.batch_size_note(batch, gen_batch), file=sys.stderr)
        rb_model._notes["batch_size"] = True


def _refuse_prompt_changes(args: Namespace, settings: dict) -> None:
    shots = settings.get("num_fewshot")
    if shots not in (None, 0, "0"):
        raise ConfigError(
            f"--num_fewshot {shots}: recbench tasks are zero-shot ({PROMPT_REFUSAL}; an lm-eval shot would "
            "be another test document with its answer); leave --num_fewshot out"
        )
    if settings.get("system_instruction"):
        raise ConfigError(f"--system_instruction: {PROMPT_REFUSAL}; leave --system_instruction out")
    if "apply_chat_template" in vars(args) or settings.get("apply_chat_template"):
        raise ConfigError(
            "--apply_chat_template: the recbench model formats prompts as the run did (its chat_template "
            "setting); leave --apply_chat_template out"
        )
    if settings.get("fewshot_as_multiturn"):
        raise ConfigError(
            f"--fewshot_as_multiturn: recbench tasks are zero-shot ({PROMPT_REFUSAL}); leave it out"
        )


EXPORT_HINT = "export a run's tasks with: recbench lm-eval export RUN --out DIR"


def _task_names(include_path: str) -> list[str]:
    """The task, group and tag names lm-eval indexes in ``include_path`` (its own TaskManager)."""
    from lm_eval.tasks import TaskManager

    return sorted(TaskManager(include_path=include_path, include_defaults=False).all_tasks)


def _check_tasks(args: Namespace, settings: dict) -> None:
    include = settings.get("include_path")
    if include is None and getattr(args, "include_path", None) == "":
        raise ConfigError(f"--include_path is empty: give the folder of exported tasks ({EXPORT_HINT})")
    if include is not None:
        folder = Path(include)
        if not folder.exists():
            raise ConfigError(f"--include_path {include}: no such folder ({EXPORT_HINT})")
        if not folder.is_dir():
            raise ConfigError(
                f"--include_path {include} is a file; give the folder that holds the task YAMLs"
            )
        if not any(folder.glob("**/*.yaml")):
            raise ConfigError(f"--include_path {include} holds no task YAML ({EXPORT_HINT})")
    tasks = settings.get("tasks")
    if isinstance(tasks, str):
        tasks = tasks.split(",")
    tasks = [t for t in (tasks or []) if t]
    if not tasks:
        raise ConfigError("--tasks is missing: e.g. --tasks recbench,recbench_shuffled (the exported tags)")
    from lm_eval.utils import pattern_match

    names = _task_names(include) if include is not None else []
    for task in tasks:
        if task.endswith(".yaml"):
            if not glob.glob(task):
                raise ConfigError(f"--tasks {task}: no such task file")
            continue
        if pattern_match([task], names):
            continue
        if len(tasks) == 1 and Path(task).is_dir():  # lm-eval's folder form, as its process_tasks reads it
            if not glob.glob(str(Path(task) / "*.yaml")):
                raise ConfigError(f"--tasks {task}: the folder holds no task YAML ({EXPORT_HINT})")
            continue
        if include is None:
            raise ConfigError(
                f"--tasks {task}: recbench's tasks are not lm-eval built-ins; add --include_path <folder> "
                f"(the folder `recbench lm-eval export` wrote), or give that folder as --tasks"
            )
        close = difflib.get_close_matches(task, names, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        raise ConfigError(f"--tasks {task}: no such task in --include_path {include} ({hint}it has: {shown})")
