"""Which item does each window position's hidden state encode: the one before, its own, or the next?

For each recommender, the window latents ``[L, d]`` are made exactly as the interpreter gets them
(``recbench.run.latents.attach_latents`` on the fast profile's windows, split by user). For every
position ``t`` and offset ``o`` in (-1, 0, +1) three readers predict item ``t + o`` (``t + 1`` of the
last position is the window's true next item; ``t - 1`` of the first is undefined: the window is
encoded on its own):

* ``linear``: a softmax classifier over the catalogue (``recbench.baselines.linear_probe.SoftmaxProbe``),
  one per (position, offset), trained on training windows, tested on test windows;
* ``linear_pair``: the same classifier on ``[h_{t-1}; h_t]`` (zeros before the first position): what a
  reader of two neighbouring states gets linearly (it can use the step ``h_t - h_{t-1}``);
* ``mlp`` and ``mlp_pair`` (offset 0 only: the item the interpreter must name): a one-hidden-layer GELU
  MLP (512 units) on ``h_t`` and on ``[h_{t-1}; h_t]``: what a non-linear reader such as the ``mlp``
  adapter can get from one position, and from a position with its predecessor;
* ``retrieval``: items ranked by ``h_t · e_item`` against the recommender's own item embeddings (no
  training: this is how the recommender scores its next item);
* ``popular``: the training targets' most frequent items, whatever the latent (the floor).

Top-1 / top-10 accuracy per (model, reader, position, offset) over test windows, with seeded 95%
bootstrap intervals. Prints a table, then one JSON object on the last line.

    .venv/bin/python bench/probe_positions.py [--recs sasrec gru4rec] [--checkpoint gru4rec=DIR]

Without ``--checkpoint`` a recommender comes from the cache or the committed pretrained layer, and is
trained (``recbench train-rec``'s defaults, seed 0) when neither has it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import torch

OFFSETS = (-1, 0, 1)
KS = (1, 10)
READERS = ("linear", "linear_pair", "mlp", "mlp_pair", "retrieval", "popular")
MLP_OFFSETS = (0,)  # the MLP readers cost seconds per fit: only the item at the position itself


def offset_targets(windows, offset: int) -> torch.Tensor:
    """``[N, L]`` item ids: item ``t + offset`` of each window (``L`` is its next item), 0 where undefined."""
    length = len(windows[0].items)
    out = torch.zeros(len(windows), length, dtype=torch.long)
    for row, w in enumerate(windows):
        seq = (*w.items, w.next_item)
        for t in range(length):
            j = t + offset
            if 0 <= j <= length:
                out[row, t] = seq[j]
    return out


def hits(scores: torch.Tensor, targets: torch.Tensor, ks=KS) -> dict[int, torch.Tensor]:
    """Per row, 1.0 when the target item (1-based) is among the ``k`` best-scored columns, per ``k``.

    Ties are broken by column order (a stable sort), so the result is deterministic.
    """
    order = torch.argsort(scores, dim=1, descending=True, stable=True)[:, : max(ks)]
    found = order == (targets[:, None] - 1)
    return {k: found[:, :k].any(1).float() for k in ks}


def with_previous(latents: torch.Tensor) -> torch.Tensor:
    """``[N, L, d] -> [N, L, 2d]``: each position's state after its predecessor's (zeros before the first)."""
    before = torch.cat([torch.zeros_like(latents[:, :1]), latents[:, :-1]], dim=1)
    return torch.cat([before, latents], dim=-1)


class MLPProbe:
    """Standardise, then Linear -> GELU -> Linear to item logits; the same data and seed give the same probe."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, n_items: int, *, hidden: int = 512, epochs: int = 15,
                 lr: float = 1e-3, batch_size: int = 256, seed: int = 0):  # fmt: skip
        torch.manual_seed(seed)
        self.mean, self.std = x.mean(0), x.std(0, unbiased=False).clamp_min(1e-6)
        z = (x - self.mean) / self.std
        self.net = torch.nn.Sequential(
            torch.nn.Linear(x.shape[1], hidden), torch.nn.GELU(), torch.nn.Linear(hidden, n_items)
        )
        opt = torch.optim.Adam(self.net.parameters(), lr=lr)
        gen = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            for idx in torch.randperm(len(z), generator=gen).split(batch_size):
                loss = torch.nn.functional.cross_entropy(self.net(z[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()

    @torch.no_grad()
    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.net((x - self.mean) / self.std), dim=-1)


def popular_scores(train_targets: torch.Tensor, n_items: int, rows: int) -> torch.Tensor:
    """Scores that rank items by how often they are training targets (the same for every row)."""
    counts = Counter(train_targets.tolist())
    score = torch.tensor([counts.get(i + 1, 0) for i in range(n_items)], dtype=torch.float32)
    return score.expand(rows, n_items)


def probe_cells(
    train_latents: torch.Tensor,
    train_windows,
    test_latents: torch.Tensor,
    test_windows,
    n_items: int,
    item_embeddings: torch.Tensor | None = None,
    *,
    seed: int = 0,
    epochs: int = 5,
    mlp_epochs: int = 15,
    lr: float = 1e-2,
    batch_size: int = 256,
    resamples: int = 1000,
) -> list[dict]:
    """One record per (reader, position, offset) with top-k accuracies (``Score`` dicts); None where undefined.

    ``*_latents`` are ``[N, L, d]``; ``item_embeddings`` (``[n_items, d]``) enables the retrieval reader.
    """
    from recbench.baselines.linear_probe import SoftmaxProbe
    from recbench.metrics.base import bootstrap_ci

    length = train_latents.shape[1]
    readers = [r for r in READERS if r != "retrieval" or item_embeddings is not None]
    pairs_train, pairs_test = with_previous(train_latents), with_previous(test_latents)
    cells = []
    for offset in OFFSETS:
        y_train_all, y_test_all = offset_targets(train_windows, offset), offset_targets(test_windows, offset)
        for t in range(length):
            y_train, y_test = y_train_all[:, t], y_test_all[:, t]
            keep_train, keep_test = y_train > 0, y_test > 0
            for reader in readers:
                if reader.startswith("mlp") and offset not in MLP_OFFSETS:
                    continue
                cell = {"reader": reader, "position": t, "offset": offset}
                if not keep_test.any() or not keep_train.any():
                    cells.append({**cell, **{f"top{k}": None for k in KS}})
                    continue
                x_train, x_test = (
                    (pairs_train, pairs_test) if reader.endswith("_pair") else (train_latents, test_latents)
                )
                x_train, x_test, target = x_train[keep_train, t], x_test[keep_test, t], y_test[keep_test]
                if reader.startswith("linear"):
                    probe, _ = SoftmaxProbe.train(
                        x_train, y_train[keep_train] - 1, n_items,
                        epochs=epochs, lr=lr, batch_size=batch_size, weight_decay=0.0, seed=seed,
                    )  # fmt: skip
                    with torch.no_grad():
                        scores = probe.log_probs(x_test)
                elif reader.startswith("mlp"):
                    scores = MLPProbe(
                        x_train, y_train[keep_train] - 1, n_items, epochs=mlp_epochs, seed=seed
                    ).log_probs(x_test)
                elif reader == "retrieval":
                    scores = x_test @ item_embeddings.T
                else:
                    scores = popular_scores(y_train[keep_train], n_items, len(target))
                for k, values in hits(scores, target).items():
                    cell[f"top{k}"] = bootstrap_ci(values.tolist(), seed=seed, resamples=resamples).to_dict()
                cells.append(cell)
    return cells


def best_offset(cells: list[dict], reader: str, position: int, k: int = 1) -> int | None:
    """The offset whose item ``reader`` recovers best at ``position`` (top-``k``), None if none is defined."""
    scored = [
        (c[f"top{k}"]["value"], c["offset"])
        for c in cells
        if c["reader"] == reader and c["position"] == position and c[f"top{k}"] is not None
    ]
    return max(scored)[1] if scored else None


def format_table(name: str, cells: list[dict]) -> str:
    """A readable block per reader: rows are positions, columns item t-1 / t / t+1 (top-1 [CI] / top-10, %)."""
    lines = []
    length = 1 + max(c["position"] for c in cells)
    for reader in dict.fromkeys(c["reader"] for c in cells):
        lines.append(f"\n{name}: {reader} (top-1 % [95% CI] / top-10 %)")
        lines.append(f"{'position':>9} | " + " | ".join(f"{_label(o):^28}" for o in OFFSETS))
        for t in range(length):
            row = []
            for o in OFFSETS:
                c = next(
                    (c for c in cells if (c["reader"], c["position"], c["offset"]) == (reader, t, o)), None
                )
                row.append(f"{_cell_text(c):^28}")
            label = f"{t + 1}" + (" (last)" if t == length - 1 else "")
            lines.append(f"{label:>9} | " + " | ".join(row))
    return "\n".join(lines)


def _label(offset: int) -> str:
    return {-1: "item t-1", 0: "item t", 1: "item t+1"}[offset]


def _cell_text(cell: dict | None) -> str:
    if cell is None:
        return "(not run)"
    if cell["top1"] is None:
        return "—"
    a, b = cell["top1"], cell["top10"]
    return f"{100 * a['value']:5.1f} [{100 * a['low']:.1f}, {100 * a['high']:.1f}] / {100 * b['value']:4.1f}"


# --- the benchmark -------------------------------------------------------------------------------------


def window_latents(model, windows, window: int) -> torch.Tensor:
    """``[N, L, d]``: the latents the interpreter reads for each window (the run's own encoding path)."""
    from recbench.run.latents import attach_latents
    from recbench.tasks.instances import Instance

    insts = [Instance(w.id, "probe", w, "", "", ("window",), list(w.items)) for w in windows]
    attach_latents(model, insts, window)
    return torch.stack([i.latents[0] for i in insts])


def load_recommender(spec, data, checkpoint: Path | None) -> tuple[object, dict]:
    """The recommender (from ``checkpoint`` when given) and where it came from."""
    from recbench import registry
    from recbench.cache import sha256_of_file
    from recbench.run import stages

    if checkpoint is not None:
        model = registry.recommenders.get(spec.rec).load(checkpoint).eval()
        if model.n_items != data.n_items:
            raise SystemExit(
                f"--checkpoint {checkpoint}: made for {model.n_items} items, the dataset has {data.n_items}"
            )
        return model, {
            "source": str(checkpoint),
            "checkpoint_sha256": sha256_of_file(checkpoint / "model.safetensors"),
        }
    trained = stages.recommender(spec, data, "cpu")
    info = {"source": str(trained.checkpoint), "checkpoint_sha256": trained.sha256, "test": trained.test}
    return trained.model, info


def parse_checkpoints(values: list[str], recs: list[str]) -> dict[str, Path]:
    out = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or name not in recs:
            raise SystemExit(f"--checkpoint must be REC=DIR with REC one of {', '.join(recs)}, got '{value}'")
        folder = Path(path)
        if not (folder / "model.safetensors").is_file() or not (folder / "config.json").is_file():
            raise SystemExit(f"--checkpoint {value}: no model.safetensors + config.json in {folder}")
        out[name] = folder
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recs", nargs="+", default=["sasrec", "gru4rec"])
    parser.add_argument("--checkpoint", action="append", default=[], metavar="REC=DIR")
    parser.add_argument("--epochs", type=int, default=5, help="linear probe epochs (linear_probe's default)")
    parser.add_argument("--mlp-epochs", type=int, default=15)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    from recbench import progress
    from recbench.errors import RecbenchError
    from recbench.run import stages
    from recbench.run.spec import RunSpec

    progress.set_enabled(sys.stderr.isatty())
    start = time.perf_counter()
    try:
        checkpoints = parse_checkpoints(args.checkpoint, args.recs)
        out: dict = {"dataset": "ml-100k", "profile": "fast", "seed": args.seed, "models": {}}
        for rec in args.recs:
            spec = RunSpec.resolve("fast", rec=rec, seed=args.seed)
            d = stages.load_data(spec)
            model, info = load_recommender(spec, d.data, checkpoints.get(rec))
            train_w, test_w = d.splits["train"], d.splits["test"]
            cells = probe_cells(
                window_latents(model, train_w, spec.window), train_w,
                window_latents(model, test_w, spec.window), test_w,
                d.data.n_items, model.item_embeddings().detach().float(),
                seed=args.seed, epochs=args.epochs, mlp_epochs=args.mlp_epochs, resamples=args.resamples,
            )  # fmt: skip
            print(format_table(rec, cells))
            best = {
                r: [best_offset(cells, r, t) for t in range(spec.window)] for r in ("linear", "retrieval")
            }
            item_t = {  # top-1 of the item at each position, per reader: the summary of the table
                r: [round(c["top1"]["value"], 4) for c in cells if (c["reader"], c["offset"]) == (r, 0)]
                for r in READERS
            }
            out["window"] = spec.window
            out["models"][rec] = {
                **info, "n_train_windows": len(train_w), "n_test_windows": len(test_w),
                "best_offset_top1": best, "item_t_top1": item_t, "cells": cells,
            }  # fmt: skip
    except RecbenchError as exc:
        raise SystemExit(str(exc)) from None
    out["seconds"] = round(time.perf_counter() - start, 1)
    out["threads"] = torch.get_num_threads()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
