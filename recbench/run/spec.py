"""The RunSpec: every setting that determines a run's numbers, resolved once, and every key derived from it.

A :class:`RunSpec` is frozen and typed. It is resolved once from a profile plus explicit overrides
(:meth:`RunSpec.resolve`), or read back from a results.json (:meth:`RunSpec.from_dict`). This module
is the only place where a run id or a cache key is computed:

* :meth:`RunSpec.run_id` names the run folder;
* :func:`recommender_key` names a trained recommender in the cache (``recommenders/<name>-<key>``);
* :func:`interpreter_fit_key` names a trained interpreter (``interpreters/<name>-<key>``);
* :func:`interpreter_key` is the identity of a fitted interpreter, part of every generation key;
* :func:`generation_keys` names each cached generation.

Every default lives here, in the :class:`RunSpec` field defaults and :data:`PROFILES`; the
interpreters take their defaults from :data:`DEFAULTS`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from recbench.cache import stable_hash
from recbench.errors import ConfigError, UnknownNameError
from recbench.registry import unknown_name_message

TRAIN_PRECISIONS = ("fp32", "bf16")
DEFAULT_TASKS = ("seq_recovery", "residual_id", "description", "next_item")


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines a run's numbers (seeds included). Build with :meth:`resolve`."""

    dataset: str = "ml-100k"
    data_dir: str | None = None
    rec: str = "sasrec"
    rec_epochs: int | None = None
    interpreter: str = "llm"
    llm: str = "smollm2-135m"
    adapter: str = "mlp"
    # each window position becomes 12 soft tokens, aligned to the first 12 tokens of the item's title,
    # plus one group aligned to the title of the recommender's own top-1 (belief); 640 hidden units kept
    # as int8 on disk: the committed adapter is 4.5 MB (docs/profiles.md)
    adapter_options: dict = field(
        default_factory=lambda: {"hidden": 640, "tokens_per_item": 12, "store": "int8", "belief": True}
    )
    align_steps: int = 3000  # adapter-only warm start before end-to-end training (interpreters/align.py)
    lora: dict | None = None
    chat_template: bool = True
    # the frozen LLM's arithmetic while the adapter trains: bf16 uses the CPU's bf16 matrix units (AMX);
    # generation stays in fp32 on CPU (exact and batch-independent). None: runs recorded before the
    # setting existed (fp32 training on CPU)
    train_precision: str | None = "bf16"
    # processes adapter training is shared over (data-parallel: each step's batch split among them, the
    # gradients summed), so the numbers may depend on it; recbench run --num-processes N sets it to N.
    # 1 (one process, as before the setting existed) is left out of the run id
    train_processes: int = 1
    tasks: tuple[str, ...] = DEFAULT_TASKS  # the tasks this run evaluates
    train_tasks: tuple[str, ...] = DEFAULT_TASKS  # the tasks the interpreter is trained on
    # the version of each task above, where it is not 1 (resolve() pins every task's version: the
    # latest, or N for "name@N"); a config written before versions coexisted ran version 1 of each
    task_versions: dict = field(default_factory=dict)
    window: int = 5
    limit: int | None = 100  # test instances per task (seeded sample); None = all
    train_limit: int | None = None  # training windows (seeded sample); None = all
    valid_limit: int = 32  # valid instances per task, for the valid loss
    steps: int = 150
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-6
    warmup: int = 10
    gen_batch_size: int = 128  # prompts decoded together; finished rows leave the batch (docs/performance.md)
    seed: int = 0
    profile: str = "fast"

    # --- building ----------------------------------------------------------------------------------

    @classmethod
    def resolve(cls, profile: str = "fast", **overrides: Any) -> RunSpec:
        """Profile defaults, then every override that is not None; types and ranges checked."""
        if not isinstance(profile, str) or profile not in PROFILES:
            raise UnknownNameError(unknown_name_message("profile", str(profile), sorted(PROFILES)))
        names = {f.name for f in fields(cls)}
        values: dict[str, Any] = {**PROFILES[profile], "profile": profile}
        for key, value in overrides.items():
            if key not in names:
                raise ConfigError(f"unknown run setting '{key}' (known: {', '.join(sorted(names))})")
            if key == "lora" and value is False:
                values[key] = None  # the profile's LoRA switched off (--no-lora)
            elif value is not None:
                values[key] = value
        # Adapter options belong to one adapter: choosing another adapter drops the profile's options.
        if overrides.get("adapter") is not None and overrides.get("adapter_options") is None:
            values["adapter_options"] = default_adapter_options(profile, overrides["adapter"])
        # the interpreter is trained on the profile's tasks whatever subset is evaluated
        values.setdefault("train_tasks", DEFAULTS.train_tasks)
        values.update(pin_task_versions(values.get("tasks", DEFAULTS.tasks), values["train_tasks"]))
        values.setdefault("train_precision", DEFAULTS.train_precision)
        if not _trains_llm(values.get("interpreter", DEFAULTS.interpreter)):
            values["train_precision"] = None  # nothing trains an LLM: the run id stays what it was before
            values["train_processes"] = 1  # nor is anything trained data-parallel
            values["lora"] = None  # nor LoRA
            if overrides.get("adapter") is None and overrides.get("adapter_options") is None:
                # no adapter either: the field defaults, so a baseline's run id does not follow the profile's
                # adapter recipe (the baseline rows of the board keep theirs)
                values["adapter_options"] = dict(DEFAULTS.adapter_options)
        return cls.from_dict(values, where="run settings")

    @classmethod
    def from_dict(cls, raw: object, where: str = "config") -> RunSpec:
        """A spec from its :meth:`to_dict` form (results.json ``config``); every field checked.

        A config written before ``train_tasks`` existed trained on its evaluated tasks; one written
        before ``train_precision`` existed trained in its device's default dtype (``None``).
        """
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: must be an object of run settings")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - names)
        if unknown:
            raise ConfigError(f"{where}: unknown run setting(s) {', '.join(unknown)}")
        values = dict(raw)
        if "tasks" in values and "train_tasks" not in values:
            values["train_tasks"] = values["tasks"]
        values.setdefault("train_precision", None)
        values = {k: _coerce(k, v, where) for k, v in values.items()}
        spec = cls(**values)
        spec.check()
        return spec

    def check(self) -> None:
        """Ranges; raises :class:`ConfigError` naming the option."""
        checks = [
            (self.window >= 2, f"--window must be at least 2, got {self.window}"),
            (self.limit is None or self.limit >= 1, f"--limit must be at least 1, got {self.limit}"),
            (self.train_limit is None or self.train_limit >= 1, f"train_limit must be at least 1, got {self.train_limit}"),
            (self.valid_limit >= 0, f"valid_limit must be >= 0, got {self.valid_limit}"),
            (self.rec_epochs is None or self.rec_epochs >= 1, f"--epochs must be at least 1, got {self.rec_epochs}"),
            (self.steps >= 0, f"--steps must be >= 0, got {self.steps}"),
            (self.align_steps >= 0, f"--align-steps must be >= 0, got {self.align_steps}"),
            (self.batch_size >= 1, f"--batch-size must be at least 1, got {self.batch_size}"),
            (self.gen_batch_size >= 1, f"gen_batch_size must be at least 1, got {self.gen_batch_size}"),
            (self.warmup >= 0, f"warmup must be >= 0, got {self.warmup}"),
            (self.lr > 0, f"--lr must be positive, got {self.lr}"),
            (self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}"),
            (self.seed >= 0, f"--seed must be >= 0, got {self.seed}"),
            (self.train_precision in (None, *TRAIN_PRECISIONS), f"--train-precision must be fp32 or bf16, got {self.train_precision!r}"),
            (self.train_processes >= 1, f"--train-processes must be at least 1, got {self.train_processes}"),
            (len(self.tasks) > 0, "no tasks selected"),
            (len(self.train_tasks) > 0, "no training tasks selected"),
            (len(set(self.tasks)) == len(self.tasks), f"a task is named twice in {list(self.tasks)}"),
            (not (set(self.task_versions) - set(self.tasks) - set(self.train_tasks)),
             f"task_versions names a task the run neither evaluates nor trains on: {sorted(self.task_versions)}"),
        ]  # fmt: skip
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    # --- serialising and naming ----------------------------------------------------------------------

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tasks"] = list(self.tasks)
        d["train_tasks"] = list(self.train_tasks)
        d["task_versions"] = dict(sorted(self.task_versions.items()))
        return d

    def task_version(self, task: str) -> int:
        """The version of ``task`` this run uses (1 unless :attr:`task_versions` says otherwise)."""
        return self.task_versions.get(task, 1)

    def run_id(self) -> str:
        """Readable and unique per spec: the same command maps to the same folder."""
        parts = [self.dataset, self.rec, self.interpreter]
        if self.interpreter == "llm":
            parts += [self.llm, self.adapter] + (["lora"] if self.lora else [])
        elif self.interpreter == "text_history":
            parts.append(self.llm)
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(parts))
        identity = self.to_dict()
        if self.train_tasks == self.tasks:  # as every run before train_tasks existed: same id as then
            del identity["train_tasks"]
        if not self.task_versions:  # every task at version 1: as every run before versions coexisted
            del identity["task_versions"]
        if self.train_precision is None:  # as every run before train_precision existed
            del identity["train_precision"]
        if self.train_processes == 1:  # one-process training: as every run before data-parallel training
            del identity["train_processes"]
        return f"{slug}-{stable_hash(identity, 8)}"

    @property
    def seeds(self) -> dict[str, int]:
        """The seeds results.json records: one seed drives every random choice of a run."""
        return {
            k: self.seed for k in ("split", "recommender", "interpreter", "control", "bootstrap", "sample")
        }


