"""Adapters: shapes, output scale, registry, safetensors round trip and checkpoint errors."""

from __future__ import annotations

import json

import pytest
import torch

from recbench import registry
from recbench.adapters.base import Adapter, load_adapter, save_adapter
from recbench.errors import CheckpointError, ConfigError

D, H, L, B = 12, 32, 5, 3
# name -> (options, documented number of soft tokens)
CASES = {
    "linear": ({}, 1),
    "paper": ({}, 1),
    "per_position": ({}, L),
    "mlp": ({"hidden": 20}, L),
    "mlp-3": ({"hidden": 20, "tokens_per_item": 3}, 3 * L),
    "mlp-previous": ({"hidden": 20, "with_previous": True}, L),
}


def build(name: str, **options) -> Adapter:
    torch.manual_seed(0)
    return registry.adapters.get(name.split("-")[0])(D, H, L, **options)


@pytest.mark.parametrize("name", sorted(CASES))
def test_shapes_and_registry(name):
    options, k = CASES[name]
    cls = registry.adapters.get(name.split("-")[0])
    assert issubclass(cls, Adapter) and cls.name == name.split("-")[0]
    assert registry.adapters.entry(cls.name).description()  # one-line docstring for `recbench ls`
    adapter = build(name, **options)
    assert adapter.n_tokens == k
    assert adapter(torch.randn(B, L, D)).shape == (B, k, H)


def test_linear_k_tokens_use_last_position():
    adapter = build("linear", k=3)
    x = torch.randn(B, L, D)
    y = x.clone()
    y[:, :-1] = 0  # only the last state matters
    assert adapter(x).shape == (B, 3, H)
    assert torch.allclose(adapter(x), adapter(y))


def test_mlp_tokens_per_item_are_grouped_by_position():
    adapter = build("mlp", hidden=20, tokens_per_item=3)
    x = torch.randn(B, L, D)
    y = x.clone()
    y[:, 1] = torch.randn(B, D)  # change one position: only its 3 adjacent tokens move
    moved = (adapter(x) - adapter(y)).abs().sum(-1) > 0
    assert moved[:, 3:6].all() and not moved[:, :3].any() and not moved[:, 6:].any()
    with pytest.raises(ConfigError, match="tokens_per_item >= 1"):
        build("mlp", tokens_per_item=0)
    assert build("mlp", hidden=20).hparams() == {"hidden": 20}  # old checkpoints keep loading


def test_mlp_with_previous_reads_each_state_and_the_one_before():
    adapter = build("mlp", hidden=20, with_previous=True)
    x = torch.randn(B, L, D)
    y = x.clone()
    y[:, 1] = torch.randn(B, D)  # position 1 feeds its own token and position 2's
    moved = (adapter(x) - adapter(y)).abs().sum(-1) > 0
    assert moved[:, 1:3].all() and not moved[:, [0, 3, 4]].any()
    first = adapter.mlp(torch.cat([torch.zeros(B, D), x[:, 0]], dim=-1))  # zeros before the first state
    assert torch.allclose(adapter(x)[:, 0], adapter.out_norm(first) * adapter.out_scale, atol=1e-6)
    assert adapter.hparams() == {"hidden": 20, "with_previous": True}
    with pytest.raises(ConfigError, match="with_previous true or false"):
        build("mlp", with_previous="yes")


def test_paper_weights_are_a_softmax_over_positions():
    adapter = build("paper")
    x = torch.randn(B, L, D)
    same = x.mean(1, keepdim=True).expand(B, L, D)  # zero logits at init = plain mean
    assert torch.allclose(adapter(x), adapter(same), atol=1e-5)


def test_calibrated_scale_matches_embedding_norm():
    adapter = build("per_position")
    embedding = torch.randn(1000, H) * 0.7
    adapter.calibrate(embedding)
    want = float(embedding.norm(dim=-1).median())
    norms = adapter(torch.randn(B, L, D) * 25).norm(dim=-1)  # recommender scale does not matter
    assert adapter.token_norm == pytest.approx(want)
    assert torch.allclose(norms, torch.full_like(norms, want), rtol=0.05)


def test_unknown_option_and_wrong_window():
    with pytest.raises(ConfigError, match="no option"):
        build("paper", heads=4)
    with pytest.raises(ConfigError, match="windows of 5"):
        build("mlp")(torch.randn(B, L + 1, D))
    with pytest.raises(ConfigError, match=r"latents \[batch, L, 12\]"):
        build("linear")(torch.randn(B, L, D + 1))


@pytest.mark.parametrize("name", sorted(CASES))
def test_save_load_round_trip(tmp_path, name):
    adapter = build(name, **CASES[name][0])
    adapter.calibrate(torch.randn(50, H))
    with torch.no_grad():
        for p in adapter.parameters():
            p.add_(torch.randn_like(p))  # not just the init
    save_adapter(adapter, tmp_path)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["adapter.json", "adapter.safetensors"]
    loaded = load_adapter(tmp_path, rec_dim=D, llm_dim=H)
    assert type(loaded) is type(adapter) and loaded.config() == adapter.config()
    x = torch.randn(B, L, D)
    assert torch.equal(loaded(x), adapter(x))


def test_dims_mismatch_names_file_and_shapes(tmp_path):
    save_adapter(build("linear"), tmp_path)
    with pytest.raises(CheckpointError) as err:
        load_adapter(tmp_path, rec_dim=64, llm_dim=H)
    msg = str(err.value)
    assert "adapter.safetensors" in msg and "rec_dim 12" in msg and "rec_dim 64" in msg and "\n" not in msg


def test_weights_that_do_not_fit_the_config(tmp_path):
    save_adapter(build("linear"), tmp_path)
    cfg = json.loads((tmp_path / "adapter.json").read_text())
    cfg["rec_dim"] = 7  # config edited, weights not
    (tmp_path / "adapter.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"adapter.safetensors does not fit.*\[32, 12\].*\[32, 7\]"):
        load_adapter(tmp_path)


def test_truncated_file(tmp_path):
    save_adapter(build("mlp"), tmp_path)
    path = tmp_path / "adapter.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="adapter.safetensors is truncated or corrupt"):
        load_adapter(tmp_path)


def test_garbage_file_and_missing_config(tmp_path):
    save_adapter(build("paper"), tmp_path)
    (tmp_path / "adapter.safetensors").write_bytes(b"\x00" * 7)
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_adapter(tmp_path)
    with pytest.raises(CheckpointError, match="adapter.json is missing"):
        load_adapter(tmp_path / "elsewhere")
