"""Greedy decoding with a KV cache, dropping each row from the batch as soon as it is finished.

Hugging Face ``generate`` keeps a finished row in the batch (feeding it padding) until every row is
done, so one long answer makes the whole batch pay for its length. Here a row that emits an end id, or
that ``finished`` says is done (a stop string in its text), leaves the batch: its row of the attention
mask, the position ids and the KV cache is dropped, and later steps compute only the live rows.

The arithmetic is otherwise the same as greedy ``generate``: a prefill over the left-padded
``inputs_embeds`` with position ids counted from each row's first real token, then one token per step,
the argmax of the last position's logits. Outputs match it token for token.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import torch


def base_model(lm: Any) -> Any:
    """The transformers model itself: a peft-wrapped one's base model (its LoRA layers inside), else ``lm``."""
    return lm.get_base_model() if hasattr(lm, "get_base_model") else lm


def cache_argument(lm: Any) -> str:
    """The forward argument that takes the KV cache: ``cache`` in transformers 5.24 (what recbench is
    tested with), ``past_key_values`` in earlier releases such as the 5.17 of the lent GPU machines'
    image, where ``bench/gpu.py`` runs. A peft-wrapped model is asked through its base model."""
    return "cache" if "cache" in inspect.signature(base_model(lm).forward).parameters else "past_key_values"


@torch.inference_mode()
def greedy_decode(
    lm: Any,
    embeds: torch.Tensor,
    mask: torch.Tensor,
    *,
    max_new_tokens: int,
    eos_ids: list[int],
    finished: Callable[[list[int]], bool] | None = None,
    prefix: Any = None,
) -> list[list[int]]:
    """New token ids for each row of a left-padded batch ``embeds [B, T, H]`` with ``mask [B, T]``.

    A row ends with the first id in ``eos_ids`` (kept), the first token after which ``finished(ids)``
    holds (kept), or after ``max_new_tokens`` tokens. ``prefix``, a KV cache of ``P`` tokens every row
    begins with, is read before ``embeds``; then ``mask`` is ``[B, P + T]`` (the prefix's columns ones).
    """
    from transformers import DynamicCache

    out: list[list[int]] = [[] for _ in range(embeds.shape[0])]
    if max_new_tokens <= 0 or not out:
        return out
    eos = set(eos_ids)
    live = list(range(len(out)))  # the input row each batch row belongs to
    cache = prefix if prefix is not None else DynamicCache(config=lm.config)
    _grow_in_place(cache, reserve=max_new_tokens)
    cached = cache.get_seq_length()
    positions = (mask.long().cumsum(-1) - 1).clamp(min=0)  # left padding: count from the first real token
    positions = positions[:, cached:]
    step_inputs: dict[str, torch.Tensor] = {"inputs_embeds": embeds}
    cache_kw = cache_argument(lm)
    for step in range(max_new_tokens):
        logits = lm(
            **step_inputs,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **{cache_kw: cache},
        ).logits
        tokens = logits[:, -1].argmax(-1)
        keep: list[int] = []
        for j, (row, token) in enumerate(zip(live, tokens.tolist(), strict=True)):
            out[row].append(token)
            if token not in eos and not (finished is not None and finished(out[row])):
                keep.append(j)
        if not keep or step == max_new_tokens - 1:
            break
        if len(keep) < len(live):  # drop the finished rows everywhere the batch dimension lives
            index = torch.tensor(keep, device=tokens.device)
            cache.batch_select_indices(index)
            mask, positions, tokens = mask[index], positions[index], tokens[index]
            live = [live[j] for j in keep]
        mask = torch.cat([mask, mask.new_ones((len(live), 1))], dim=-1)
        positions = positions[:, -1:] + 1
        step_inputs = {"input_ids": tokens[:, None]}
    return out


def answer_text(tokenizer, row: list[int], eos_ids: list[int], stop: list[str]) -> str:
    """The answer a generated row of ids spells: cut at the first end id, decoded, cut at the first stop string."""
    row = row[: next((j for j, t in enumerate(row) if t in eos_ids), len(row))]  # eos, then padding
    text = tokenizer.decode(row, skip_special_tokens=True)
    for s in stop:
        text = text.split(s, 1)[0]
    return text.strip()


def _grow_in_place(cache: Any, reserve: int) -> None:
    """Let ``cache``'s plain layers append in place (:func:`_growing_layer`): with ``torch.cat`` every
    decoding step copies the whole cache of every layer (a quarter of generation's time on CPU). Layers of
    other kinds, and transformers releases without ``DynamicLayer``, are left as they are."""
    try:
        from transformers.cache_utils import DynamicLayer
    except ImportError:
        return
    layers = getattr(cache, "layers", None)
    if not isinstance(layers, list):
        return
    grow = _growing_layer(DynamicLayer)
    for i, layer in enumerate(layers):
        if type(layer) is DynamicLayer:
            new = grow(reserve)
            if layer.is_initialized and layer.get_seq_length() > 0:
                new.update(layer.keys, layer.values)
            layers[i] = new


@functools.cache  # one class per base class, not one per generated batch
def _growing_layer(base: type) -> type:
    """A ``DynamicLayer`` whose keys and values are views into buffers with room for ``reserve`` more
    positions: a new token is written in place. The views hold the same values in the same shapes, so
    attention computes exactly what it did over concatenated tensors (tested)."""

    class GrowingLayer(base):
        def __init__(self, reserve: int) -> None:
            super().__init__()
            self.reserve = reserve
            self._k: torch.Tensor | None = None
            self._v: torch.Tensor | None = None

        def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            n = self.get_seq_length()
            m = n + key_states.shape[-2]
            if self._k is None or m > self._k.shape[-2] or self._k.shape[0] != key_states.shape[0]:
                k = key_states.new_empty((*key_states.shape[:-2], m + self.reserve, key_states.shape[-1]))
                v = value_states.new_empty(
                    (*value_states.shape[:-2], m + self.reserve, value_states.shape[-1])
                )
                if n:
                    k[..., :n, :], v[..., :n, :] = self.keys, self.values
                self._k, self._v = k, v
            self._k[..., n:m, :] = key_states
            self._v[..., n:m, :] = value_states
            self.keys, self.values = self._k[..., :m, :], self._v[..., :m, :]
            return self.keys, self.values

        def batch_select_indices(self, indices: torch.Tensor) -> None:
            if self._k is not None and self.get_seq_length() > 0:
                m = self.get_seq_length()
                self._k, self._v = self._k[indices], self._v[indices]
                self.keys, self.values = self._k[..., :m, :], self._v[..., :m, :]

    return GrowingLayer
