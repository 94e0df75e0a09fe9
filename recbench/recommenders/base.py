"""What every recommender shares: padding, full-catalogue training with early stopping, save/load.

A recommender maps a batch of item-id sequences (``LongTensor[B, L]``, left padded with 0) to
hidden states at every position (``encode``) and to scores over the whole catalogue (``score``,
column ``j`` is item ``j + 1``).
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from recbench import progress
from recbench.cache import sha256_of_file
from recbench.checkpoint import (
    Checkpointer,
    host_rng,
    load_optimizer_state,
    module_state,
    optimizer_state,
    set_host_rng,
    set_torch_rng,
    torch_rng,
)
from recbench.errors import CheckpointError


@dataclass
class TrainConfig:
    """Optimisation settings shared by all recommenders."""

    max_len: int = 50
    epochs: int = 200
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 10  # epochs without a better valid NDCG@10 before stopping


def pad_left(sequences: list[list[int]], max_len: int) -> torch.Tensor:
    """The last ``max_len`` items of each sequence, left padded with 0."""
    out = torch.zeros(len(sequences), max_len, dtype=torch.long)
    for row, seq in enumerate(sequences):
        tail = seq[-max_len:]
        if tail:
            out[row, max_len - len(tail) :] = torch.tensor(tail, dtype=torch.long)
    return out


def training_chunks(sequences: list[list[int]], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut each training sequence, from its end, into chunks of ``max_len + 1`` items.

    Inputs are a chunk's first ``max_len`` items, targets the same shifted by one; long users
    yield several chunks so their early history is trained on too.
    """
    inputs, targets = [], []
    for seq in sequences:
        end = len(seq)
        while end >= 2:
            chunk = seq[max(0, end - max_len - 1) : end]
            inputs.append(chunk[:-1])
            targets.append(chunk[1:])
            end -= max_len
    return pad_left(inputs, max_len), pad_left(targets, max_len)