DEFAULTS = RunSpec()

# The LoRA that --lora and the fast profile train (target modules: adapters/lora.py's defaults, q/v)
LORA: dict = {"r": 8, "alpha": 16, "dropout": 0.0}

# The fast profile fits a 2-core CPU (see docs/profiles.md); paper follows RecInterpreter.
PROFILES: dict[str, dict] = {
    # Since 2026-12-02 the fast profile also trains LoRA (r=8 on q_proj, v_proj) and its adapter
    # has 512 hidden units and a seventh token group for the window's taste (summary: description): the
    # one recipe measured to read all four tasks above their controls and baselines (docs/profiles.md);
    # the adapter (3.7 MB, int8) and the LoRA (1.9 MB) are committed. --no-lora: the adapter alone.
    "fast": {
        "adapter_options": {
            "hidden": 512,
            "tokens_per_item": 12,
            "store": "int8",
            "belief": True,
            "summary": "description",
        },
        "lora": LORA,
    },
    "paper": {
        "window": 10,
        "adapter": "paper",
        "adapter_options": {},
        "align_steps": 0,
        "steps": 3000,
        "limit": None,
        "valid_limit": 128,
    },
}

# field -> (accepted Python types, may be None); bool is never an int here
_TYPES: dict[str, tuple[tuple[type, ...], bool]] = {
    "dataset": ((str,), False),
    "data_dir": ((str, os.PathLike), True),
    "rec": ((str,), False),
    "rec_epochs": ((int,), True),
    "interpreter": ((str,), False),
    "llm": ((str, os.PathLike), False),
    "adapter": ((str,), False),
    "adapter_options": ((dict,), False),
    "align_steps": ((int,), False),
    "lora": ((dict,), True),
    "chat_template": ((bool,), False),
    "train_precision": ((str,), True),
    "train_processes": ((int,), False),
    "tasks": ((list, tuple), False),
    "train_tasks": ((list, tuple), False),
    "task_versions": ((dict,), False),
    "window": ((int,), False),
    "limit": ((int,), True),
    "train_limit": ((int,), True),
    "valid_limit": ((int,), False),
    "steps": ((int,), False),
    "batch_size": ((int,), False),
    "lr": ((float, int), False),
    "weight_decay": ((float, int), False),
    "warmup": ((int,), False),
    "gen_batch_size": ((int,), False),
    "seed": ((int,), False),
    "profile": ((str,), False),
}


