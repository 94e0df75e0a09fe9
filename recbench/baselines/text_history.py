"""Text history: the LLM reads the window's titles as plain text, zero-shot: can it write the answer at all?

No latent and no training. Each task's own prompt is kept and every ``<rec_emb>`` slot is replaced
by the titles of the sequence that slot would have encoded, comma separated; a slot without a label
of its own gets "The user watched ". So the four tasks read::

    seq_recovery   The user watched T1, T2, T3, T4, T5\nThis user has watched
    residual_id    Before: T1, T2, T3, T4\nAfter: T1, T2, T3, T4, T5\nThe user then watched
    description    The user watched T1, …, T5\nIn short, this user likes
    next_item      The user watched T1, …, T5\nNext, this user will watch

The LLM (``--llm``, smollm2-135m by default) continues greedily, in batches with left padding, up to
the task's ``max_new_tokens``; the text is cut at the first stop string and stripped, as for the
``llm`` interpreter. The gap between this row and an ``llm`` row says how much of the task is
reading the vector and how much is writing the answer.
"""

from __future__ import annotations

import torch

from recbench.interpreters.base import Interpreter
from recbench.interpreters.decode import answer_text
from recbench.llms import load_llm

SLOT = "<rec_emb>"
NO_LABEL = "The user watched "  # no colon: after "watched: …\n" SmolLM2 answers ":" and stops
PROMPT_FORMAT = 2  # bump when history_prompt changes: it is part of the identity (and cache keys)


def history_prompt(inst, data) -> str:
    """``inst``'s prompt with every latent slot replaced by the titles of the sequence it encodes."""
    pieces = inst.prompt.split(SLOT)
    text = pieces[0]
    for source, after in zip(inst.sources, pieces[1:], strict=False):
        titles = ", ".join(data.title(i) for i in inst.sequence(source))
        if not text.strip() or text.endswith("\n"):
            text += NO_LABEL
        elif not text.endswith(" "):
            text += " "
        text += titles + after
    return text


class TextHistory(Interpreter):
    """The LLM reads the window's titles as plain text, zero-shot (no latent): can it write the answer?"""

    name = "text_history"
    kind = "baseline"
    trainable = False
    uses_latents = False

    def __init__(self, llm: str = "smollm2-135m", gen_batch_size: int = 16):
        self.llm_name = llm
        self.gen_batch_size = gen_batch_size
        self.llm = None

    @classmethod
    def from_config(cls, cfg) -> TextHistory:
        return cls(llm=cfg.llm, gen_batch_size=cfg.gen_batch_size)

    def setup(self, ctx) -> None:
        super().setup(ctx)
        self.llm = load_llm(self.llm_name, ctx.device)
        self.tokenizer = self.llm.tokenizer
        self.tokenizer.padding_side = "left"
        gen_eos = self.llm.model.generation_config.eos_token_id
        gen_eos = gen_eos if isinstance(gen_eos, list) else [gen_eos]
        self.eos_ids = sorted({self.tokenizer.eos_token_id, *gen_eos} - {None})
        self.pad_id = (
            self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.eos_ids[0]
        )

    def identity(self) -> dict:
        llm = self.llm.identity if self.llm is not None else self.llm_name
        return {"name": self.name, "llm": llm, "prompt_format": PROMPT_FORMAT, "greedy": True}

    def describe(self) -> dict:
        return {**super().describe(), "label": f"{self.name} ({self.llm_name})", "llm": self.llm_name}

    def generate(self, instances, *, max_new_tokens, stop, progress=None) -> list[str]:
        from transformers import GenerationConfig, StoppingCriteriaList

        stop = [s for s in stop if s]
        prompts = [history_prompt(inst, self.ctx.data) for inst in instances]
        lengths = [len(self.tokenizer(p)["input_ids"]) for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: (-lengths[i], i))  # similar lengths batch together
        cfg = GenerationConfig(
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=self.eos_ids,
            pad_token_id=self.pad_id,
        )
        out = [""] * len(prompts)
        with torch.inference_mode():
            for s in range(0, len(order), self.gen_batch_size):
                idx = order[s : s + self.gen_batch_size]
                batch = self.tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True)
                batch = {k: v.to(self.llm.device) for k, v in batch.items()}
                width = batch["input_ids"].shape[1]
                criteria = StoppingCriteriaList([StopStrings(self.tokenizer, stop, width)] if stop else [])
                new = self.llm.model.generate(**batch, generation_config=cfg, stopping_criteria=criteria)
                for i, row in zip(idx, new[:, width:].tolist(), strict=True):
                    out[i] = self._finish(row, stop)
                if progress is not None:
                    progress(min(s + self.gen_batch_size, len(order)), len(order), None)
        return out

    def _finish(self, row: list[int], stop: list[str]) -> str:
        return answer_text(self.tokenizer, row, self.eos_ids, stop)


class StopStrings:
    """Stopping criterion: a row is done once the text it generated contains a stop string."""

    def __init__(self, tokenizer, stops: list[str], prompt_width: int) -> None:
        self.tokenizer, self.stops, self.width = tokenizer, stops, prompt_width

    def __call__(self, input_ids: torch.Tensor, scores, **kwargs) -> torch.Tensor:
        done = [
            any(s in self.tokenizer.decode(row[self.width :], skip_special_tokens=False) for s in self.stops)
            for row in input_ids
        ]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)
