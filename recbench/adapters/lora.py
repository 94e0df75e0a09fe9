"""Optional LoRA on the frozen LLM (through peft), trained alongside an adapter; weights as safetensors."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from recbench.adapters.base import load_tensors
from recbench.errors import CheckpointError, ConfigError

LORA_DEFAULTS: dict[str, Any] = {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}


def add_lora(model: Any, options: dict, cuda_devices: list[int]) -> tuple[Any, dict]:
    """Inject LoRA into ``model`` in place; returns the peft wrapper and the full option dict (JSON-able)."""
    from peft import LoraConfig, get_peft_model

    unknown = set(options) - set(LORA_DEFAULTS) - {"seed"}
    if unknown:
        known = ", ".join([*LORA_DEFAULTS, "seed"])
        raise ConfigError(f"unknown LoRA option(s) {', '.join(sorted(unknown))} (known: {known})")
    if hasattr(model, "peft_config"):
        raise ConfigError("this LLM already carries LoRA weights; load it again for a new LoRA run")
    cfg = {**LORA_DEFAULTS, **options}
    cfg["target_modules"] = list(cfg["target_modules"])
    peft_cfg = LoraConfig(
        r=int(cfg["r"]), lora_alpha=cfg["alpha"], lora_dropout=float(cfg["dropout"]),
        target_modules=cfg["target_modules"], bias="none",
    )  # fmt: skip
    with torch.random.fork_rng(devices=cuda_devices), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
        torch.manual_seed(int(cfg.get("seed", 0)))  # LoRA A matrices are random: same options, same init
        wrapped = get_peft_model(model, peft_cfg)
    return wrapped, cfg


def lora_state(model: Any) -> dict[str, torch.Tensor]:
    """The LoRA weights of a peft-wrapped model, as contiguous CPU tensors."""
    from peft import get_peft_model_state_dict

    return {k: v.detach().cpu().contiguous() for k, v in get_peft_model_state_dict(model).items()}


def load_lora(model: Any, path: Path) -> None:
    """Load LoRA weights saved from :func:`lora_state`; a file that does not fit is a CheckpointError."""
    from peft import set_peft_model_state_dict

    state, own = load_tensors(path), lora_state(model)
    bad = [k for k in own if k not in state or state[k].shape != own[k].shape]
    extra = sorted(set(state) - set(own))
    if bad or extra:
        raise CheckpointError(
            f"LoRA checkpoint {path} does not fit this LLM (first bad key: {(bad or extra)[0]})"
        )
    set_peft_model_state_dict(model, state)
