"""The soft-prompt engine on the tiny random LLM: inputs, padding, generation, training, checkpoints."""

from __future__ import annotations

import pytest
import torch

from recbench.adapters.linear import LinearAdapter
from recbench.adapters.per_position import PerPositionAdapter
from recbench.errors import ConfigError, RecbenchError
from recbench.interpreters import decode
from recbench.interpreters.soft_prompt import PromptExample, SoftPromptModel, train_width
from recbench.llms import load_llm

from .conftest import REC_DIM, TITLES, WINDOW, make_examples


def engine(llm, adapter_cls=PerPositionAdapter, seed: int = 0, **kwargs) -> SoftPromptModel:
    torch.manual_seed(seed)
    return SoftPromptModel(llm, adapter_cls(REC_DIM, llm.hidden_size, WINDOW), **kwargs)


def memorisation_set() -> list[PromptExample]:
    # the soft tokens end the prompt, so even a random frozen LLM can be steered by them
    g = torch.Generator().manual_seed(1)
    return [PromptExample("Seen: <rec_emb>", [torch.randn(WINDOW, REC_DIM, generator=g)], t) for t in TITLES]


def test_labels_mask_prompt_soft_and_padding(tiny_llm):
    model = engine(tiny_llm)
    examples = make_examples(3)
    examples[1].prompt = "A <rec_emb> and B <rec_emb>!"
    examples[1].latents.append(torch.randn(WINDOW, REC_DIM))
    embeds, mask, labels = model.build_inputs(examples, with_targets=True)
    assert embeds.shape[:2] == mask.shape == labels.shape
    tok = tiny_llm.tokenizer
    for b, ex in enumerate(examples):
        n_target = len(tok(ex.target, add_special_tokens=False).input_ids) + 1  # + eos
        n_soft = WINDOW * ex.prompt.count("<rec_emb>")
        n_real = int(mask[b].sum())
        assert int((labels[b] != -100).sum()) == n_target
        assert labels[b, n_real - 1] == tok.eos_token_id
        assert mask[b, :n_real].all() and not mask[b, n_real:].any()  # right padding
        assert (labels[b, n_real:] == -100).all() and (labels[b, : n_real - n_target] == -100).all()
        assert n_real - n_target > n_soft  # soft tokens sit inside the masked prompt part
    assert mask.shape[1] == train_width(int(mask.sum(1).max()))  # the longest row, rounded up to a width step


def test_soft_tokens_are_spliced_in_place(tiny_llm):
    model = engine(tiny_llm)
    ex = make_examples(1, prompt="<rec_emb> then text")[0]
    embeds, _, _ = model.build_inputs([ex], with_targets=False)
    soft = model.adapter(ex.latents[0].unsqueeze(0))[0]
    pieces = model._pieces(ex.prompt)
    start = len(pieces[0])
    assert torch.equal(embeds[0, start : start + WINDOW], soft)
    after = model.embed(torch.tensor(pieces[1]))
    assert torch.equal(embeds[0, start + WINDOW :], after)


def test_generation_inputs_are_left_padded(tiny_llm):
    model = engine(tiny_llm)
    embeds, mask, labels = model.build_inputs(make_examples(3), with_targets=False)
    assert labels is None
    lengths = mask.sum(1)
    assert lengths.tolist() == sorted(lengths.tolist()) and lengths[0] < lengths[-1]
    for row, n in zip(mask, lengths.tolist(), strict=True):
        assert row[-n:].all() and not row[:-n].any()


def test_batched_generation_equals_one_at_a_time(tiny_llm):
    model = engine(tiny_llm)
    examples = make_examples(4)
    examples[2].prompt = "<rec_emb>"
    batched = model.generate(examples, max_new_tokens=6, batch_size=3)
    single = [model.generate([ex], max_new_tokens=6)[0] for ex in examples]
    assert batched == single
    assert all(batched) and len(set(batched)) > 1
    assert model.generate(examples, max_new_tokens=6, batch_size=3) == batched  # deterministic


def test_stop_strings_cut_and_stop_early(tiny_llm, monkeypatch):
    model = engine(tiny_llm)
    examples = make_examples(2)
    full = model.generate(examples, max_new_tokens=8)
    stops = [text.split()[1] for text in full]  # a word each row writes after its first one
    cut = model.generate(examples, max_new_tokens=8, stop=stops)
    for text, short in zip(full, cut, strict=True):
        assert short == min((text.split(s)[0] for s in stops), key=len).strip()
        assert len(short) < len(text)
    lengths: list[int] = []
    real_decode = decode.greedy_decode

    def counting(*args, **kwargs):
        rows = real_decode(*args, **kwargs)
        lengths.extend(map(len, rows))
        return rows

    monkeypatch.setattr(decode, "greedy_decode", counting)
    model.generate(examples, max_new_tokens=8, stop=[c for t in full for c in t[:2]])
    assert lengths and max(lengths) < 8  # every row hit a stop string: generation ended early


