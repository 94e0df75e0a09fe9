"""Training checkpoints: a killed training resumes from its last checkpoint and ends with the same bits.

A :class:`Checkpointer` owns one partial-entry folder, ``<cache>/.partial/<kind>/<entry>/``, keyed
exactly like the final cache entry ``<cache>/<kind>/<entry>/`` it will become (so only the identical
training resumes from it), and removed once that entry is written. A checkpoint is one file,
``checkpoint.safetensors``: trainable weights, optimizer moments, scheduler state, RNG states (torch,
CUDA, Python ``random``, NumPy), the data-order position and the losses so far; tensors as tensors,
everything else as JSON in the safetensors header (never pickle). It is replaced atomically, so the
folder always holds the last whole checkpoint.

When: the recommender after every epoch; adapter alignment and end-to-end training every
``$RECBENCH_CHECKPOINT_SECONDS`` seconds (default 60), every ``$RECBENCH_CHECKPOINT_STEPS`` steps
(default 0: by time only) and at the end of each stage. Saving only reads state (no random draw, no
change to data order or arithmetic), so an uninterrupted training gives the bits it gave before
checkpoints existed, and a resumed one the bits of an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recbench.cache import atomic_write_bytes

FILE = "checkpoint.safetensors"
FORMAT = 1
DEFAULT_SECONDS = 60.0
ENV_SECONDS = "RECBENCH_CHECKPOINT_SECONDS"
ENV_STEPS = "RECBENCH_CHECKPOINT_STEPS"


@dataclass
class Saved:
    """One checkpoint: which stage, how many of its steps are done, tensors and JSON metadata."""

    stage: str
    step: int
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]

    def sub(self, prefix: str) -> dict[str, torch.Tensor]:
        """The tensors under ``prefix.``, with the prefix removed."""
        cut = len(prefix) + 1
        return {k[cut:]: v for k, v in self.tensors.items() if k.startswith(prefix + ".")}


def _env_number(name: str, default: float, kind=float):
    raw = os.environ.get(name, "").strip()
    try:
        return kind(raw) if raw else default
    except ValueError:
        warnings.warn(f"${name}={raw!r} is not a number; using {default}", stacklevel=3)
        return default


class Checkpointer:
    """Saves and loads the checkpoints of one training in ``folder``.

    ``every_steps`` / ``every_seconds`` (None: from the environment, see the module docstring) decide
    when :meth:`due` is true; the caller saves at stage ends whatever they say.
    """

    def __init__(
        self,
        folder: Path,
        every_steps: int | None = None,
        every_seconds: float | None = None,
        writes: bool = True,
    ):
        self.folder = Path(folder)
        # False: a data-parallel rank other than 0, which reads the checkpoint rank 0 writes (their
        # training states are identical) and never writes or removes it
        self.writes = writes
        self.every_steps = every_steps if every_steps is not None else _env_number(ENV_STEPS, 0, int)
        self.every_seconds = (
            every_seconds if every_seconds is not None else _env_number(ENV_SECONDS, DEFAULT_SECONDS)
        )
        self._last_time = time.monotonic()
        self._last_step: tuple[str, int] | None = None
        self.saves = 0

    @property
    def path(self) -> Path:
        return self.folder / FILE

    def due(self, stage: str, step: int) -> bool:
        """Whether a checkpoint is due after ``step`` steps of ``stage``."""
        if not self.writes:
            return False
        if self.every_steps and self.every_steps > 0:
            last = self._last_step[1] if self._last_step and self._last_step[0] == stage else 0
            if step - last >= self.every_steps:
                return True
        return self.every_seconds is not None and time.monotonic() - self._last_time >= self.every_seconds

    def save(self, stage: str, step: int, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        """Write one checkpoint (replacing the last one in one rename)."""
        if not self.writes:
            return
        from safetensors.torch import save

        # copies: safetensors refuses tensors that share memory (tied weights), and owns its bytes
        blob = {k: v.detach().cpu().clone().contiguous() for k, v in tensors.items()}
        header = {"format": FORMAT, "stage": stage, "step": step, "meta": meta}
        data = save(blob, metadata={"recbench": json.dumps(header, allow_nan=True)})
        atomic_write_bytes(self.path, data)
        self._last_time = time.monotonic()
        self._last_step = (stage, step)
        self.saves += 1

    def load(self) -> Saved | None:
        """The last checkpoint, or None (none yet; one that cannot be read is ignored with a warning)."""
        if not self.path.is_file():
            return None
        try:
            from safetensors import safe_open

            with safe_open(str(self.path), framework="pt") as f:
                header = json.loads((f.metadata() or {})["recbench"])
                tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no iterator
            if header.get("format") != FORMAT:
                raise ValueError(f"format {header.get('format')!r}, expected {FORMAT}")
            return Saved(str(header["stage"]), int(header["step"]), tensors, dict(header["meta"]))
        except Exception as exc:  # noqa: BLE001 - any defect means: start this training from scratch
            warnings.warn(
                f"checkpoint {self.path} cannot be read ({exc}); training starts over", stacklevel=2
            )
            return None

    def discard(self) -> None:
        """Remove the folder: the final entry is written. (Its parents stay: another process may be
        creating a sibling.)"""
        if not self.writes:
            return
        shutil.rmtree(self.folder, ignore_errors=True)


# --- what goes into a checkpoint ---------------------------------------------------------------------


def torch_rng(prefix: str, cuda_devices: list[int] | tuple[int, ...] = ()) -> dict[str, torch.Tensor]:
    """torch's global CPU generator state (and each CUDA device's) as tensors under ``prefix``."""
    out = {f"{prefix}.cpu": torch.get_rng_state()}
    for d in cuda_devices:
        out[f"{prefix}.cuda{d}"] = torch.cuda.get_rng_state(d)
    return out


def set_torch_rng(saved: Saved, prefix: str, cuda_devices: list[int] | tuple[int, ...] = ()) -> None:
    torch.set_rng_state(saved.tensors[f"{prefix}.cpu"])
    for d in cuda_devices:
        key = f"{prefix}.cuda{d}"
        if key in saved.tensors:
            torch.cuda.set_rng_state(saved.tensors[key], d)


def host_rng() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Python ``random``'s and NumPy's global states: (tensors, JSON)."""
    version, state, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    tensors = {"rng.numpy_keys": torch.from_numpy(np.asarray(keys, dtype=np.int64).copy())}
    meta = {"python": [version, list(state), gauss], "numpy": [name, int(pos), int(has_gauss), float(cached)]}
    return tensors, {"host_rng": meta}


