"""The LLM interpreter: a frozen causal LM reading recommender latents through a trained adapter."""

from __future__ import annotations

from pathlib import Path

from recbench import registry
from recbench.errors import ConfigError
from recbench.interpreters.base import Interpreter, InterpreterContext, Progress
from recbench.run.spec import DEFAULTS
from recbench.tasks.instances import Instance


class LLMInterpreter(Interpreter):
    """Frozen LLM + trained adapter (+ optional LoRA) reading latents as soft tokens."""

    name = "llm"
    kind = "llm"
    trainable = True

    # Every default is the RunSpec's (recbench/run/spec.py): one default per setting, in one place.
    def __init__(
        self,
        llm: str = DEFAULTS.llm,
        adapter: str = DEFAULTS.adapter,
        adapter_options: dict | None = None,
        lora: dict | None = DEFAULTS.lora,
        chat_template: bool = DEFAULTS.chat_template,
        steps: int = DEFAULTS.steps,
        batch_size: int = DEFAULTS.batch_size,
        lr: float = DEFAULTS.lr,
        weight_decay: float = DEFAULTS.weight_decay,
        warmup: int = DEFAULTS.warmup,
        gen_batch_size: int = DEFAULTS.gen_batch_size,
        align_steps: int = DEFAULTS.align_steps,
        train_precision: str | None = DEFAULTS.train_precision,
        train_processes: int = DEFAULTS.train_processes,
    ):
        registry.adapters.entry(adapter)  # unknown adapter names fail before any model loads
        self.llm_name = llm
        self.adapter_name = adapter
        if adapter_options is None:  # the spec's options for its own adapter, none for another
            adapter_options = DEFAULTS.adapter_options if adapter == DEFAULTS.adapter else {}
        self.adapter_options = dict(adapter_options)
        _check_adapter_options(adapter, self.adapter_options)
        self.lora = lora
        self.chat_template = chat_template
        self.train_settings = {
            "steps": steps,
            "batch_size": batch_size,
            "lr": lr,
            "weight_decay": weight_decay,
            "warmup": warmup,
        }
        self.train_settings["align_steps"] = align_steps
        self.gen_batch_size = gen_batch_size
        self.train_precision = train_precision
        self.train_processes = train_processes  # data-parallel ranks (recbench.interpreters.data_parallel)
        self.model = None

    @classmethod
    def from_config(cls, cfg) -> LLMInterpreter:
        return cls(
            llm=cfg.llm,
            adapter=cfg.adapter,
            adapter_options=cfg.adapter_options,
            lora=cfg.lora,
            chat_template=cfg.chat_template,
            steps=cfg.steps,
            batch_size=cfg.batch_size,
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            warmup=cfg.warmup,
            gen_batch_size=cfg.gen_batch_size,
            align_steps=cfg.align_steps,
            train_precision=cfg.train_precision,
            train_processes=cfg.train_processes,
        )

    def setup(self, ctx: InterpreterContext) -> None:
        from recbench.interpreters.soft_prompt import SoftPromptModel
        from recbench.llms import load_llm

        super().setup(ctx)
        self.llm = load_llm(self.llm_name, ctx.device)
        cls = registry.adapters.get(self.adapter_name)
        import torch

        torch.manual_seed(ctx.seed)  # the adapter's initial weights belong to the run's seed
        try:
            adapter = cls(ctx.rec_dim, self.llm.hidden_size, ctx.window, **self.adapter_options)
        except (TypeError, ValueError) as exc:  # e.g. --adapter-option hidden=abc
            raise ConfigError(
                f"adapter '{self.adapter_name}' options {self.adapter_options}: {exc}"
            ) from None
        self.model = SoftPromptModel(
            self.llm,
            adapter,
            lora=self.lora,
            chat_template=self.chat_template,
            train_precision=self.train_precision,
        )

    def identity(self) -> dict:
        out = {
            "name": self.name,
            "llm": getattr(getattr(self, "llm", None), "identity", self.llm_name),
            "adapter": self.adapter_name,
            "adapter_options": self.adapter_options,
            "lora": self.lora,
            "chat_template": self.chat_template,
            "train": self.train_settings,
        }
        if self.train_precision is not None:  # left out as before it existed: older keys stay valid
            out["train_precision"] = self.train_precision
        if self.train_processes != 1:  # likewise: one-process training keeps the keys it had
            out["train_processes"] = self.train_processes
        return out

    def describe(self) -> dict:
        label = f"{self.llm_name} + {self.adapter_name}" + (" + LoRA" if self.lora else "")
        return {
            "kind": self.kind,
            "name": self.name,
            "label": label,
            "llm": self.llm_name,
            "adapter": self.adapter_name,
            "lora": self.lora,
            "config": self.identity(),
        }

    @staticmethod
    def _examples(instances: list[Instance], with_target: bool):
        from recbench.interpreters.soft_prompt import PromptExample

        return [
            PromptExample(i.prompt, list(i.latents), " " + i.target if with_target else None)
            for i in instances
        ]

    def fit(self, train: list[Instance], valid: list[Instance], progress: Progress = None) -> dict:
        from recbench.interpreters.align import align_adapter, alignment_pairs, will_align
        from recbench.interpreters.data_parallel import current as current_data_parallel

        s = self.train_settings
        adapter = self.model.adapter
        per_item = getattr(adapter, "tokens_per_item", max(1, adapter.n_tokens // self.ctx.window))
        belief, summary = getattr(adapter, "belief", False), getattr(adapter, "summary", None)
        latents, token_ids = alignment_pairs(
            train, self.llm.tokenizer, self.ctx.data.title, per_item, belief, summary
        )
        if belief and s["align_steps"] > 0 and not any(i.rec_top1 is not None for i in train):
            raise ConfigError(
                "adapter option belief=true aligns to the recommender's own top-1, but no training task "
                "provides it (train on a task with inputs: [rec_top1], e.g. next_item)"
            )
        if summary is not None and s["align_steps"] > 0 and not any(i.task == summary for i in train):
            raise ConfigError(
                f"adapter option summary={summary!r} aligns to that task's reference answers, but it is "
                "not among the training tasks (add it to --train-tasks, or drop the group: "
                "--adapter-option summary=null)"
            )
        # one progress count over both stages: title alignment (when it applies), then end-to-end steps
        first = (
            s["align_steps"] if will_align(self.model.adapter, latents, token_ids, s["align_steps"]) else 0
        )
        total = first + s["steps"]

        def report_align(done: int, loss: float) -> None:
            progress(done, total, loss, "align")

        def report_train(done: int, _steps: int, loss: float) -> None:
            progress(first + done, total, loss, "train")

        # a killed training resumes from its last checkpoint (stages.fit hands over the Checkpointer)
        checkpoint = getattr(self, "checkpoint", None)
        saved = checkpoint.load() if checkpoint is not None else None
        # data-parallel ranks (rank 0 writes checkpoints; the others read the one it left, which every
        # rank has read before rank 0 can write the next); alignment is replicated on every rank
        data_parallel = current_data_parallel(self.train_processes)
        data_parallel.barrier()
        if saved is not None and not _fits(saved, first, s["steps"]):
            saved = None  # not this training's (cannot happen with keyed folders): start over
        if saved is not None and saved.stage == "train":
            aligned = dict(saved.meta["align_report"])  # alignment had finished before that checkpoint
        else:
            aligned = align_adapter(
                self.model.adapter,
                self.model.embed.weight,
                latents,
                token_ids,
                steps=s["align_steps"],
                seed=self.ctx.seed,
                batch_size=max(16, min(256, 768 // per_item)),  # windows per step: same work per token group
                progress=report_align if progress is not None else None,
                checkpoint=checkpoint,
                resume=saved,
                bf16=self.train_precision == "bf16",
            )
        history = self.model.fit(
            self._examples(train, True),
            self._examples(valid, True) if valid else None,
            steps=s["steps"],
            batch_size=s["batch_size"],
            lr=s["lr"],
            weight_decay=s["weight_decay"],
            seed=self.ctx.seed,
            warmup=s["warmup"],
            progress=report_train if progress is not None else None,
            checkpoint=checkpoint,
            resume=saved if saved is not None and saved.stage == "train" else None,
            checkpoint_meta={"align_report": aligned},
            data_parallel=data_parallel,
        )
        self.model.adapter.round_to_storage()  # what is saved is what this run generates with
        losses = history["train_loss"]
        tail = losses[-20:] or [float("nan")]
        # only a resumed training says so: an uninterrupted one writes exactly what it wrote before
        resumed = {"resumed_from_stage": saved.stage, "resumed_from_step": saved.step} if saved else {}
        return {
            **aligned,
            "steps": history["steps"],
            "train_loss_first": round(losses[0], 4) if losses else None,
            "train_loss_last": round(sum(tail) / len(tail), 4) if losses else None,
            "valid_loss": None if history["valid_loss"] is None else round(history["valid_loss"], 4),
            "seconds": round(history["seconds"], 1),
            "train_examples": len(train),
            **resumed,
        }

    def generate(
        self, instances: list[Instance], *, max_new_tokens: int, stop: list[str], progress: Progress = None
    ) -> list[str]:
        return self.model.generate(
            self._examples(instances, False),
            max_new_tokens=max_new_tokens,
            stop=stop,
            batch_size=self.gen_batch_size,
            progress=progress,
        )

    def save(self, folder: Path) -> None:
        self.model.save(folder)

    def load(self, folder: Path) -> None:
        self.model.load(folder)


def _fits(saved, align_steps: int, steps: int) -> bool:
    """Whether a checkpoint belongs to a training of ``align_steps`` + ``steps`` steps."""
    if saved.stage == "align":
        return 0 < saved.step <= align_steps
    return saved.stage == "train" and 0 < saved.step <= steps and "align_report" in saved.meta


def _check_adapter_options(adapter: str, options: dict) -> None:
    """Option names the adapter does not take fail here, before any work (from its signature, so no
    adapter is built); ill-typed values fail in one line when the adapter is built (:meth:`setup`)."""
    import inspect

    skip = {"self", "rec_dim", "llm_dim", "window", "token_norm"}
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    known: set[str] = set()
    for klass in registry.adapters.get(adapter).__mro__:  # a subclass may pass **kwargs to its parent
        if "__init__" in vars(klass):
            params = inspect.signature(vars(klass)["__init__"]).parameters
            known |= {n for n, p in params.items() if p.kind in kinds}
    unknown = sorted(set(options) - known - skip)
    if unknown:
        raise ConfigError(f"adapter '{adapter}' has no option(s) {', '.join(unknown)}")