def _hf_generate(model: SoftPromptModel, examples, max_new_tokens: int, stop: list[str]) -> list[list[int]]:
    """Hugging Face greedy ``generate`` on the same inputs, stopped by end ids and stop strings per row."""
    from transformers import GenerationConfig, StoppingCriteriaList

    def stopped(ids) -> bool:
        return any(s in model.tokenizer.decode(ids, skip_special_tokens=True) for s in stop)

    def criterion(input_ids, scores, **kwargs):  # with inputs_embeds, input_ids holds the new tokens only
        return torch.tensor([stopped(row) for row in input_ids], dtype=torch.bool)

    embeds, mask, _ = model.build_inputs(examples, with_targets=False)
    cfg = GenerationConfig(
        max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=model.eos_ids, pad_token_id=model.pad_id
    )
    new = model.lm.generate(
        inputs_embeds=embeds,
        attention_mask=mask,
        generation_config=cfg,
        stopping_criteria=StoppingCriteriaList([criterion]),
    )
    rows = []
    for row in new.tolist():  # cut where the row finished (HF pads finished rows until all are done)
        end = next(
            (j + 1 for j in range(len(row)) if row[j] in model.eos_ids or stopped(row[: j + 1])), len(row)
        )
        rows.append(row[:end])
    return rows


def test_decoding_matches_hf_generate_as_rows_finish(tiny_llm):
    """Rows leave the batch at different steps (end id, stop string, budget): same tokens as generate."""
    model = engine(tiny_llm)
    examples = make_examples(6)
    free = _hf_generate(model, examples, 12, [])
    # one row's 4th token becomes an extra end id, another row's 7th token text a stop string
    model.eos_ids = sorted({*model.eos_ids, free[1][3]})
    stop = [model.tokenizer.decode(free[3][6:7]).strip()]
    expected = _hf_generate(model, examples, 12, stop)
    ends = {
        "eos": sum(row[-1] in model.eos_ids for row in expected),
        "stop": sum(row[-1] not in model.eos_ids and len(row) < 12 for row in expected),
        "budget": sum(len(row) == 12 for row in expected),
    }
    assert all(ends.values()) and len({len(row) for row in expected}) >= 3, (ends, expected)

    embeds, mask, _ = model.build_inputs(examples, with_targets=False)
    rows = decode.greedy_decode(
        model.lm,
        embeds,
        mask,
        max_new_tokens=12,
        eos_ids=model.eos_ids,
        finished=lambda ids: stop[0] in model.tokenizer.decode(ids, skip_special_tokens=True),
    )
    assert rows == expected
    texts = [model._finish(row, stop) for row in expected]
    for batch_size in (1, 3, len(examples)):
        assert model.generate(examples, max_new_tokens=12, stop=stop, batch_size=batch_size) == texts
    assert decode.greedy_decode(model.lm, embeds, mask, max_new_tokens=0, eos_ids=model.eos_ids) == [[]] * 6


class _OlderForward(torch.nn.Module):
    """A causal LM whose forward takes the KV cache as ``past_key_values`` (transformers before 5.2x)."""

    def __init__(self, lm) -> None:
        super().__init__()
        self.lm, self.config = lm, lm.config

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, use_cache=None, logits_to_keep=0):  # fmt: skip
        return self.lm(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, cache=past_key_values,
            inputs_embeds=inputs_embeds, use_cache=use_cache, logits_to_keep=logits_to_keep,
        )  # fmt: skip


def test_decoding_passes_the_cache_under_the_models_own_argument_name(tiny_llm):
    model = engine(tiny_llm)
    embeds, mask, _ = model.build_inputs(make_examples(4), with_targets=False)
    older = _OlderForward(model.lm)
    assert decode.cache_argument(model.lm) == "cache"
    assert decode.cache_argument(older) == "past_key_values"
    # without its cache a step would see only its own token: the outputs would differ
    expected = decode.greedy_decode(model.lm, embeds, mask, max_new_tokens=8, eos_ids=[])
    assert decode.greedy_decode(older, embeds, mask, max_new_tokens=8, eos_ids=[]) == expected