def set_host_rng(saved: Saved) -> None:
    meta = saved.meta.get("host_rng")
    if not meta:
        return
    version, state, gauss = meta["python"]
    random.setstate((version, tuple(state), gauss))
    name, pos, has_gauss, cached = meta["numpy"]
    keys = saved.tensors["rng.numpy_keys"].numpy().astype(np.uint32)
    np.random.set_state((name, keys, pos, has_gauss, cached))


def optimizer_state(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimizer's state: its tensors under ``prefix`` and the rest (param groups, scalars) as JSON."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, state in sd["state"].items():
        for name, value in state.items():
            if torch.is_tensor(value):
                tensors[f"{prefix}.{index}.{name}"] = value
            else:
                scalars.setdefault(str(index), {})[name] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars, "indices": list(sd["state"])}


def load_optimizer_state(opt: torch.optim.Optimizer, saved: Saved, prefix: str, meta: dict) -> None:
    state: dict[int, dict[str, Any]] = {int(i): {} for i in meta["indices"]}
    for key, value in saved.sub(prefix).items():
        index, name = key.split(".", 1)
        state[int(index)][name] = value
    for index, values in meta["scalars"].items():
        state[int(index)].update(values)
    groups = []
    for saved_group, own in zip(meta["param_groups"], opt.param_groups, strict=True):
        # JSON made tuples (betas) lists: give them back their type
        groups.append({k: tuple(v) if isinstance(own.get(k), tuple) else v for k, v in saved_group.items()})
    opt.load_state_dict({"state": state, "param_groups": groups})


def module_state(module: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v for k, v in module.state_dict().items()}
