"""Alignment warm start: title-token targets per item and an adapter that learns to hit them."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from recbench.adapters.mlp import MLPAdapter
from recbench.data.splits import Window
from recbench.interpreters.align import align_adapter, alignment_pairs, title_tokens
from recbench.tasks.instances import Instance

from .conftest import REC_DIM, TITLES, WINDOW


def _instances(n: int, sources=("window",)) -> list[Instance]:
    g = torch.Generator().manual_seed(0)
    out = []
    for w in range(n):
        items = tuple(1 + (w + j) % len(TITLES) for j in range(WINDOW))
        window = Window(user=str(w), start=0, items=items, next_item=1)
        # each item gets a fixed latent (plus noise): the alignment must recover the item from it
        lat = torch.stack(
            [torch.eye(REC_DIM)[i] * 3 + 0.05 * torch.randn(REC_DIM, generator=g) for i in items]
        )
        inst = Instance(str(w), "t", window, "<rec_emb>", "x", sources, list(items))
        inst.latents = [lat] * len(sources)
        out.append(inst)
    return out


def test_title_tokens_truncate_and_pad_with_the_comma(tiny_llm):
    tok = tiny_llm.tokenizer
    comma = tok(",", add_special_tokens=False).input_ids[-1]
    full = tok(" Toy Story", add_special_tokens=False).input_ids
    assert title_tokens(tok, "Toy Story", 1) == full[:1]
    long = title_tokens(tok, "Toy Story", len(full) + 3)
    assert long == full + [comma] * 3  # the title, its comma, then two commas of padding
    short = title_tokens(tok, "Toy Story", 2)
    assert short == full[:1] + [comma]  # a cut title still ends in its separator


def test_alignment_pairs_one_row_per_window_and_item_groups(tiny_llm):
    tok = tiny_llm.tokenizer
    insts = _instances(6) + _instances(2, sources=("window_minus_last", "window"))
    insts.append(insts[0])  # the same window twice counts once
    lat, ids = alignment_pairs(insts, tok, lambda i: TITLES[i - 1], tokens_per_item=3)
    assert lat.shape == (6, WINDOW, REC_DIM) and ids.shape == (6, WINDOW * 3)
    first = insts[0].window.items[1]
    assert ids[0, 3:6].tolist() == title_tokens(tok, TITLES[first - 1], 3)


def test_align_adapter_learns_title_tokens(tiny_llm):
    tok = tiny_llm.tokenizer
    embedding = tiny_llm.model.get_input_embeddings().weight
    lat, ids = alignment_pairs(_instances(8), tok, lambda i: TITLES[i - 1], tokens_per_item=2)
    torch.manual_seed(0)
    adapter = MLPAdapter(REC_DIM, embedding.shape[1], WINDOW, hidden=64, tokens_per_item=2)
    adapter.calibrate(embedding)

    def cosine() -> float:
        with torch.no_grad():
            return F.cosine_similarity(adapter(lat), embedding[ids], dim=-1).mean().item()

    before = cosine()
    report = align_adapter(adapter, embedding, lat, ids, steps=300, seed=0, batch_size=8)
    assert report["align_steps"] == 300
    assert cosine() > 0.9 > before + 0.5
    assert report["align_token_accuracy"] > 0.9
    # a token count that does not match the adapter is skipped, not forced
    assert align_adapter(adapter, embedding, lat, ids[:, :WINDOW], steps=5, seed=0)["align_steps"] == 0


def test_belief_group_comes_from_the_last_state_and_aligns_to_the_recommenders_top1(tiny_llm, tmp_path):
    from recbench.adapters.base import load_adapter, save_adapter

    tok = tiny_llm.tokenizer
    embedding = tiny_llm.model.get_input_embeddings().weight
    insts = _instances(8)
    for inst in insts[:6]:  # the recommender's own top-1: here the item after the window's last
        inst.rec_top1 = 1 + inst.window.items[-1] % len(TITLES)
    lat, ids = alignment_pairs(insts, tok, lambda i: TITLES[i - 1], tokens_per_item=2, belief=True)
    assert lat.shape == (6, WINDOW, REC_DIM) and ids.shape == (6, (WINDOW + 1) * 2)  # no top-1: left out
    assert ids[0, -2:].tolist() == title_tokens(tok, TITLES[insts[0].rec_top1 - 1], 2)
    assert ids[0, :-2].tolist() == alignment_pairs(insts[:1], tok, lambda i: TITLES[i - 1], 2)[1][0].tolist()

    torch.manual_seed(0)
    adapter = MLPAdapter(REC_DIM, embedding.shape[1], WINDOW, hidden=64, tokens_per_item=2, belief=True)
    adapter.calibrate(embedding)
    assert adapter.n_tokens == (WINDOW + 1) * 2 and adapter(lat).shape == (
        6,
        adapter.n_tokens,
        embedding.shape[1],
    )
    earlier = lat.clone()
    earlier[:, :-1] += 1.0  # the belief group reads only the last state
    assert torch.equal(adapter(earlier)[:, -2:], adapter(lat)[:, -2:])
    report = align_adapter(adapter, embedding, lat, ids, steps=300, seed=0, batch_size=6)
    assert report["align_belief_accuracy"] > 0.9

    folder = save_adapter(adapter, tmp_path / "a")
    again = load_adapter(folder, llm_dim=embedding.shape[1])
    assert again.belief and torch.equal(again(lat), adapter(lat))


def test_summary_group_reads_the_mean_state_and_aligns_to_the_named_tasks_answer(tiny_llm, tmp_path):
    from recbench.adapters.base import load_adapter, save_adapter

    tok = tiny_llm.tokenizer
    embedding = tiny_llm.model.get_input_embeddings().weight
    insts = _instances(8)
    answers = ["Drama films from the 1990s.", "Comedy films from the 1980s."]
    described = []
    for k, inst in enumerate(insts):
        inst.rec_top1 = 1 + inst.window.items[-1] % len(TITLES)
        if k < 6:  # the summary task's instance for the same window (another task, same latents)
            other = Instance("d" + inst.id, "description", inst.window, "<rec_emb>", answers[k % 2],
                             ("window",), list(inst.window.items))  # fmt: skip
            other.latents = inst.latents
            described.append(other)
    both = insts + described
    lat, ids = alignment_pairs(both, tok, lambda i: TITLES[i - 1], 2, belief=True, summary="description")
    assert lat.shape == (6, WINDOW, REC_DIM) and ids.shape == (6, (WINDOW + 2) * 2)  # no answer: left out
    assert ids[0, -2:].tolist() == title_tokens(tok, "Drama films from the 1990s", 2)
    assert ids[1, -2:].tolist() == title_tokens(tok, "Comedy films from the 1980s", 2)
    assert ids[0, -4:-2].tolist() == title_tokens(tok, TITLES[insts[0].rec_top1 - 1], 2)  # belief before it
    # a summary task that no instance carries leaves nothing to align
    assert len(alignment_pairs(both, tok, lambda i: TITLES[i - 1], 2, summary="nope")[0]) == 0

    torch.manual_seed(0)
    adapter = MLPAdapter(REC_DIM, embedding.shape[1], WINDOW, hidden=64, tokens_per_item=2,
                         belief=True, summary="description")  # fmt: skip
    adapter.calibrate(embedding)
    assert adapter.n_tokens == (WINDOW + 2) * 2 and adapter(lat).shape[1] == adapter.n_tokens
    shuffled = lat[:, torch.randperm(WINDOW, generator=torch.Generator().manual_seed(1))]
    # the summary group reads the mean of the states: their order does not matter to it, but to the rest
    assert torch.allclose(adapter(shuffled)[:, -2:], adapter(lat)[:, -2:], atol=1e-5)
    assert not torch.allclose(adapter(shuffled)[:, :2], adapter(lat)[:, :2])
    report = align_adapter(adapter, embedding, lat, ids, steps=300, seed=0, batch_size=6)
    assert report["align_summary_accuracy"] > 0.9 and report["align_belief_accuracy"] > 0.9

    folder = save_adapter(adapter, tmp_path / "a")
    again = load_adapter(folder, llm_dim=embedding.shape[1])
    assert again.summary == "description" and torch.equal(again(lat), adapter(lat))


def test_summary_option_must_name_a_task():
    import pytest

    from recbench.errors import ConfigError

    for bad in ("", "  ", 3, True):
        with pytest.raises(ConfigError, match="summary to name a task"):
            MLPAdapter(REC_DIM, 16, WINDOW, summary=bad)
