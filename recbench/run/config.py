"""One serialisable run configuration: profile defaults, then explicit overrides."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields

from recbench.cache import stable_hash
from recbench.errors import ConfigError, UnknownNameError
from recbench.registry import unknown_name_message

DEFAULT_TASKS = ("seq_recovery", "residual_id", "description", "next_item")


@dataclass
class RunConfig:
    """Everything that determines a run's numbers (seeds included)."""

    dataset: str = "ml-100k"
    data_dir: str | None = None
    rec: str = "sasrec"
    rec_epochs: int | None = None
    interpreter: str = "llm"
    llm: str = "smollm2-135m"
    adapter: str = "mlp"
    # each window position becomes 12 soft tokens, aligned to the first 12 tokens of the item's title
    adapter_options: dict = field(default_factory=lambda: {"hidden": 1024, "tokens_per_item": 12})
    align_steps: int = (
        3000  # adapter-only warm start before end-to-end training (recbench/interpreters/align.py)
    )
    lora: dict | None = None
    chat_template: bool = True
    tasks: tuple[str, ...] = DEFAULT_TASKS
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

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tasks"] = list(self.tasks)
        return d

    def run_id(self) -> str:
        """Readable and unique per configuration: the same command maps to the same folder."""
        label = self.llm if self.interpreter in ("llm", "text_history") else ""
        parts = [self.dataset, self.rec, self.interpreter]
        if self.interpreter == "llm":
            parts += [label, self.adapter] + (["lora"] if self.lora else [])
        elif label:
            parts.append(label)
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(parts))
        return f"{slug}-{stable_hash(self.to_dict(), 8)}"


# The fast profile fits a 2-core CPU (see docs/profiles.md); paper follows RecInterpreter.
PROFILES: dict[str, dict] = {
    "fast": {},
    "paper": {
        "window": 10,
        "adapter": "paper",
        "adapter_options": {},
        "align_steps": 0,
        "lr": 1e-3,
        "weight_decay": 1e-6,
        "batch_size": 16,
        "steps": 3000,
        "limit": None,
        "chat_template": True,
        "valid_limit": 128,
    },
}


def default_adapter_options(profile: str, adapter: str | None) -> dict:
    """The adapter options a run starts from: the profile's for its own adapter, none for another."""
    if profile not in PROFILES:
        raise UnknownNameError(unknown_name_message("profile", profile, sorted(PROFILES)))
    own = PROFILES[profile].get("adapter", RunConfig.adapter)
    if adapter is not None and adapter != own:
        return {}
    return dict(PROFILES[profile].get("adapter_options", RunConfig().adapter_options))


def parse_options(pairs: list[str]) -> dict:
    """``["hidden=256", "tokens_per_item=4"]`` -> ``{"hidden": 256, "tokens_per_item": 4}`` (JSON values, else text)."""
    import json

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


def resolve_config(profile: str = "fast", **overrides) -> RunConfig:
    """Profile defaults, then every override that is not None; validated."""
    if profile not in PROFILES:
        raise UnknownNameError(unknown_name_message("profile", profile, sorted(PROFILES)))
    names = {f.name for f in fields(RunConfig)}
    values = {**PROFILES[profile], "profile": profile}
    for key, value in overrides.items():
        if key not in names:
            raise ConfigError(f"unknown run setting '{key}'")
        if value is not None:
            values[key] = value
    # Adapter options belong to one adapter: choosing another adapter drops the profile's options.
    if overrides.get("adapter") is not None and overrides.get("adapter_options") is None:
        values["adapter_options"] = default_adapter_options(profile, overrides["adapter"])
    if "tasks" in values:
        values["tasks"] = tuple(values["tasks"])
    cfg = RunConfig(**values)
    checks = [
        (cfg.window >= 2, f"--window must be at least 2, got {cfg.window}"),
        (cfg.limit is None or cfg.limit >= 1, f"--limit must be at least 1, got {cfg.limit}"),
        (cfg.steps >= 0, f"--steps must be >= 0, got {cfg.steps}"),
        (cfg.align_steps >= 0, f"--align-steps must be >= 0, got {cfg.align_steps}"),
        (cfg.batch_size >= 1, f"--batch-size must be at least 1, got {cfg.batch_size}"),
        (cfg.lr > 0, f"--lr must be positive, got {cfg.lr}"),
        (len(cfg.tasks) > 0, "no tasks selected"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    return cfg
