"""Adapter base class: recommender hidden states [B, L, d] -> soft tokens [B, k, H] in the LLM's space.

Checkpoints are a folder with ``adapter.safetensors`` (weights) and ``adapter.json`` (class name, dims,
hyper-parameters): no pickle, so loading one never runs code.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

from recbench.cache import atomic_write_bytes, atomic_write_text
from recbench.errors import CheckpointError, ConfigError, RecbenchError

WEIGHTS = "adapter.safetensors"
CONFIG = "adapter.json"
FORMAT = 1
# storage precisions an adapter may keep its weights in on disk (option ``store`` where offered)
# int8: each weight matrix row as int8 times a float32 scale (max |w| / 127); vectors stay float32
STORE = {"float32": torch.float32, "float16": torch.float16, "int8": torch.int8}
SCALE = ".int8_scale"  # suffix of a row-scale tensor in an int8 checkpoint


class Adapter(nn.Module):
    """Maps a window of recommender hidden states to ``n_tokens`` soft tokens for the LLM."""

    name = "base"  # registry name, written into checkpoints
    storage_dtype = torch.float32  # precision of the weights on disk; see round_to_storage()

    def __init__(
        self, rec_dim: int, llm_dim: int, window: int, token_norm: float | None = None, **hparams: Any
    ):
        super().__init__()
        if hparams:
            raise ConfigError(f"adapter '{self.name}' has no option(s) {', '.join(sorted(hparams))}")
        if min(rec_dim, llm_dim, window) < 1:
            raise ConfigError(
                f"adapter dims must be positive (rec_dim={rec_dim}, llm_dim={llm_dim}, window={window})"
            )
        self.rec_dim, self.llm_dim, self.window = rec_dim, llm_dim, window
        self.n_tokens = 1
        # Output scaling. A frozen LLM has only ever seen inputs with the norm of its token embeddings
        # (SmolLM2: ~1; a random Llama: ~0.16); soft tokens 10x larger or smaller saturate or vanish in the
        # first layers and training stalls. So every soft token goes through a LayerNorm (norm ~sqrt(H)
        # whatever the recommender's scale, with a learned per-dim gain and bias) and then a fixed scale
        # token_norm / sqrt(H), token_norm being the median embedding-row norm of the LLM (see calibrate()).
        self.out_norm = nn.LayerNorm(llm_dim)
        self.token_norm = token_norm
        self.register_buffer(
            "out_scale", torch.tensor(1.0 if token_norm is None else token_norm / math.sqrt(llm_dim))
        )

    # subclasses implement project(); forward adds checks and the shared output scaling
    def project(self, latents: torch.Tensor) -> torch.Tensor:
        """[B, L, d] -> unnormalised [B, n_tokens, H]."""
        raise NotImplementedError

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """[B, L, d] recommender hidden states -> [B, n_tokens, H] soft tokens."""
        if latents.dim() != 3 or latents.shape[-1] != self.rec_dim:
            raise ConfigError(
                f"adapter '{self.name}' expects latents [batch, L, {self.rec_dim}], got {list(latents.shape)}"
            )
        latents = latents.to(self.out_scale.device, torch.float32)
        return self.out_norm(self.project(latents)) * self.out_scale

    def calibrate(self, embedding_weight: torch.Tensor) -> None:
        """Set token_norm from the LLM's embedding matrix, unless it is already set (e.g. by a checkpoint)."""
        if self.token_norm is not None:
            return
        norm = float(embedding_weight.detach().float().norm(dim=-1).median())
        self.token_norm = norm
        self.out_scale.fill_(norm / math.sqrt(self.llm_dim))

    @torch.no_grad()
    def round_to_storage(self) -> None:
        """Round every floating weight to :attr:`storage_dtype` in place (a no-op for float32).

        Called when training ends, so the in-memory adapter equals what :func:`save_adapter` writes
        and :func:`load_adapter_weights` reads back (float16 -> float32 is exact).
        """
        if self.storage_dtype == torch.float32:
            return
        for tensor in [*self.parameters(), *self.buffers()]:
            if not tensor.is_floating_point():
                continue
            if self.storage_dtype == torch.int8:
                if tensor.dim() == 2:
                    q, scale = _quantize(tensor)
                    tensor.copy_(q.to(tensor.dtype) * scale)
            else:
                tensor.copy_(tensor.to(self.storage_dtype).to(tensor.dtype))

    def hparams(self) -> dict[str, Any]:
        """The class-specific constructor options (JSON-able); subclasses extend."""
        return {}

    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild this adapter: name, dims, token_norm and hyper-parameters."""
        return {
            "format": FORMAT,
            "adapter": self.name,
            "rec_dim": self.rec_dim,
            "llm_dim": self.llm_dim,
            "window": self.window,
            "n_tokens": self.n_tokens,
            "token_norm": self.token_norm,
            "hparams": self.hparams(),
        }

    def _check_window(self, latents: torch.Tensor) -> None:
        if latents.shape[1] != self.window:
            raise ConfigError(
                f"adapter '{self.name}' was built for windows of {self.window} states, got {latents.shape[1]}"
            )


def save_adapter(adapter: Adapter, folder: str | Path) -> Path:
    """Write ``adapter.safetensors`` + ``adapter.json`` into ``folder`` (created); returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dtype = adapter.storage_dtype
    state = {}
    for k, v in adapter.state_dict().items():
        v = v.detach().cpu()
        if dtype == torch.int8 and v.is_floating_point() and v.dim() == 2:
            state[k], state[k + SCALE] = _quantize(v)
        elif dtype == torch.float16 and v.is_floating_point():
            state[k] = v.to(dtype)
        else:
            state[k] = v
    state = {k: v.contiguous() for k, v in state.items()}
    atomic_write_bytes(folder / WEIGHTS, save(state))
    atomic_write_text(folder / CONFIG, json.dumps(adapter.config(), indent=2, sort_keys=True) + "\n")
    return folder


