"""The lm-eval model ``recbench``: a finished run's interpreter answering exported recbench tasks.

    python -m recbench.integrations.lm_eval --model recbench --model_args run=runs/<run-id> \\
        --tasks recbench --include_path <export dir>
    lm_eval --model recbench --model_args run=runs/<run-id> --tasks <export dir>

The model exists in lm-eval once this module is imported: the wrapper imports it first; plain
``lm_eval`` imports it only while resolving exported tasks given as paths (docs/lm_eval.md). Prompts
carry latent ids, ``<rec_emb:<window id>:<source>>``; the model encodes those windows with the run's
recommender and hands the prompt, each id now a ``<rec_emb>`` slot, to the run's interpreter. Outputs
go through recbench's generation cache (same keys as ``recbench run``): a run's own prompts are
answered from it, others are generated and stored (``gen_cache=false`` always generates).

Anything lm-eval would add to recbench's prompts (few-shot examples, a system instruction, a chat
template) is refused: the interpreter was trained and scored on the task's own prompt.
"""

from __future__ import annotations

import re
import sys
import warnings

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from recbench import progress
from recbench.errors import ConfigError
from recbench.gencache import GenerationCache
from recbench.integrations.lm_eval.export import PREFIX
from recbench.integrations.lm_eval.runinfo import read_run
from recbench.recommenders.train import resolve_device
from recbench.run.latents import attach_latents
from recbench.run.parallel import chunk_size
from recbench.run.reload import LoadedRun, load_run, run_tasks
from recbench.run.spec import generation_key, latent_hash
from recbench.tasks.instances import Instance
from recbench.tasks.spec import LATENT_SOURCES, PLACEHOLDER

LATENT = re.compile(
    r"<rec_emb:(?P<window>[^<>]+?):(?P<source>"
    + "|".join(sorted(LATENT_SOURCES, key=len, reverse=True))
    + r")>"
)
DEFAULT_MAX_GEN_TOKS = 256  # lm-eval's default when a task names none
KNOWN_ARGS = ("run", "device", "gen_cache", "gen_batch_size", "model")
PROMPT_OPTIONS = "--num_fewshot, --system_instruction, --apply_chat_template, --fewshot_as_multiturn"
CHAT_TEMPLATE_REFUSAL = (
    "--apply_chat_template: the recbench model answers recbench's own prompts, formatted as the run "
    "formats them (its chat_template setting); run lm-eval without --apply_chat_template"
)
_notes = {"batch_size": False}


class Unsupported(ConfigError, NotImplementedError):
    """What the recbench model does not answer: lm-eval's NotImplementedError, recbench's one-line error."""


# the wrapper prints the --batch_size note itself (harness.py)


def label(run_id: str) -> str:
    """The model's name in lm-eval's results and output folder: ``recbench:<run id>``."""
    return f"recbench:{run_id}"


def check_generation_kwargs(gen_kwargs: dict, where: str) -> None:
    """Refuse generation settings the recbench model cannot honour (it decodes greedily).

    Honoured: ``until`` and ``max_gen_toks`` (lm-eval's name for the new-token budget); ``do_sample`` false and
    ``temperature`` 0 say greedy, which it is. Anything else is one line naming the key.
    """
    for key, value in gen_kwargs.items():
        if key in ("until", "max_gen_toks"):
            continue
        if key == "do_sample":
            if _flag(value):
                raise ConfigError(f"{where}: do_sample is on; the recbench model decodes greedily")
            continue
        if key == "temperature":
            try:
                greedy = float(value) == 0.0
            except (TypeError, ValueError):
                greedy = False
            if not greedy:
                raise ConfigError(
                    f"{where}: temperature={value} asks for sampling; the recbench model decodes greedily"
                )
            continue
        raise ConfigError(
            f"{where}: generation setting '{key}' is not supported by the recbench model (it decodes "
            "greedily and honours until and max_gen_toks only)"
        )


def _flag(value) -> bool:
    if isinstance(value, str):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"recbench model_args: expected true or false, got {value!r}")
    return bool(value)


def _device(device: str | None) -> str:
    """lm-eval's command line asks for cuda:0 unless told otherwise: on a machine without CUDA, use the CPU."""
    import torch

    device = str(device or "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        warnings.warn(
            f"device {device} asked for but CUDA is not available: the recbench model runs on cpu",
            stacklevel=3,
        )
        return "cpu"
    return resolve_device(device)


def batch_size_note(batch_size, gen_batch_size: int | None) -> str:
    """The one line saying why lm-eval's --batch_size does not apply."""
    run_batch = (
        f"the run's gen_batch_size ({gen_batch_size})" if gen_batch_size else "the run's gen_batch_size"
    )
    return (
        f"note: lm-eval's batch size ({batch_size}) is ignored: the recbench model generates in batches of "
        f"{run_batch}, so its outputs are those of recbench run; model_args gen_batch_size=N changes it"
    )