def test_training_memorises_a_tiny_set(tiny_llm):
    model = engine(tiny_llm, LinearAdapter, chat_template=False)
    train = memorisation_set()
    before = model.evaluate(train)
    calls = []
    history = model.fit(
        train,
        train,
        steps=30,
        batch_size=8,
        lr=3e-2,
        weight_decay=0.0,
        seed=0,
        progress=lambda *a: calls.append(a),
    )
    assert len(history["train_loss"]) == history["steps"] == 30 and len(calls) == 30
    assert calls[-1][:2] == (30, 30)
    assert history["valid_loss"] < before - 0.2
    assert sum(history["train_loss"][-5:]) / 5 < history["train_loss"][0] - 0.2
    out = model.generate(train, max_new_tokens=4)
    first_tokens = [tiny_llm.tokenizer.decode(tiny_llm.tokenizer(t).input_ids[:1]) for t in TITLES]
    hits = sum(o.startswith(f) for o, f in zip(out, first_tokens, strict=True))
    assert hits >= 4, list(zip(out, TITLES, strict=True))


def test_same_seed_same_weights(tiny_llm):
    states = []
    for seed in (0, 0, 1):
        model = engine(tiny_llm)
        model.fit(make_examples(6), None, steps=3, batch_size=2, lr=1e-2, weight_decay=0.01, seed=seed)
        states.append(model.adapter_state())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert not all(torch.equal(states[0][k], states[2][k]) for k in states[0])


def test_input_errors(tiny_llm):
    model = engine(tiny_llm)
    ex = make_examples(1)[0]
    with pytest.raises(ConfigError, match="no <rec_emb> placeholder: 'Tell me"):
        model.build_inputs([PromptExample("Tell me a story", [])], with_targets=False)
    with pytest.raises(ConfigError, match="has 1 <rec_emb> but 2 latents"):
        model.build_inputs([PromptExample(ex.prompt, ex.latents * 2)], with_targets=False)
    bad = ex.latents[0].clone()
    bad[1, 2] = float("nan")
    with pytest.raises(RecbenchError, match="latents contain NaN"):
        model.generate([PromptExample(ex.prompt, [bad])], max_new_tokens=2)
    with pytest.raises(ConfigError, match="adapter rec_dim"):
        model.build_inputs([PromptExample(ex.prompt, [torch.zeros(WINDOW, REC_DIM + 1)])], with_targets=False)
    with pytest.raises(ConfigError, match="no target"):
        no_target = [PromptExample(ex.prompt, ex.latents)]
        model.fit(no_target, None, steps=1, batch_size=1, lr=1e-3, weight_decay=0, seed=0)
    with pytest.raises(ConfigError, match="embeds in 64"):
        SoftPromptModel(tiny_llm, LinearAdapter(REC_DIM, 65, WINDOW))


def test_save_load_round_trip(tiny_llm, tmp_path):
    model = engine(tiny_llm)
    model.fit(make_examples(4), None, steps=2, batch_size=2, lr=1e-2, weight_decay=0.0, seed=0)
    model.save(tmp_path)
    examples = make_examples(2, seed=5)
    again = SoftPromptModel.from_checkpoint(tiny_llm, tmp_path)
    assert again.generate(examples, max_new_tokens=5) == model.generate(examples, max_new_tokens=5)
    fresh = engine(tiny_llm, seed=9)
    fresh.load(tmp_path)
    state, loaded = model.adapter_state(), fresh.adapter_state()
    assert all(torch.equal(state[k], loaded[k]) for k in state)


def test_lora_adds_trainable_params_and_trains(tmp_path):
    llm = load_llm("tiny-random", device="cpu")  # LoRA is injected in place: own copy
    n_adapter = sum(p.numel() for p in engine(llm).trainable_parameters())
    model = engine(llm, lora={"r": 4, "alpha": 8})
    n_total = sum(p.numel() for p in model.trainable_parameters())
    assert n_total == n_adapter + 2 * 4 * (64 + 64 + 64 + 32)  # 2 layers x r x (q, v: in + out)
    model_B = {k: v for k, v in model.adapter_state().items() if "lora_B" in k}
    assert model_B and all(not v.any() for v in model_B.values())  # LoRA B starts at zero
    history = model.fit(make_examples(4), None, steps=4, batch_size=4, lr=3e-2, weight_decay=0.0, seed=0)
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert any(v.any() for k, v in model.adapter_state().items() if "lora_B" in k)
    model.save(tmp_path)
    assert (tmp_path / "lora.safetensors").is_file()
    examples = make_examples(2, seed=3)
    expected = model.generate(examples, max_new_tokens=4)
    again = SoftPromptModel.from_checkpoint(load_llm("tiny-random", device="cpu"), tmp_path)
    assert again.lora_config == model.lora_config
    assert again.generate(examples, max_new_tokens=4) == expected
    with pytest.raises(ConfigError, match="already carries LoRA"):
        engine(llm, lora={"r": 4})