class SequentialRecommender(nn.Module):
    """Base class: subclasses build their layers in ``__init__`` and implement ``encode``."""

    name = "base"
    version = 1  # bump when the architecture changes, so old cache entries are not reused

    def __init__(self, n_items: int, config):
        super().__init__()
        self.n_items = n_items
        self.config = config
        self.history: dict = {}

    # --- the protocol -------------------------------------------------------------------
    def encode(self, items: torch.Tensor) -> torch.Tensor:
        """Hidden state at every position: ``LongTensor[B, L] -> Tensor[B, L, d]``."""
        raise NotImplementedError

    def item_embeddings(self) -> torch.Tensor:
        """Output embeddings of items 1..n (``[n_items, d]``) that hidden states are scored against."""
        raise NotImplementedError

    def score(self, items: torch.Tensor) -> torch.Tensor:
        """Scores of every catalogue item after the last position: ``Tensor[B, n_items]``."""
        return self.encode(items)[:, -1, :] @ self.item_embeddings().T

    # --- training ----------------------------------------------------------------------
    def fit(
        self,
        train: list[list[int]],
        valid: list[tuple[list[int], int]],
        seed: int = 0,
        checkpoint: Checkpointer | None = None,
    ) -> SequentialRecommender:
        """Full-catalogue cross-entropy at every position; keep the epoch with the best valid NDCG@10.

        With a ``checkpoint``, the training state is saved after every epoch and a run killed in the
        middle resumes from the last one, with the same result as an uninterrupted run.
        """
        from recbench.recommenders.evaluate import ranking_metrics

        cfg: TrainConfig = self.config.train
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        inputs, targets = training_chunks(train, cfg.max_len)
        optimizer = torch.optim.Adam(self.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        best, best_state, bad_epochs, losses = -1.0, None, 0, []
        first, earlier = 0, 0.0
        saved = checkpoint.load() if checkpoint is not None else None
        if saved is not None and saved.stage == "epoch" and 0 < saved.step <= cfg.epochs:
            self.load_state_dict(saved.sub("model"))
            load_optimizer_state(optimizer, saved, "opt", saved.meta["optimizer"])
            generator.set_state(saved.tensors["gen"])
            set_torch_rng(saved, "torch", self._cuda_devices())
            set_host_rng(saved)
            best, bad_epochs, losses = (
                saved.meta["best"],
                saved.meta["bad_epochs"],
                list(saved.meta["losses"]),
            )
            best_state = saved.sub("best") if saved.meta["has_best"] else None
            first, earlier = saved.step, float(saved.meta.get("seconds", 0.0))
        start = time.perf_counter()

        def save(epochs: int) -> None:
            opt_tensors, opt_meta = optimizer_state(optimizer, "opt")
            host_tensors, host_meta = host_rng()
            tensors = {**module_state(self, "model"), **opt_tensors, **host_tensors}
            tensors.update(torch_rng("torch", self._cuda_devices()))
            tensors["gen"] = generator.get_state()
            if best_state is not None:
                tensors.update({f"best.{k}": v for k, v in best_state.items()})
            meta = {
                **host_meta, "optimizer": opt_meta, "best": best, "has_best": best_state is not None,
                "bad_epochs": bad_epochs, "losses": losses, "seconds": earlier + time.perf_counter() - start,
            }  # fmt: skip
            checkpoint.save("epoch", epochs, tensors, meta)

        with progress.bar(f"train {self.name}", cfg.epochs) as update:
            if first:
                update(advance=first, note=f"resumed after epoch {first}")
            for _epoch in range(first, cfg.epochs):
                if bad_epochs >= cfg.patience:
                    break  # resumed from the checkpoint of the epoch that stopped training
                self.train()
                order = torch.randperm(len(inputs), generator=generator)
                total, count = 0.0, 0
                for i in range(0, len(order), cfg.batch_size):
                    idx = order[i : i + cfg.batch_size]
                    x, y = inputs[idx], targets[idx]
                    mask = y > 0
                    logits = self.encode(x)[mask] @ self.item_embeddings().T
                    loss = F.cross_entropy(logits, y[mask] - 1)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    total, count = total + loss.item() * len(idx), count + len(idx)
                losses.append(total / count)
                metrics = ranking_metrics(self, valid, cfg.max_len, ks=(10,))
                if metrics["ndcg@10"] > best:
                    best, best_state, bad_epochs = metrics["ndcg@10"], copy.deepcopy(self.state_dict()), 0
                else:
                    bad_epochs += 1
                update(note=f"loss {losses[-1]:.3f} valid NDCG@10 {metrics['ndcg@10']:.4f} (best {best:.4f})")
                if checkpoint is not None:
                    save(_epoch + 1)
                if bad_epochs >= cfg.patience:
                    break
        if best_state is not None:
            self.load_state_dict(best_state)
        self.eval()
        self.history = {
            "epochs": len(losses),
            "best_epoch": len(losses) - bad_epochs,
            "train_loss": [round(v, 5) for v in losses],
            "valid_ndcg@10": round(best, 5),
            "train_seconds": round(earlier + time.perf_counter() - start, 2),
        }
        if first:
            self.history["resumed_from_epoch"] = first
        return self

    def _cuda_devices(self) -> list[int]:
        device = next(self.parameters()).device
        return [device.index or 0] if device.type == "cuda" else []

    # --- checkpoints: safetensors + JSON, never pickle ------------------------------------
    def save(self, folder: Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        weights = folder / "model.safetensors"
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(weights))
        meta = {
            "name": self.name,
            "version": self.version,
            "n_items": self.n_items,
            "config": config_to_dict(self.config),
            "history": self.history,
            "weights_sha256": sha256_of_file(weights),
        }
        (folder / "config.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, folder: Path) -> SequentialRecommender:
        folder = Path(folder)
        meta = read_checkpoint_meta(folder)
        weights = folder / "model.safetensors"
        if not weights.is_file():
            raise CheckpointError(f"{weights}: checkpoint file missing")
        if meta.get("weights_sha256") and sha256_of_file(weights) != meta["weights_sha256"]:
            raise CheckpointError(
                f"{weights}: checkpoint is truncated or corrupted (sha256 differs from config.json); "
                "delete it or run again with --overwrite"
            )
        try:
            state = load_file(str(weights))
        except (SafetensorError, OSError) as exc:
            raise CheckpointError(
                f"{weights}: checkpoint cannot be read ({exc}); delete it or use --overwrite"
            ) from None
        model = cls(meta["n_items"], cls.config_from_dict(meta["config"]))
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[-1].strip()
            raise CheckpointError(f"{weights}: weights do not fit {cls.name}: {first}") from None
        model.history = meta.get("history", {})
        return model.eval()

    @classmethod
    def config_from_dict(cls, data: dict):
        raise NotImplementedError


def read_checkpoint_meta(folder: Path) -> dict:
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint config missing")
    try:
        meta = json.loads(path.read_text())
        for key in ("name", "n_items", "config"):
            if key not in meta:
                raise KeyError(key)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CheckpointError(
            f"{path}: checkpoint config is not valid JSON (truncated or corrupted)"
        ) from None
    except KeyError as exc:
        raise CheckpointError(f"{path}: checkpoint config lacks field {exc}") from None
    return meta


def config_to_dict(config) -> dict:
    return asdict(config)


@dataclass
class ModelConfigBase:
    """Fields every recommender config has."""

    hidden: int = 64
    dropout: float = 0.2
    train: TrainConfig = field(default_factory=TrainConfig)