def read_adapter_config(folder: str | Path) -> dict[str, Any]:
    """The parsed ``adapter.json`` of a checkpoint folder; CheckpointError if missing or malformed."""
    path = Path(folder) / CONFIG
    try:
        cfg = json.loads(path.read_text())
        for key in ("adapter", "rec_dim", "llm_dim", "window", "hparams"):
            cfg[key]  # noqa: B018 - presence check
    except FileNotFoundError:
        raise CheckpointError(f"adapter checkpoint {path} is missing") from None
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise CheckpointError(
            f"adapter checkpoint {path} is malformed ({type(exc).__name__}: {exc})"
        ) from None
    return cfg


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """safetensors file -> tensors; a missing, truncated or corrupt file is a CheckpointError naming it."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint file {path} is missing")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"checkpoint file {path} is truncated or corrupt ({reason})") from None


def load_adapter(folder: str | Path, rec_dim: int | None = None, llm_dim: int | None = None) -> Adapter:
    """Rebuild an adapter from a checkpoint folder; checks dims against the expected ones when given."""
    from recbench.registry import adapters

    folder = Path(folder)
    cfg = read_adapter_config(folder)
    weights = folder / WEIGHTS
    want = (
        rec_dim if rec_dim is not None else cfg["rec_dim"],
        llm_dim if llm_dim is not None else cfg["llm_dim"],
    )
    if want != (cfg["rec_dim"], cfg["llm_dim"]):
        raise CheckpointError(
            f"adapter checkpoint {weights} maps rec_dim {cfg['rec_dim']} -> llm_dim {cfg['llm_dim']}, "
            f"but this run needs rec_dim {want[0]} -> llm_dim {want[1]}"
        )
    try:
        cls = adapters.get(cfg["adapter"])
    except RecbenchError as exc:
        raise CheckpointError(f"adapter checkpoint {folder / CONFIG}: {exc}") from None
    adapter = cls(
        cfg["rec_dim"], cfg["llm_dim"], cfg["window"], token_norm=cfg.get("token_norm"), **cfg["hparams"]
    )
    load_state_checked(adapter, load_tensors(weights), weights)
    return adapter


def load_adapter_weights(adapter: Adapter, folder: str | Path) -> None:
    """Load a checkpoint's weights into an existing adapter of the same kind, dims and options."""
    folder = Path(folder)
    cfg, mine = read_adapter_config(folder), adapter.config()
    for key in ("adapter", "rec_dim", "llm_dim", "window", "hparams"):
        if cfg[key] != mine[key]:
            raise CheckpointError(
                f"adapter checkpoint {folder / CONFIG} has {key}={cfg[key]}, not {mine[key]}"
            )
    load_state_checked(adapter, load_tensors(folder / WEIGHTS), folder / WEIGHTS)
    adapter.token_norm = cfg.get("token_norm")


def _quantize(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row-wise symmetric int8: ``(q, scale)`` with ``q * scale`` the stored matrix.

    Scales are powers of two, so ``q * scale`` is exact and quantizing an already quantized matrix
    gives back the same ``q`` and ``scale`` (what is saved is bit for bit what was computed with).
    """
    amax = weight.abs().amax(dim=1, keepdim=True).clamp_min(torch.finfo(torch.float32).tiny)
    scale = torch.exp2(torch.ceil(torch.log2(amax / 127)))
    return torch.round(weight / scale).clamp(-127, 127).to(torch.int8), scale.to(torch.float32)


def load_state_checked(module: nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    """load_state_dict, but a missing key or shape mismatch is one CheckpointError line naming the file."""
    for key in [k for k in state if k.endswith(SCALE)]:  # int8 rows back to the matrices they stand for
        base, scale = key[: -len(SCALE)], state.pop(key)
        if base not in state:
            raise CheckpointError(f"checkpoint {path} does not fit: '{key}' scales no matrix")
        if state[base].dim() != 2 or tuple(scale.shape) != (state[base].shape[0], 1):
            raise CheckpointError(
                f"checkpoint {path} does not fit: '{key}' has shape {list(scale.shape)} for "
                f"'{base}' of shape {list(state[base].shape)}"
            )
        state[base] = state[base].to(torch.float32) * scale.to(torch.float32)
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    if missing or extra:
        raise CheckpointError(
            f"checkpoint {path} does not fit: missing {missing[:3]}, unexpected {extra[:3]}"
        )
    for key, value in state.items():
        if tuple(value.shape) != tuple(own[key].shape):
            raise CheckpointError(
                f"checkpoint {path} does not fit: '{key}' has shape {list(value.shape)} in the file "
                f"but {list(own[key].shape)} in the model"
            )
    module.load_state_dict(state)