def _coerce(name: str, value: object, where: str) -> object:
    """``value`` checked against the field's type; paths become text, sequences of names tuples."""
    types, nullable = _TYPES[name]
    if value is None and nullable:
        return None
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok:
        want = " or ".join(t.__name__ for t in types) + (" or None" if nullable else "")
        raise ConfigError(f"{where}: {name} must be {want}, got {type(value).__name__} {value!r:.60}")
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if name in ("lr", "weight_decay"):
        return float(value)
    if name in ("tasks", "train_tasks"):
        if not all(isinstance(t, str) and t and "@" not in t for t in value):
            raise ConfigError(f"{where}: {name} must be a list of task names, got {list(value)!r:.80}")
        return tuple(value)
    if name == "task_versions":
        ok = all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 2
            for k, v in value.items()
        )
        if not ok:
            raise ConfigError(
                f"{where}: task_versions must map task names to versions >= 2 (1 is left out), got {value!r:.80}"
            )
        return dict(value)
    if name in ("adapter_options", "lora"):
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: {name} must hold JSON values only, got {value!r:.80}") from None
        return dict(value)
    return value


def _trains_llm(interpreter: object) -> bool:
    """Whether an interpreter takes a ``train_precision`` (it trains through an LLM); unknown names fail
    later, in one line."""
    import inspect

    from recbench import registry

    try:
        cls = registry.interpreters.get(str(interpreter))
    except Exception:  # noqa: BLE001 - the runner reports an unknown interpreter with its own message
        return True
    return "train_precision" in inspect.signature(cls.__init__).parameters


