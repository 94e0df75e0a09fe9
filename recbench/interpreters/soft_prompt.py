"""The soft-prompt engine: a frozen causal LM reads recommender hidden states through a trained adapter.

Each ``<rec_emb>`` in a prompt is replaced by the adapter's soft tokens (vectors in the LLM's
token-embedding space); the LLM then writes text. Only the adapter (and optional LoRA weights) train.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from recbench.adapters.base import Adapter, load_adapter, load_adapter_weights, save_adapter
from recbench.adapters.lora import add_lora, load_lora, lora_state
from recbench.cache import atomic_write_bytes, atomic_write_text
from recbench.checkpoint import (
    Checkpointer,
    Saved,
    host_rng,
    load_optimizer_state,
    optimizer_state,
    set_host_rng,
    set_torch_rng,
    torch_rng,
)
from recbench.errors import CheckpointError, ConfigError, RecbenchError
from recbench.interpreters import decode
from recbench.interpreters.data_parallel import SINGLE, DataParallel
from recbench.llms import LoadedLLM

PLACEHOLDER = "<rec_emb>"
LORA_WEIGHTS = "lora.safetensors"
META = "soft_prompt.json"

Progress = Callable[[int, int, float | None], Any]


@dataclass
class PromptExample:
    """One prompt with its recommender states and, for training, the text the LLM should write."""

    prompt: str  # text with one or more "<rec_emb>" placeholders
    latents: list[torch.Tensor]  # one float tensor [L, d] per placeholder, in order
    target: str | None = None  # training target text


class SoftPromptModel(nn.Module):
    """Frozen LLM + trainable adapter (+ optional LoRA): builds spliced inputs, trains, generates.

    LoRA is injected into ``llm.model`` in place: load the LLM again for a second LoRA run.
    """

    def __init__(
        self,
        llm: LoadedLLM,
        adapter: Adapter,
        lora: dict | None = None,
        chat_template: bool = True,
        train_precision: str | None = None,
    ) -> None:
        super().__init__()
        self.llm, self.tokenizer = llm, llm.tokenizer
        self.embed = llm.model.get_input_embeddings()
        width = self.embed.weight.shape[1]
        if adapter.llm_dim != width:
            raise ConfigError(
                f"adapter maps to {adapter.llm_dim} dims but LLM '{llm.name}' embeds in {width}"
            )
        adapter.calibrate(self.embed.weight)
        self.adapter = adapter.to(self.embed.weight.device)
        self.lm = llm.model
        self.lora_config: dict | None = None
        if lora is not None:
            self.lm, self.lora_config = add_lora(llm.model, lora, self._cuda_devices())
        # Base models (llama-7b) have no chat template: they get the plain prompt.
        self.chat_template = bool(chat_template and getattr(self.tokenizer, "chat_template", None))
        eos = self.tokenizer.eos_token_id
        gen_eos = getattr(getattr(self.lm, "generation_config", None), "eos_token_id", None)
        self.eos_ids = sorted({eos, *(gen_eos if isinstance(gen_eos, list) else [gen_eos])} - {None})
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos
        self._piece_ids: dict[tuple[str, bool], list[int]] = {}  # text piece -> token ids
        self._prompt_ids: dict[str, list[list[int]]] = {}  # prompt -> ids of the pieces around placeholders
        # ``train_precision`` (None: as before the setting existed, the device's dtype and the whole prompt
        # every step). With it, the prompt text every row shares (the chat template's system turn) is
        # computed once and its keys and values reused in training (not with LoRA, which changes every step)
        # and generation; "bf16" also trains with the frozen LLM's weights held in bf16 (the CPU's AMX
        # units; _train_arithmetic). Generation keeps the device's dtype: on CPU, fp32 gives the same text
        # whatever the batch (verification needs it).
        self.train_precision = train_precision
        self.reuse_prefix = train_precision is not None
        self._prefix_kv: dict[tuple, list[tuple[torch.Tensor, torch.Tensor]]] = {}
        self._bf16_originals: list[torch.Tensor] | None = None  # fp32 weights put aside in bf16 training

    # --- set-up -------------------------------------------------------------------------------------

    def _cuda_devices(self) -> list[int]:
        dev = self.embed.weight.device
        return [dev.index or 0] if dev.type == "cuda" else []

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Adapter parameters plus LoRA ones, if any; the LLM's own weights stay frozen."""
        lora = [p for n, p in self.lm.named_parameters() if p.requires_grad and "lora_" in n]
        return list(self.adapter.parameters()) + lora

    # --- inputs -------------------------------------------------------------------------------------

    def _encode(self, text: str, first: bool = False) -> list[int]:
        key = (text, first)
        if key not in self._piece_ids:
            # Only a plain prompt's first piece gets the tokenizer's own specials (BOS); a chat template
            # already writes them as text.
            self._piece_ids[key] = self.tokenizer(text, add_special_tokens=first).input_ids
        return self._piece_ids[key]

    def _pieces(self, prompt: str) -> list[list[int]]:
        if prompt not in self._prompt_ids:
            text = prompt
            if self.chat_template:
                msgs = [{"role": "user", "content": prompt}]
                text = self.tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
            parts = text.split(PLACEHOLDER)
            if len(parts) != prompt.count(PLACEHOLDER) + 1:
                raise ConfigError(f"the chat template changed the number of {PLACEHOLDER} placeholders")
            first = not self.chat_template
            self._prompt_ids[prompt] = [self._encode(p, first and i == 0) for i, p in enumerate(parts)]
        return self._prompt_ids[prompt]

    def _validate(self, ex: PromptExample, with_targets: bool) -> None:
        n = ex.prompt.count(PLACEHOLDER)
        start = ex.prompt[:40].replace("\n", " ")
        if n == 0:
            raise ConfigError(f"prompt has no {PLACEHOLDER} placeholder: '{start}...'")
        if n != len(ex.latents):
            raise ConfigError(
                f"prompt '{start}...' has {n} {PLACEHOLDER} but {len(ex.latents)} latents were given"
            )
        for lat in ex.latents:
            if lat.dim() != 2 or lat.shape[-1] != self.adapter.rec_dim:
                raise ConfigError(
                    f"latents must be [L, {self.adapter.rec_dim}] (adapter rec_dim), got {list(lat.shape)}"
                )
            if not torch.isfinite(lat).all():
                raise RecbenchError(
                    f"latents contain NaN or inf (prompt '{start}...'); check the recommender"
                )
        if with_targets and ex.target is None:
            raise ConfigError(f"training example '{start}...' has no target text")

    def build_inputs(
        self, examples: list[PromptExample], with_targets: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(inputs_embeds [B,T,H], attention_mask [B,T], labels [B,T] or None)`` for a batch.

        With targets: right padding, labels = target ids + eos, -100 elsewhere. Without: left padding,
        ready for generation. Soft tokens replace each placeholder in order.
        """
        k = self.adapter.n_tokens
        rows: list[tuple[list[int], list[int], int]] = []  # ids, soft positions, prompt length
        for ex in examples:
            self._validate(ex, with_targets)
            ids: list[int] = []
            soft: list[int] = []
            for j, piece in enumerate(self._pieces(ex.prompt)):
                if j > 0:
                    soft.extend(range(len(ids), len(ids) + k))
                    ids.extend([self.pad_id] * k)  # placeholder ids, overwritten by the soft tokens
                ids.extend(piece)
            n_prompt = len(ids)
            if with_targets:
                ids = ids + self._encode(ex.target or "") + [self.tokenizer.eos_token_id]
            rows.append((ids, soft, n_prompt))
        dev = self.embed.weight.device
        width = max(len(r[0]) for r in rows)
        if with_targets:  # training: widths in steps, so that shapes recur (see TRAIN_WIDTH_STEP)
            width = train_width(width)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long) if with_targets else None
        soft_rows: list[int] = []
        soft_cols: list[int] = []
        for b, (ids, soft, n_prompt) in enumerate(rows):
            off = 0 if with_targets else width - len(ids)  # right padding to train, left to generate
            input_ids[b, off : off + len(ids)] = torch.tensor(ids)
            mask[b, off : off + len(ids)] = 1
            if labels is not None:
                labels[b, off + n_prompt : off + len(ids)] = torch.tensor(ids[n_prompt:])
            soft_rows.extend([b] * len(soft))
            soft_cols.extend(off + c for c in soft)
        embeds = self.embed(input_ids.to(dev))
        soft_tokens = self._soft_tokens([lat for ex in examples for lat in ex.latents])
        index = (torch.tensor(soft_rows, device=dev), torch.tensor(soft_cols, device=dev))
        embeds = embeds.index_put(index, soft_tokens.reshape(-1, embeds.shape[-1]).to(embeds.dtype))
        return embeds, mask.to(dev), labels.to(dev) if labels is not None else None

    def _target_count(self, ex: PromptExample) -> int:
        """Target tokens of a training example, eos included (what its labels hold)."""
        return len(self._encode(ex.target or "")) + 1

    def _row_length(self, ex: PromptExample) -> int:
        """Positions of a training example: prompt text, soft tokens, target and eos."""
        pieces = self._pieces(ex.prompt)
        return sum(map(len, pieces)) + self.adapter.n_tokens * (len(pieces) - 1) + self._target_count(ex)

    def _length_groups(self, batch: list[PromptExample]) -> list[list[PromptExample]]:
        """``batch`` as micro-batches of similar training width (:func:`length_groups`)."""
        groups = length_groups([train_width(self._row_length(ex)) for ex in batch])
        return [[batch[j] for j in group] for group in groups]

    def _soft_tokens(self, latents: list[torch.Tensor]) -> torch.Tensor:
        """[N, k, H] for N placeholders, in order; one adapter call when the windows share a shape."""
        if all(lat.shape == latents[0].shape for lat in latents):
            return self.adapter(torch.stack(latents))
        return torch.cat([self.adapter(lat.unsqueeze(0)) for lat in latents])

    # --- training -----------------------------------------------------------------------------------

    def _shared_prefix(self, batch: list[PromptExample]) -> list[int]:
        """Token ids every row of ``batch`` starts with, before its first soft token."""
        firsts = [self._pieces(ex.prompt)[0] for ex in batch]
        n = min(map(len, firsts))
        for ids in firsts[1:]:
            n = next((i for i in range(n) if ids[i] != firsts[0][i]), n)
        return firsts[0][:n]

    def _reusable_prefix(self, batch: list[PromptExample], training: bool) -> list[int]:
        """The shared prefix whose keys and values are computed once, or ``[]``: none without
        ``train_precision``, and none in training with LoRA, which changes the LLM at every step (in
        generation the LoRA weights are fixed: :meth:`fit` and :meth:`load` drop the cached prefix)."""
        if not self.reuse_prefix or (training and self.lora_config is not None):
            return []
        return self._shared_prefix(batch)

    def _prefix_cache(self, prefix: list[int], rows: int) -> Any:
        """A fresh KV cache holding ``prefix`` for ``rows`` rows (computed once per prefix, no gradient)."""
        from transformers import DynamicCache

        key = (tuple(prefix), self.embed.weight.dtype)  # training (bf16) and generation differ
        if key not in self._prefix_kv:
            cache = DynamicCache(config=self.lm.config)
            ids = torch.tensor([prefix], device=self.embed.weight.device)
            with torch.no_grad():
                self.lm(input_ids=ids, use_cache=True, **{decode.cache_argument(self.lm): cache})
            self._prefix_kv[key] = [(layer.keys, layer.values) for layer in cache.layers]
        data = [(k.expand(rows, -1, -1, -1), v.expand(rows, -1, -1, -1)) for k, v in self._prefix_kv[key]]
        return DynamicCache(data, config=self.lm.config)

    @contextmanager
    def _train_arithmetic(self) -> Iterator[None]:
        """Where training's forward and backward passes run. With ``train_precision="bf16"`` the frozen
        LLM's weights are held in bf16 for the whole block (so its activations are bf16 too: the CPU's
        AMX units, and none of autocast's casts at every layer, measured 1.6x faster a step), with plain
        attention on CPU (the fused attention's bf16 backward is slower than the whole rest of a step).
        The trained weights (adapter, LoRA) stay fp32, and so does their arithmetic. On leaving, the
        fp32 weights are put back as they were (bit for bit): generation is fp32. Re-entrant."""
        if self.train_precision != "bf16" or self._bf16_originals is not None:
            yield
            return
        dev = self.embed.weight.device.type
        base = decode.base_model(self.lm)
        before = base.config._attn_implementation
        frozen = [p for p in base.parameters() if not p.requires_grad and p.dtype == torch.float32]
        self._bf16_originals = [p.data for p in frozen]
        try:
            for p in frozen:
                p.data = p.data.to(torch.bfloat16)
            if dev == "cpu":
                base.set_attn_implementation("eager")
            yield
        finally:
            for p, original in zip(frozen, self._bf16_originals, strict=True):
                p.data = original
            self._bf16_originals = None
            if dev == "cpu":
                base.set_attn_implementation(before)

    def _loss_sum(self, batch: list[PromptExample]) -> tuple[torch.Tensor, int]:
        """Summed cross-entropy over target tokens, and their count."""
        embeds, mask, labels = self.build_inputs(batch, with_targets=True)
        assert labels is not None
        # Only target positions need logits: [B, T, vocab] for the whole prompt would cost more than the
        # transformer itself on CPU (49k vocab). The decoder's last states at the positions that predict a
        # target go through the output head and the loss together, in chunks (head_cross_entropy).
        supervised = (labels != -100).any(0).nonzero().flatten()
        keep = torch.arange(int(supervised[0]) - 1, int(supervised[-1]), device=labels.device)
        base = decode.base_model(self.lm)
        decoder, head = base.get_decoder(), base.get_output_embeddings()
        prefix = self._reusable_prefix(batch, training=True)
        if prefix:
            p, width = len(prefix), embeds.shape[1]
            positions = torch.arange(p, width, device=embeds.device).expand(len(batch), -1)
            hidden = decoder(
                inputs_embeds=embeds[:, p:],
                attention_mask=mask,
                position_ids=positions,
                use_cache=True,
                **{decode.cache_argument(decoder): self._prefix_cache(prefix, len(batch))},
            ).last_hidden_state[:, keep - p]
        else:
            hidden = decoder(inputs_embeds=embeds, attention_mask=mask, use_cache=False).last_hidden_state[
                :, keep
            ]
        targets = labels[:, keep + 1]
        rows = targets != -100
        return head_cross_entropy(hidden[rows], head, targets[rows]), int(rows.sum())

    def fit(
        self,
        train: list[PromptExample],
        valid: list[PromptExample] | None,
        *,
        steps: int,
        batch_size: int,
        lr: float,
        weight_decay: float,
        seed: int,
        grad_clip: float = 1.0,
        warmup: int = 0,
        progress: Progress | None = None,
        checkpoint: Checkpointer | None = None,
        resume: Saved | None = None,
        checkpoint_meta: dict | None = None,
        data_parallel: DataParallel = SINGLE,
    ) -> dict[str, Any]:
        """AdamW on the adapter (+LoRA) for ``steps`` batches; deterministic given ``seed``.

        ``data_parallel``: this rank's share of each global batch, gradients and token counts summed over
        the ranks (:mod:`recbench.interpreters.data_parallel`); the valid loss is shared out by batches.

        With a ``checkpoint``, the whole training state (trainable weights, optimizer, scheduler, RNG
        states, data order, losses; plus ``checkpoint_meta``) is saved when it says so and after the
        last step; ``resume`` (a ``"train"`` checkpoint) continues from it, with the same result as an
        uninterrupted run.

        Returns ``{"train_loss": [per step], "valid_loss": float | None, "steps": n, "seconds": t}``.
        """
        if not train:
            raise ConfigError("no training examples")
        if steps < 0 or batch_size < 1:
            raise ConfigError(f"steps must be >= 0 and batch_size >= 1 (got {steps}, {batch_size})")
        for ex in train:
            self._validate(ex, with_targets=True)  # fail before the first step, not in the middle
        self._prefix_kv.clear()  # keys and values computed with weights that are about to change
        params = self.trainable_parameters()
        # no weight decay on biases, norms and position logits: decaying them only fights the output scaling
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        opt = torch.optim.AdamW(groups, lr=lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / (warmup + 1)))
        gen = torch.Generator().manual_seed(seed)
        order: list[int] = []
        losses: list[float] = []
        start = time.perf_counter()
        cuda = self._cuda_devices()
        first, earlier = 0, 0.0
        if resume is not None:
            set_torch_rng(resume, "outer", cuda)  # the global state training began from (fork_rng keeps it)
            set_host_rng(resume)
        outer = torch_rng("outer", cuda)

        def save(done: int) -> None:
            opt_tensors, opt_meta = optimizer_state(opt, "opt")
            host_tensors, host_meta = host_rng()
            tensors = {
                **self._trainable_state(),
                **opt_tensors,
                **host_tensors,
                **outer,
                **torch_rng("inner", cuda),
            }
            tensors["gen"] = gen.get_state()
            meta = {
                **(checkpoint_meta or {}), **host_meta, "optimizer": opt_meta, "scheduler": sched.state_dict(),
                "order": order, "losses": losses, "seconds": earlier + time.perf_counter() - start,
            }  # fmt: skip
            checkpoint.save("train", done, tensors, meta)

        with torch.random.fork_rng(devices=cuda), self._train_arithmetic():  # one cast for all steps
            torch.manual_seed(seed)  # LoRA dropout, if any
            if resume is not None:
                self._load_trainable_state(resume)
                load_optimizer_state(opt, resume, "opt", resume.meta["optimizer"])
                sched.load_state_dict(resume.meta["scheduler"])
                gen.set_state(resume.tensors["gen"])
                set_torch_rng(resume, "inner", cuda)
                order, losses = list(resume.meta["order"]), list(resume.meta["losses"])
                first, earlier = resume.step, float(resume.meta.get("seconds", 0.0))
            self.train()
            try:
                for step in range(first, steps):
                    if len(order) < min(batch_size, len(train)):
                        order += torch.randperm(len(train), generator=gen).tolist()  # epoch-wise shuffling
                    idx, order = order[:batch_size], order[batch_size:]
                    mine = [train[i] for i in data_parallel.shard(idx)]  # the whole batch in one process
                    # the mean over the global batch's target tokens: every rank divides by their total
                    n_tok = sum(self._target_count(ex) for ex in mine)
                    total = max(data_parallel.total(n_tok, self.embed.weight.device), 1)
                    opt.zero_grad(set_to_none=True)
                    loss = torch.zeros((), device=self.embed.weight.device)
                    for group in self._length_groups(mine):
                        part = self._loss_sum(group)[0] / total
                        part.backward()  # gradients add up over the groups; activations freed per group
                        loss = loss + part.detach()
                    loss = data_parallel.sum_gradients(params, loss)
                    if grad_clip and grad_clip > 0:
                        torch.nn.utils.clip_grad_norm_(params, grad_clip)
                    opt.step()
                    sched.step()
                    losses.append(loss.item())
                    if not math.isfinite(losses[-1]):
                        raise RecbenchError(
                            f"training diverged at step {step + 1} (loss {losses[-1]}); lower lr"
                        )
                    if progress is not None:
                        progress(step + 1, steps, losses[-1])
                    if checkpoint is not None and (step + 1 == steps or checkpoint.due("train", step + 1)):
                        save(step + 1)
            finally:
                self.eval()
        valid_loss = (
            self.evaluate(valid, batch_size=batch_size, data_parallel=data_parallel) if valid else None
        )
        seconds = earlier + time.perf_counter() - start
        return {"train_loss": losses, "valid_loss": valid_loss, "steps": steps, "seconds": seconds}

    @torch.no_grad()
    def evaluate(
        self, examples: list[PromptExample], batch_size: int = 16, data_parallel: DataParallel = SINGLE
    ) -> float:
        """Mean cross-entropy per target token (eos included) over ``examples``; data-parallel ranks
        take every ``world``-th batch."""
        total, count = 0.0, 0
        starts = range(0, len(examples), batch_size)[data_parallel.rank :: data_parallel.world]
        with self._train_arithmetic():
            for i in starts:
                batch = examples[i : i + batch_size]
                for group in self._length_groups(batch):
                    loss_sum, n_tok = self._loss_sum(group)
                    total, count = total + float(loss_sum), count + n_tok
        total, count = data_parallel.sum_floats([total, float(count)], self.embed.weight.device)
        return total / max(count, 1)

    # --- generation ---------------------------------------------------------------------------------

    @torch.no_grad()
    def generate(
        self,
        examples: list[PromptExample],
        *,
        max_new_tokens: int,
        stop: list[str] | None = None,
        batch_size: int = 128,
        progress: Progress | None = None,
    ) -> list[str]:
        """Greedy text for each example (same order), cut at the first stop string, stripped.

        Batches are formed from prompts of similar length (less padding); results do not depend on it.
        A row leaves its batch as soon as it emits an end token or a stop string
        (:func:`recbench.interpreters.decode.greedy_decode`). ``progress(done, total, None)`` is called
        after each batch.
        """
        stop = [s for s in (stop or []) if s]

        def stopped(ids: list[int]) -> bool:  # a stop string in the row's new text
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            return any(s in text for s in stop)

        lengths = [sum(map(len, self._pieces(ex.prompt))) for ex in examples]
        order = sorted(range(len(examples)), key=lambda i: (-lengths[i], i))
        out: list[str] = [""] * len(examples)
        self.eval()
        with torch.inference_mode():
            for s in range(0, len(order), batch_size):
                idx = order[s : s + batch_size]
                batch = [examples[i] for i in idx]
                embeds, mask, _ = self.build_inputs(batch, with_targets=False)
                prefix = self._reusable_prefix(batch, training=False)
                cache = None
                if prefix:  # [pad][prefix][rest] -> the cached prefix, then [pad][rest]
                    embeds, mask = _cut_prefix(embeds, mask, len(prefix))
                    cache = self._prefix_cache(prefix, len(batch))
                rows = decode.greedy_decode(
                    self.lm,
                    embeds,
                    mask,
                    max_new_tokens=max_new_tokens,
                    eos_ids=self.eos_ids,
                    finished=stopped if stop else None,
                    prefix=cache,
                )
                for i, row in zip(idx, rows, strict=True):
                    out[i] = self._finish(row, stop)
                if progress is not None:
                    progress(min(s + batch_size, len(order)), len(order), None)
        return out

    def _finish(self, row: list[int], stop: list[str]) -> str:
        return decode.answer_text(self.tokenizer, row, self.eos_ids, stop)

    # --- checkpoints --------------------------------------------------------------------------------

    def _trainable_state(self) -> dict[str, torch.Tensor]:
        """What training changes: the adapter's state and, with LoRA, the LoRA weights (no copies)."""
        state = {f"adapter.{k}": v for k, v in self.adapter.state_dict().items()}
        if self.lora_config is not None:
            from peft import get_peft_model_state_dict

            state.update({f"lora.{k}": v for k, v in get_peft_model_state_dict(self.lm).items()})
        return state

    def _load_trainable_state(self, saved: Saved) -> None:
        self.adapter.load_state_dict(saved.sub("adapter"))
        if self.lora_config is not None:
            from peft import set_peft_model_state_dict

            set_peft_model_state_dict(self.lm, saved.sub("lora"))

    def adapter_state(self) -> dict[str, torch.Tensor]:
        """Trained weights: ``adapter.*`` plus ``lora.*`` when LoRA is on (CPU tensors)."""
        state = {f"adapter.{k}": v.detach().cpu() for k, v in self.adapter.state_dict().items()}
        if self.lora_config is not None:
            state.update({f"lora.{k}": v for k, v in lora_state(self.lm).items()})
        return state

    def save(self, folder: str | Path) -> Path:
        """Adapter (+LoRA) weights as safetensors, with JSON configs, into ``folder``."""
        folder = save_adapter(self.adapter, folder)
        if self.lora_config is not None:
            from safetensors.torch import save

            atomic_write_bytes(folder / LORA_WEIGHTS, save(lora_state(self.lm)))
        meta = {"llm": self.llm.identity, "chat_template": self.chat_template, "lora": self.lora_config}
        atomic_write_text(folder / META, json.dumps(meta, indent=2, sort_keys=True) + "\n")
        return folder

    def load(self, folder: str | Path) -> None:
        """Load weights saved by :meth:`save` into this model; its adapter and LoRA set-up must match."""
        folder = Path(folder)
        meta = _read_meta(folder)
        if (meta.get("lora") is None) != (self.lora_config is None):
            raise CheckpointError(
                f"checkpoint {folder} and this model disagree on LoRA (build with lora=...)"
            )
        if meta.get("llm") != self.llm.identity:
            warnings.warn(
                f"checkpoint {folder} was trained on {meta.get('llm')}, loading into {self.llm.identity}",
                stacklevel=2,
            )
        load_adapter_weights(self.adapter, folder)
        if self.lora_config is not None:
            load_lora(self.lm, folder / LORA_WEIGHTS)
        self._prefix_kv.clear()  # computed with the weights just replaced

    @classmethod
    def from_checkpoint(cls, llm: LoadedLLM, folder: str | Path) -> SoftPromptModel:
        """Rebuild adapter, LoRA and prompt format from a folder written by :meth:`save`."""
        meta = _read_meta(Path(folder))
        adapter = load_adapter(folder, llm_dim=llm.hidden_size)
        model = cls(llm, adapter, lora=meta.get("lora"), chat_template=bool(meta.get("chat_template", True)))
        model.load(folder)
        return model


# positions one more forward and backward pass costs beyond its rows: on the ML-100K default batches,
# 2 threads, 64 gave 4.5 s a step, 0 (a pass per length) 7.7 s, 128 5.3 s, one pass 5.6 s
GROUP_COST = 64
# Training batches are padded to a multiple of this many positions: every new matrix shape costs the CPU
# kernels set-up time, and a batch whose width is its longest row's would bring new shapes at every step
# (ML-100K default batches, 2 threads, 40 steps of random batches: 3.8 s a step, growing; 3.4 s with 16)
TRAIN_WIDTH_STEP = 16


def train_width(n: int) -> int:
    """``n`` positions rounded up to a multiple of :data:`TRAIN_WIDTH_STEP`."""
    return -(-n // TRAIN_WIDTH_STEP) * TRAIN_WIDTH_STEP


HEAD_CHUNK = 128  # rows of logits at a time: 128 x 49k fp32 = 25 MB, reused by the allocator (no page faults)


class _HeadCrossEntropy(torch.autograd.Function):
    """Summed cross-entropy of ``hidden @ weight.T`` against ``targets``, the logits never whole.

    The gradient with respect to ``hidden`` is computed in the forward pass, chunk by chunk
    (``(softmax - onehot) @ weight``), and only it is kept: no ``[N, vocab]`` tensor lives past its chunk
    (a 100-200 MB tensor allocated and freed in every pass costs page faults on CPU). The output head is
    frozen (no gradient for ``weight``). Logits are computed in the head's dtype, the loss in fp32.
    """

    @staticmethod
    def forward(
        ctx, hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, targets: torch.Tensor
    ):
        loss = torch.zeros((), dtype=torch.float32, device=hidden.device)
        want_grad = ctx.needs_input_grad[0]  # not for the valid loss
        grad = torch.empty_like(hidden) if want_grad else None
        for i in range(0, len(hidden), HEAD_CHUNK):
            h, t = hidden[i : i + HEAD_CHUNK], targets[i : i + HEAD_CHUNK]
            h = h.to(weight.dtype)
            logits = (h @ weight.T if bias is None else torch.addmm(bias, h, weight.T)).float()
            lse = torch.logsumexp(logits, dim=-1)
            loss += (lse - logits.gather(1, t[:, None]).squeeze(1)).sum()
            if grad is not None:
                probs = torch.exp(logits.sub_(lse[:, None]))  # softmax, in place of the logits
                probs[torch.arange(len(t), device=t.device), t] -= 1.0
                grad[i : i + HEAD_CHUNK] = (probs.to(weight.dtype) @ weight).to(hidden.dtype)
        ctx.save_for_backward(grad)
        return loss

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (grad,) = ctx.saved_tensors
        return grad * grad_output.to(grad.dtype), None, None, None


def head_cross_entropy(hidden: torch.Tensor, head: nn.Linear, targets: torch.Tensor) -> torch.Tensor:
    """``F.cross_entropy(head(hidden), targets, reduction="sum")`` in fp32, for a frozen ``head`` (no
    gradient to it), without holding the ``[N, vocab]`` logits (:class:`_HeadCrossEntropy`)."""
    bias = getattr(head, "bias", None)
    if head.weight.requires_grad or (bias is not None and bias.requires_grad):
        raise ConfigError("the LLM's output head must stay frozen (it would get no gradient)")
    return _HeadCrossEntropy.apply(hidden, head.weight, bias, targets)


def length_groups(lengths: list[int], cost: int = GROUP_COST) -> list[list[int]]:
    """Split a batch into micro-batches of similar length: indices of ``lengths``, grouped.

    A batch is padded to its longest row, so a batch mixing short and long prompts (one window vs two)
    computes many padding positions. The rows, sorted by length, are cut into runs that minimise the
    positions computed (each run as wide as its longest row) plus ``cost`` per run. Deterministic: the
    same lengths always give the same groups; the loss and gradients are those of the whole batch, up to
    floating-point summation order.
    """
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    n = len(order)
    best = [0.0] + [math.inf] * n  # best[j]: cheapest split of the j shortest rows
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        width = lengths[order[j - 1]]  # the longest of rows i..j-1
        for i in range(j):
            c = best[i] + width * (j - i) + cost
            if c < best[j]:
                best[j], cut[j] = c, i
    groups: list[list[int]] = []
    j = n
    while j > 0:
        groups.append(order[cut[j] : j])
        j = cut[j]
    return groups[::-1]


def _cut_prefix(embeds: torch.Tensor, mask: torch.Tensor, p: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A left-padded batch whose rows all start with the same ``p`` tokens, without them:
    ``(embeds [B, T - p, H], mask [B, T])``, the mask's first ``p`` columns standing for the prefix."""
    starts = (mask == 0).sum(-1).tolist()  # each row's padding
    rest = torch.stack([torch.cat([e[:a], e[a + p :]]) for e, a in zip(embeds, starts, strict=True)])
    rest_mask = torch.stack([torch.cat([m[:a], m[a + p :]]) for m, a in zip(mask, starts, strict=True)])
    return rest, torch.cat([rest_mask.new_ones((len(mask), p)), rest_mask], dim=-1)


def _read_meta(folder: Path) -> dict[str, Any]:
    path = folder / META
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}  # a bare adapter checkpoint (save_adapter): no LoRA, default prompt format
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"checkpoint file {path} is malformed ({exc})") from None
