"""The lm-eval model ``recbench``: a finished run's interpreter answering exported recbench tasks.

    lm_eval --model recbench --model_args run=runs/<run-id> --tasks recbench --include_path <export dir>

(through ``python -m recbench.integrations.lm_eval``, which registers the model first). Prompts carry
latent ids, ``<rec_emb:<window id>:<source>>``; the model encodes those windows with the run's
recommender and hands the prompt, each id now a ``<rec_emb>`` slot, to the run's interpreter. Outputs
go through recbench's generation cache (same keys as ``recbench run``): a run's own prompts are
answered from it, others are generated and stored (``gen_cache=false`` always generates).
"""

from __future__ import annotations

import re
import warnings

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from recbench import progress
from recbench.errors import ConfigError
from recbench.gencache import GenerationCache, generation_key, latent_hash
from recbench.integrations.lm_eval.export import PREFIX
from recbench.recommenders.train import resolve_device
from recbench.run.latents import attach_latents
from recbench.run.parallel import chunk_size
from recbench.run.reload import LoadedRun, load_run
from recbench.tasks.instances import Instance
from recbench.tasks.spec import LATENT_SOURCES, PLACEHOLDER

LATENT = re.compile(
    r"<rec_emb:(?P<window>[^<>]+?):(?P<source>"
    + "|".join(sorted(LATENT_SOURCES, key=len, reverse=True))
    + r")>"
)
DEFAULT_MAX_GEN_TOKS = 256  # lm-eval's default when a task names none


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


@register_model("recbench")
class RecbenchLM(LM):
    """A recbench run's trained interpreter as an lm-eval model (``generate_until`` only).

    ``model_args``: ``run`` (the run folder, required), ``device`` (cpu, cuda, auto), ``gen_cache``
    (default true), ``gen_batch_size`` (default: the run's). lm-eval's own ``batch_size`` is ignored:
    the run's batching keeps outputs identical to ``recbench run``'s.
    """

    def __init__(
        self,
        run: str | None = None,
        device: str | None = None,
        gen_cache: bool | str = True,
        gen_batch_size: int | None = None,
        batch_size=None,  # lm-eval passes its --batch_size; the run's gen_batch_size is used instead
        max_batch_size=None,
        **unknown,
    ) -> None:
        super().__init__()
        if unknown:
            raise ConfigError(
                f"unknown model_args for the recbench model: {', '.join(sorted(unknown))} "
                "(known: run, device, gen_cache, gen_batch_size)"
            )
        if not run:
            raise ConfigError(
                "the recbench lm-eval model needs model_args run=<run folder>, e.g. run=runs/<run-id>"
            )
        self.run: LoadedRun = load_run(str(run), _device(device))
        self.interpreter = self.run.interpreter
        if gen_batch_size is not None:
            if int(gen_batch_size) < 1:
                raise ConfigError(f"gen_batch_size must be at least 1, got {gen_batch_size}")
            self.interpreter.gen_batch_size = int(gen_batch_size)
        self.gen_cache = _flag(gen_cache)
        self.stats = {"cached": 0, "generated": 0}

    # --- what lm-eval may ask for ---------------------------------------------------------------

    def loglikelihood(self, requests):
        raise NotImplementedError(
            "the recbench lm-eval model answers generate_until tasks only (the exported recbench_* tasks); "
            "loglikelihood and multiple-choice tasks are not supported"
        )

    def loglikelihood_rolling(self, requests):
        raise NotImplementedError(
            "the recbench lm-eval model answers generate_until tasks only; loglikelihood_rolling "
            "(perplexity) tasks are not supported"
        )

    def apply_chat_template(self, chat_history, add_generation_prompt=True):
        raise NotImplementedError(
            "the recbench model applies the run's own prompt format (its config's chat_template); "
            "run lm-eval without --apply_chat_template"
        )

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
        if task not in self.run.specs:
            raise ConfigError(
                f"run {self.run.run_id} has no task '{task}' (lm-eval task {req.task_name}; the run has: "
                f"{', '.join(self.run.specs)}); export tasks from a run that evaluated it"
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
        if gen_kwargs.get("do_sample"):
            raise ConfigError(f"lm-eval task {req.task_name}: do_sample is on; recbench decodes greedily")
        until = gen_kwargs.get("until") or []
        until = [until] if isinstance(until, str) else list(until)
        max_new = int(gen_kwargs.get("max_gen_toks", gen_kwargs.get("max_new_tokens", DEFAULT_MAX_GEN_TOKS)))
        doc = req.doc if isinstance(req.doc, dict) else {}
        inst = Instance(
            id=str(doc.get("id", f"{task}:{req.doc_id}")),
            task=task,
            window=windows[0][0],
            prompt=LATENT.sub(PLACEHOLDER, context),
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