def pin_task_versions(tasks, train_tasks) -> dict:
    """``tasks`` and ``train_tasks`` as bare names, and ``task_versions``: each task's version pinned.

    ``"name@N"`` asks for version N; a bare name for the task's latest version (the task files are
    looked up: an unknown task or version is one :class:`UnknownNameError` line). A task asked at two
    versions is a :class:`ConfigError`; versions equal to 1 are left out of ``task_versions``.
    """
    from recbench.tasks import load_task
    from recbench.tasks.spec import parse_task_ref

    if not isinstance(tasks, (list, tuple)) or not isinstance(train_tasks, (list, tuple)):
        return {}  # from_dict reports the type
    versions: dict[str, int] = {}
    names: dict[str, list[str]] = {"tasks": [], "train_tasks": []}
    for key, refs in (("tasks", tasks), ("train_tasks", train_tasks)):
        for ref in refs:
            if not isinstance(ref, str) or not ref:
                return {}
            name, asked = parse_task_ref(ref)
            version = load_task(name, asked).version if asked is not None or name not in versions else asked
            if version is not None and versions.setdefault(name, version) != version:
                raise ConfigError(f"task {name} is asked at versions {versions[name]} and {version}")
            names[key].append(name)
    return {**names, "task_versions": {n: v for n, v in versions.items() if v != 1}}


def default_adapter_options(profile: str, adapter: str | None) -> dict:
    """The adapter options a run starts from: the profile's for its own adapter, none for another."""
    if profile not in PROFILES:
        raise UnknownNameError(unknown_name_message("profile", profile, sorted(PROFILES)))
    own = PROFILES[profile].get("adapter", DEFAULTS.adapter)
    if adapter is not None and adapter != own:
        return {}
    return dict(PROFILES[profile].get("adapter_options", DEFAULTS.adapter_options))


def parse_options(pairs: list[str]) -> dict:
    """``["hidden=256", "tokens_per_item=4"]`` -> ``{"hidden": 256, "tokens_per_item": 4}`` (JSON values, else text)."""
    out: dict = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip() or not text.strip():
            raise ConfigError(f"--adapter-option expects KEY=VALUE, got '{pair}'")
        try:
            out[key.strip()] = json.loads(text)
        except ValueError:
            out[key.strip()] = text.strip()
    return out


# --- cache keys: the only place they are computed ----------------------------------------------------


def recommender_key(data_sha256: str, rec_name: str, rec_version: object, config: dict, seed: int) -> str:
    """Key of a trained recommender: dataset, recommender name/version/config, seed."""
    return stable_hash(
        {"dataset": data_sha256, "rec": rec_name, "version": rec_version, "config": config, "seed": seed}
    )


def interpreter_fit_key(
    spec: RunSpec, identity: dict, rec_sha256: str, data_sha256: str, train_tasks: list[dict]
) -> str:
    """Key of a fitted interpreter: what it is, what it read, which tasks and windows it trained on.

    ``train_tasks`` are the training tasks' :meth:`TaskSpec.identity` dicts.
    """
    return stable_hash(
        {
            "interpreter": identity,
            "recommender_sha256": rec_sha256,
            "dataset_sha256": data_sha256,
            "tasks": train_tasks,
            "window": spec.window,
            "train_limit": spec.train_limit,
            "valid_limit": spec.valid_limit,
            "seed": spec.seed,
        }
    )


def interpreter_key(identity: dict, fit_key: str | None) -> str:
    """The identity of a (fitted) interpreter as results.json records it; part of every generation key."""
    return stable_hash({"interpreter": identity, "fit": fit_key}, 32)


def generation_settings(task) -> dict:
    """What a task's generation depends on beyond prompt and latents."""
    return {"max_new_tokens": task.max_new_tokens, "until": list(task.until)}


def generation_key(interp_key: str, settings: dict, prompt: str, latents_sha: str) -> str:
    blob = f"{interp_key}\x00{sorted(settings.items())}\x00{prompt}\x00{latents_sha}"
    return hashlib.sha256(blob.encode()).hexdigest()


def latent_hash(latents: list) -> str:
    """sha256 over the raw float32 bytes of every latent tensor, in slot order."""
    import torch

    h = hashlib.sha256()
    for t in latents:
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def generation_keys(interp_key: str, task, instances: list) -> list[str]:
    """One generation-cache key per instance of ``task``.

    A task version other than 1 is part of the key (a baseline answers each version in its own
    format, from the same prompt); version 1 keys are what they were before versions coexisted.
    """
    settings = generation_settings(task)
    if task.version != 1:
        settings["task"] = f"{task.name}@{task.version}"
    return [
        generation_key(interp_key, settings, inst.prompt, latent_hash(inst.latents) if inst.latents else "")
        for inst in instances
    ]