@register_model("recbench")
class RecbenchLM(LM):
    """A recbench run's trained interpreter as an lm-eval model (``generate_until`` only).

    ``model_args``: ``run`` (the run folder, required), ``device`` (cpu, cuda, auto), ``gen_cache``
    (default true), ``gen_batch_size`` (default: the run's), ``model`` (the name lm-eval files the results
    under; must be ``recbench:<run id>``, which the wrapper passes). lm-eval's own ``batch_size`` is
    ignored, with a one-line note: the run's batching keeps outputs identical to ``recbench run``'s.
    """

    def __init__(
        self,
        run: str | None = None,
        device: str | None = None,
        gen_cache: bool | str = True,
        gen_batch_size: int | None = None,
        model: str | None = None,
        batch_size=None,  # lm-eval passes its --batch_size; the run's gen_batch_size is used instead
        max_batch_size=None,
        **unknown,
    ) -> None:
        super().__init__()
        if unknown:
            raise ConfigError(
                f"unknown model_args for the recbench model: {', '.join(sorted(unknown))} "
                f"(known: {', '.join(KNOWN_ARGS)})"
            )
        if not run:
            raise ConfigError(
                "the recbench lm-eval model needs model_args run=<run folder>, e.g. run=runs/<run-id>"
            )
        results = read_run(str(run))  # the accurate one-line messages first, before anything loads
        if model is not None and str(model) != label(results["run_id"]):
            raise ConfigError(
                f"model_args model={model}: the recbench model of run {results['run_id']} is named "
                f"{label(results['run_id'])} (or leave model= out)"
            )
        self.run: LoadedRun = load_run(str(run), _device(device))
        self.name = label(self.run.run_id)
        self.tasks = run_tasks(self.run.results)  # the one rule: the results.json tasks block
        self.interpreter = self.run.interpreter
        if gen_batch_size is not None:
            if int(gen_batch_size) < 1:
                raise ConfigError(f"gen_batch_size must be at least 1, got {gen_batch_size}")
            self.interpreter.gen_batch_size = int(gen_batch_size)
        given = [b for b in (batch_size, max_batch_size) if b is not None and str(b) != "1"]
        if given and not _notes["batch_size"]:
            print(
                batch_size_note(given[0], getattr(self.interpreter, "gen_batch_size", None)), file=sys.stderr
            )
        self.gen_cache = _flag(gen_cache)
        self.stats = {"cached": 0, "generated": 0}

    def get_model_info(self) -> dict:
        """Added to lm-eval's ``results["config"]``."""
        return {
            "model_name": self.name,
            "recbench_run_id": self.run.run_id,
            "recbench_interpreter": self.run.interp_key,
            "gen_batch_size": getattr(self.interpreter, "gen_batch_size", None),
        }

    # --- what lm-eval may ask for ---------------------------------------------------------------

    def loglikelihood(self, requests):
        raise Unsupported(
            "the recbench lm-eval model answers generate_until tasks only (the exported recbench_* tasks); "
            "loglikelihood and multiple-choice tasks are not supported"
        )

    def loglikelihood_rolling(self, requests):
        raise Unsupported(
            "the recbench lm-eval model answers generate_until tasks only; loglikelihood_rolling "
            "(perplexity) tasks are not supported"
        )

    def apply_chat_template(self, chat_history, add_generation_prompt=True):
        raise Unsupported(CHAT_TEMPLATE_REFUSAL)

    def chat_template(self, chat_template: bool | str = False) -> str | None:
        if chat_template:
            raise Unsupported(CHAT_TEMPLATE_REFUSAL)
        return ""

    @property
    def tokenizer_name(self) -> str:
        raise Unsupported(CHAT_TEMPLATE_REFUSAL)

    def generate_until(self, requests) -> list[str]:
        """Greedy outputs in request order; grouped per task in doc order and chunked as ``recbench run`` does."""
        prepared = [self._prepare(req) for req in requests]
        self._attach(prepared)
        groups: dict[tuple, list[int]] = {}
        for i, (task_name, _inst, settings) in enumerate(prepared):
            groups.setdefault((task_name, settings["max_new_tokens"], tuple(settings["until"])), []).append(i)
        out: list[str | None] = [None] * len(requests)
        cache = GenerationCache() if self.gen_cache else None
        try:
            for (task_name, max_new, until), idx in groups.items():
                settings = {"max_new_tokens": max_new, "until": list(until)}
                insts = [prepared[i][1] for i in idx]
                spec = self.run.specs.get(insts[0].task)  # (task_name is lm-eval's name for it)
                if spec is not None and spec.version != 1:  # as generation_keys: a version is in the key
                    settings["task"] = f"{spec.name}@{spec.version}"
                keys = [
                    generation_key(self.run.interp_key, settings, x.prompt, latent_hash(x.latents))
                    for x in insts
                ]
                done = cache.get_many(keys) if cache else {}
                todo = [j for j, k in enumerate(keys) if k not in done]
                self.stats["cached"] += len(idx) - len(todo)
                self.stats["generated"] += len(todo)
                chunk = chunk_size(self.interpreter)
                with progress.bar(f"lm-eval {task_name}", len(idx)) as update:
                    update(advance=len(idx) - len(todo), note="cached" if not todo else "")
                    for s in range(0, len(todo), chunk):
                        part = todo[s : s + chunk]
                        texts = self.interpreter.generate(
                            [insts[j] for j in part], max_new_tokens=max_new, stop=list(until)
                        )
                        new = {keys[j]: t for j, t in zip(part, texts, strict=True)}
                        if cache:
                            cache.put_many(list(new.items()))
                        done.update(new)
                        update(advance=len(part))
                for i, k in zip(idx, keys, strict=True):
                    out[i] = done[k]
        finally:
            if cache:
                cache.close()
        return out  # type: ignore[return-value]

    # --- requests -> recbench instances -----------------------------------------------------------

    def _task_of(self, req) -> str:
        doc = req.doc if isinstance(req.doc, dict) else {}
        task = doc.get("task")
        if not task:
            name = str(req.task_name or "")
            task = name.removeprefix(PREFIX).removesuffix("_shuffled")
        if task not in self.tasks:
            raise ConfigError(
                f"run {self.run.run_id} has no task '{task}' (lm-eval task {req.task_name}; the run has: "
                f"{', '.join(self.tasks)}); export tasks from a run that evaluated it"
            )
        sha = doc.get("dataset_sha256")
        if sha and sha != self.run.data.sha256:
            raise ConfigError(
                f"lm-eval task {req.task_name} was exported for another dataset (sha256 {sha[:12]}) "
                f"than run {self.run.run_id}'s ({self.run.data.sha256[:12]})"
            )
        return task

    def _prepare(self, req) -> tuple[str, Instance, dict]:
        context, gen_kwargs = req.args[0], dict(req.args[1] or {})
        task = self._task_of(req)
        if PLACEHOLDER in context:
            raise ConfigError(
                f"lm-eval task {req.task_name}: the prompt has a bare {PLACEHOLDER} with no latent id; "
                "use the tasks written by `recbench lm-eval export`"
            )
        slots = list(LATENT.finditer(context))
        if not slots:
            raise ConfigError(
                f"lm-eval task {req.task_name}: the prompt has no <rec_emb:WINDOW_ID:SOURCE> slot, so there is "
                "nothing for the recbench model to read"
            )
        windows = []
        for m in slots:
            window = self.run.windows.get(m["window"])
            if window is None:
                raise ConfigError(
                    f"run {self.run.run_id} has no latents for window '{m['window']}' (lm-eval task "
                    f"{req.task_name}; dataset {self.run.config.dataset}, window length {self.run.config.window})"
                )
            windows.append((window, m["source"]))
        prompt = LATENT.sub(PLACEHOLDER, context)
        doc = req.doc if isinstance(req.doc, dict) else {}
        if "prompt" not in doc:
            raise ConfigError(
                f"lm-eval task {req.task_name}: its documents carry no recbench prompt; use the tasks "
                "written by `recbench lm-eval export`"
            )
        if prompt != doc["prompt"]:
            added = (
                "text was added before the task's prompt"
                if prompt.endswith(doc["prompt"])
                else ("the task's prompt was changed")
            )
            raise ConfigError(
                f"lm-eval task {req.task_name}: {added} (few-shot examples, a system instruction or a chat "
                f"template?); the recbench model answers recbench's own prompts only: run without {PROMPT_OPTIONS}"
            )
        check_generation_kwargs(gen_kwargs, f"lm-eval task {req.task_name}")
        until = gen_kwargs.get("until") or []
        until = [until] if isinstance(until, str) else list(until)
        max_new = int(gen_kwargs.get("max_gen_toks", DEFAULT_MAX_GEN_TOKS))
        inst = Instance(
            id=str(doc.get("id", f"{task}:{req.doc_id}")),
            task=task,
            window=windows[0][0],
            prompt=prompt,
            target="",
            sources=tuple(src for _, src in windows),
            target_items=[],
        )
        inst.slot_windows = windows  # type: ignore[attr-defined]
        return str(req.task_name), inst, {"max_new_tokens": max_new, "until": until}

    def _attach(self, prepared: list[tuple[str, Instance, dict]]) -> None:
        """Latents for every slot, encoded by the run's recommender (as ``recbench run`` encodes them)."""
        slots = [
            Instance("", "", window, "", "", (source,), [])
            for _, inst, _ in prepared
            for window, source in inst.slot_windows  # type: ignore[attr-defined]
        ]
        attach_latents(self.run.recommender.model, slots, self.run.config.window)
        it = iter(slots)
        for _, inst, _ in prepared:
            inst.latents = [next(it).latents[0] for _ in inst.sources]
