"""Shared fixtures: the tiny random LLM (loaded once per session) and a small batch of examples."""

from __future__ import annotations

import pytest
import torch

from recbench.interpreters.soft_prompt import PromptExample
from recbench.llms import LoadedLLM, load_llm

REC_DIM = 16
WINDOW = 4
TITLES = ["Toy Story", "Heat", "Casino", "Fargo", "Babe", "Clueless", "Jumanji", "Sabrina"]


@pytest.fixture(scope="session")
def tiny_llm() -> LoadedLLM:
    """Shared and frozen: tests that add LoRA (which mutates the model) load their own copy."""
    return load_llm("tiny-random", device="cpu")


PROMPT = "Watched: <rec_emb>. What next?"


def make_examples(n: int = 4, prompt: str = PROMPT, seed: int = 0) -> list[PromptExample]:
    """``n`` examples with random windows [WINDOW, REC_DIM] and short movie-title targets."""
    g = torch.Generator().manual_seed(seed)
    return [
        PromptExample(prompt + " ok" * i, [torch.randn(WINDOW, REC_DIM, generator=g)], target=TITLES[i % 8])
        for i in range(n)
    ]
