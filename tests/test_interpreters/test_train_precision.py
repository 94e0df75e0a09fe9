"""train_precision: the reused prompt prefix and bf16 training (tiny random LLM), and the setting's identity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from recbench.adapters.per_position import PerPositionAdapter
from recbench.errors import ConfigError, RecbenchError
from recbench.interpreters.llm import LLMInterpreter
from recbench.interpreters.soft_prompt import PromptExample, SoftPromptModel
from recbench.run.spec import RunSpec

from .conftest import REC_DIM, TITLES, WINDOW

SUBMISSIONS = Path(__file__).resolve().parents[2] / "leaderboard" / "submissions"


def engine(llm, train_precision=None, seed: int = 0) -> SoftPromptModel:
    torch.manual_seed(seed)
    adapter = PerPositionAdapter(REC_DIM, llm.hidden_size, WINDOW)
    return SoftPromptModel(llm, adapter, train_precision=train_precision)


def examples(n: int = 6, seed: int = 0) -> list[PromptExample]:
    """Prompts that share a text prefix and then differ (the prefix is what is computed once)."""
    g = torch.Generator().manual_seed(seed)
    prompts = ["Seen so far: <rec_emb>. Next?", "Seen so far: <rec_emb>. Taste?", "Seen so far: <rec_emb>"]
    return [
        PromptExample(prompts[i % 3], [torch.randn(WINDOW, REC_DIM, generator=g)], TITLES[i % 8])
        for i in range(n)
    ]


def test_shared_prefix_is_the_common_text_before_the_first_soft_token(tiny_llm):
    model = engine(tiny_llm, "fp32")
    batch = examples()
    prefix = model._shared_prefix(batch)
    first = model._pieces(batch[0].prompt)[0]
    assert prefix and prefix == first[: len(prefix)]
    other = PromptExample("Other text <rec_emb>", batch[0].latents, "x")
    assert len(model._shared_prefix([*batch, other])) < len(prefix)


def test_reused_prefix_gives_the_same_loss_and_gradients(tiny_llm):
    whole, reused = engine(tiny_llm), engine(tiny_llm, "fp32")
    assert not whole.reuse_prefix and reused.reuse_prefix
    batch = examples()
    a, n_a = whole._loss_sum(batch)
    b, n_b = reused._loss_sum(batch)
    assert n_a == n_b
    assert abs(a.item() - b.item()) <= 1e-5 * abs(a.item())
    a.backward()
    b.backward()
    for p, q in zip(whole.adapter.parameters(), reused.adapter.parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad, rtol=1e-4, atol=1e-6)


def test_reused_prefix_generates_the_same_text(tiny_llm):
    whole, reused = engine(tiny_llm), engine(tiny_llm, "bf16")  # generation stays fp32 with bf16 training
    batch = [PromptExample(ex.prompt, ex.latents) for ex in examples(9)]
    expected = whole.generate(batch, max_new_tokens=6)
    assert reused.generate(batch, max_new_tokens=6) == expected
    assert reused.generate(batch, max_new_tokens=6, batch_size=2) == expected  # batch-independent
    assert [reused.generate([ex], max_new_tokens=6)[0] for ex in batch[:3]] == expected[:3]


def test_bf16_training_is_deterministic_and_restores_attention(tiny_llm):
    batch = examples(8)
    attention = tiny_llm.model.config._attn_implementation
    runs = []
    for precision in ("bf16", "bf16", "fp32"):
        model = engine(tiny_llm, precision)
        history = model.fit(batch, None, steps=4, batch_size=4, lr=1e-2, weight_decay=0.0, seed=0)
        runs.append(history["train_loss"])
        assert tiny_llm.model.config._attn_implementation == attention  # generation's attention is back
    assert runs[0] == runs[1]  # same seed, same numbers
    assert runs[0] != runs[2]  # bf16 arithmetic really ran
    assert all(abs(a - b) < 0.1 * abs(b) for a, b in zip(runs[0], runs[2], strict=True))


def test_bf16_holds_the_frozen_weights_in_bf16_and_puts_fp32_back_bit_for_bit(tiny_llm):
    model = engine(tiny_llm, "bf16")
    batch = examples(4)
    before = {n: p.detach().clone() for n, p in tiny_llm.model.named_parameters()}
    fp32_loss = engine(tiny_llm, "fp32").evaluate(batch)
    seen: list[torch.dtype] = []
    hook = tiny_llm.model.get_output_embeddings().register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    try:
        with model._train_arithmetic():
            assert {p.dtype for p in tiny_llm.model.parameters()} == {torch.bfloat16}
            assert all(p.dtype == torch.float32 for p in model.adapter.parameters())  # trained: fp32
            assert tiny_llm.model.config._attn_implementation == "eager"
            with model._train_arithmetic():  # re-entrant: the inner block changes nothing
                pass
            assert {p.dtype for p in tiny_llm.model.parameters()} == {torch.bfloat16}
        assert model.evaluate(batch) != fp32_loss  # the valid loss too
        assert seen and set(seen) == {torch.bfloat16}
        model.fit(batch, None, steps=2, batch_size=4, lr=1e-2, weight_decay=0.0, seed=0)
        assert torch.bfloat16 in seen
    finally:
        hook.remove()
    for n, p in tiny_llm.model.named_parameters():  # generation is fp32, with the very same weights
        assert p.dtype == torch.float32 and torch.equal(p, before[n]), n


def test_bf16_training_puts_the_weights_back_when_a_step_fails(tiny_llm):
    model = engine(tiny_llm, "bf16")
    bad = [PromptExample("Seen so far: <rec_emb>", [torch.full((WINDOW, REC_DIM), 1e30)], "x")] * 2
    model.adapter.register_forward_hook(lambda m, i, o: o * float("nan"))
    with pytest.raises(RecbenchError, match="diverged"):
        model.fit(bad, None, steps=2, batch_size=2, lr=1e-2, weight_decay=0.0, seed=0)
    assert {p.dtype for p in tiny_llm.model.parameters()} == {torch.float32}
    assert model._bf16_originals is None


def test_spec_defaults_and_old_configs():
    llm = RunSpec.resolve("fast")
    assert llm.train_precision == "bf16"
    assert RunSpec.resolve("fast", train_precision="fp32").run_id() != llm.run_id()
    assert RunSpec.resolve("fast", interpreter="popular").train_precision is None  # no LLM trains
    for results in sorted(SUBMISSIONS.glob("*/*/results.json")):  # some recorded before the setting existed
        claimed = json.loads(results.read_text())
        spec = RunSpec.from_dict(claimed["config"])
        if "train_precision" not in claimed["config"]:
            assert spec.train_precision is None
        assert spec.run_id() == claimed["run_id"]
    with pytest.raises(ConfigError, match="train-precision must be fp32 or bf16"):
        RunSpec.resolve("fast", train_precision="fp16")
    with pytest.raises(ConfigError, match="train_precision must be str"):
        RunSpec.from_dict({**llm.to_dict(), "train_precision": 16})


def test_identity_names_the_setting_only_when_set():
    assert "train_precision" not in LLMInterpreter(train_precision=None).identity()
    assert LLMInterpreter(train_precision="bf16").identity()["train_precision"] == "bf16"
    assert LLMInterpreter.from_config(RunSpec.resolve("fast")).train_precision == "bf16"


def test_lora_generation_reuses_the_prefix_and_drops_it_when_the_weights_change(tmp_path):
    from recbench.llms import load_llm

    lora = {"r": 4, "alpha": 8}
    torch.manual_seed(0)
    model = SoftPromptModel(
        load_llm("tiny-random", device="cpu"),  # LoRA is injected in place: own copies
        PerPositionAdapter(REC_DIM, 64, WINDOW),
        lora=lora,
        train_precision="fp32",
    )
    batch = examples(8)
    prompts = [PromptExample(ex.prompt, ex.latents) for ex in batch]

    def settings_from(folder) -> SoftPromptModel:  # the same weights, generating over the whole prompt
        return SoftPromptModel.from_checkpoint(load_llm("tiny-random", device="cpu"), folder)

    model.fit(batch, None, steps=2, batch_size=4, lr=3e-2, weight_decay=0.0, seed=0)
    assert not model._prefix_kv  # training with LoRA recomputes the prefix (its weights change every step)
    first = model.generate(prompts, max_new_tokens=6)
    assert model._prefix_kv  # generation reused it
    model.save(tmp_path / "a")
    whole = settings_from(tmp_path / "a")
    assert not whole.reuse_prefix
    assert whole.generate(prompts, max_new_tokens=6) == first
    assert [model.generate([p], max_new_tokens=6)[0] for p in prompts[:3]] == first[:3]  # alone as in a batch

    # more training changes the LoRA weights: the prefix computed before must not be read again
    model.fit(batch, None, steps=3, batch_size=4, lr=3e-1, weight_decay=0.0, seed=1)
    model.save(tmp_path / "b")
    again = model.generate(prompts, max_new_tokens=6)
    assert again == settings_from(tmp_path / "b").generate(prompts, max_new_tokens=6)
    assert again != first  # the check above could not pass by chance with unchanged weights
    # and loading other weights drops it too
    model.load(tmp_path / "a")
    assert model.generate(prompts, max_new_tokens=6) == first


def test_length_groups_cover_the_batch_once_and_cut_padding():
    from recbench.interpreters.soft_prompt import length_groups

    lengths = [150, 152, 240, 158, 129, 233, 160, 161, 140, 150, 151, 240, 130, 131, 158, 159]
    groups = length_groups(lengths, cost=64)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    assert len(groups) > 1
    computed = sum(max(lengths[i] for i in g) * len(g) for g in groups)
    assert computed < 0.85 * max(lengths) * len(lengths)  # the two-window rows no longer pad the rest
    assert length_groups(lengths, cost=64) == groups  # deterministic
    assert length_groups([100] * 16, cost=64) == [list(range(16))]  # nothing to gain: one pass
    assert length_groups(lengths, cost=10**9) == [sorted(range(16), key=lambda i: (lengths[i], i))]
    assert length_groups([]) == []


def test_grouped_step_gives_the_whole_batch_loss_and_gradients(tiny_llm):
    from recbench.interpreters.soft_prompt import length_groups

    whole, grouped = engine(tiny_llm), engine(tiny_llm)
    g = torch.Generator().manual_seed(1)
    batch = [  # one and two windows: rows of very different length
        PromptExample("Seen: <rec_emb>. Next?", [torch.randn(WINDOW, REC_DIM, generator=g)], TITLES[i])
        for i in range(4)
    ] + [
        PromptExample(
            "Before: <rec_emb> After: <rec_emb>", [torch.randn(WINDOW, REC_DIM, generator=g)] * 2, "x"
        )
        for _ in range(3)
    ]
    lengths = [grouped._row_length(ex) for ex in batch]
    assert lengths == [int(grouped.build_inputs([ex], True)[1].sum()) for ex in batch]
    assert [grouped._target_count(ex) for ex in batch] == [
        int((grouped.build_inputs([ex], True)[2] != -100).sum()) for ex in batch
    ]
    groups = length_groups(lengths, cost=0)
    assert len(groups) > 1
    a, n = whole._loss_sum(batch)
    (a / n).backward()
    total = sum(grouped._target_count(ex) for ex in batch)
    assert total == n
    parts = 0.0
    for group in groups:
        part = grouped._loss_sum([batch[j] for j in group])[0] / total
        part.backward()
        parts += part.item()
    assert abs(parts - (a / n).item()) <= 1e-5 * abs(parts)
    for p, q in zip(whole.adapter.parameters(), grouped.adapter.parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("with_bias", [False, True])
def test_head_cross_entropy_is_cross_entropy_without_the_whole_logits(dtype, with_bias):
    import torch.nn.functional as F

    from recbench.interpreters.soft_prompt import HEAD_CHUNK, head_cross_entropy

    g = torch.Generator().manual_seed(0)
    head = torch.nn.Linear(32, 500, bias=with_bias).to(dtype).requires_grad_(False)
    n = HEAD_CHUNK * 2 + 7  # several chunks, the last one short
    hidden = torch.randn(n, 32, generator=g).to(dtype).requires_grad_(True)
    targets = torch.randint(0, 500, (n,), generator=g)
    expected = F.cross_entropy(head(hidden).float(), targets, reduction="sum")
    (expected / 3).backward()
    want = hidden.grad.clone()
    hidden.grad = None
    got = head_cross_entropy(hidden, head, targets)
    (got / 3).backward()
    assert got.dtype == torch.float32
    loss_tol, tol = (1e-6, 1e-5) if dtype == torch.float32 else (2e-4, 2e-2)  # summation order differs
    assert abs(got.item() - expected.item()) <= loss_tol * abs(expected.item())
    assert torch.allclose(hidden.grad.float(), want.float(), rtol=tol, atol=tol * 1e-2)
    with torch.no_grad():  # the valid loss: same value, no gradient computed
        assert head_cross_entropy(hidden, head, targets).item() == got.item()
    head.weight.requires_grad_(True)
    with pytest.raises(ConfigError, match="frozen"):
        head_cross_entropy(hidden, head, targets)


def test_training_widths_come_in_steps_and_leave_the_loss_alone(tiny_llm, monkeypatch):
    import recbench.interpreters.soft_prompt as sp

    model = engine(tiny_llm)
    batch = examples(5)
    widths = {len(model.build_inputs([ex], True)[1][0]) for ex in batch}
    assert all(w % sp.TRAIN_WIDTH_STEP == 0 for w in widths)
    prompts = [model._row_length(ex) - model._target_count(ex) for ex in batch]
    assert model.build_inputs(batch, False)[1].shape[1] == max(prompts)  # generation: not rounded
    stepped, n = model._loss_sum(batch)
    monkeypatch.setattr(sp, "TRAIN_WIDTH_STEP", 1)
    exact, m = model._loss_sum(batch)
    assert n == m and abs(stepped.item() - exact.item()) <= 1e-5 * abs(exact.item())
    assert sp.train_width(17) == 17


def test_decoding_appends_to_the_cache_in_place_with_the_same_text(tiny_llm, monkeypatch):
    from recbench.interpreters import decode

    model = engine(tiny_llm, "fp32")  # the reused prefix too: its cache is converted as well
    batch = [PromptExample(ex.prompt, ex.latents) for ex in examples(9)]
    layers: list[str] = []
    real = decode._grow_in_place

    def spy(cache, reserve):
        real(cache, reserve)
        layers.extend(type(layer).__name__ for layer in cache.layers)

    monkeypatch.setattr(decode, "_grow_in_place", spy)
    grown = model.generate(batch, max_new_tokens=8, stop=["e"])  # rows leave the batch at different steps
    assert layers and set(layers) == {"GrowingLayer"}
    monkeypatch.setattr(decode, "_grow_in_place", lambda cache, reserve: None)  # torch.cat, as before
    assert model.generate(batch, max_new_tokens=8, stop=["e"]) == grown
    assert engine(tiny_llm).generate(batch, max_new_tokens=8, stop=["e"]) == grown  # whole prompt, no prefix
