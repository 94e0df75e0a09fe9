"""Bad input to `recbench run`: one clear line, non-zero exit, nothing half-written."""

from __future__ import annotations

import os

import pytest
import torch
from typer.testing import CliRunner

from recbench.cli import app
from recbench.errors import CheckpointError, ConfigError, RecbenchError, UnknownNameError
from recbench.run import evaluate
from recbench.tasks import load_task
from tests.conftest import TINY

runner = CliRunner()
TINY_ARGS = ["--dataset", "csv", "--data-dir", str(TINY), "--window", "4", "--limit", "4", "--steps", "1"]


def cli(*args: str):
    return runner.invoke(app, ["--quiet", "run", *args])


def one_line_error(result, text: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0], result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--llm", "smollm2-135"], "did you mean 'smollm2-135m'?"),
        (["--adapter", "per_postion"], "unknown adapter 'per_postion'"),
        (["--tasks", "seq_recovry"], "did you mean 'seq_recovery'?"),
        (["--interpreter", "knn"], "unknown interpreter 'knn'"),
        (["--rec", "sasrek"], "did you mean 'sasrec'?"),
        (["--profile", "papr"], "did you mean 'paper'?"),
        (["--window", "1"], "--window must be at least 2"),
        (["--align-steps", "-1"], "--align-steps must be >= 0"),
        (["--adapter-option", "hidden"], "--adapter-option expects KEY=VALUE, got 'hidden'"),
        (["--adapter-option", "hiden=3"], "adapter 'mlp' has no option(s) hiden"),
        (
            ["--adapter-option", "hidden=abc"],
            "adapter 'mlp' needs hidden to be an integer >= 1, got 'abc'",
        ),
    ],
)
def test_bad_names_and_values_are_one_line(args, text, tmp_path, fresh_cache):
    result = cli(*TINY_ARGS, "--llm", "tiny-random", *args, "--out", str(tmp_path / "runs"))
    one_line_error(result, text)
    assert not (tmp_path / "runs").exists()


def test_llm_path_that_does_not_exist(tmp_path, fresh_cache):
    result = cli(*TINY_ARGS, "--llm", str(tmp_path / "no-such-model"), "--out", str(tmp_path / "runs"))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "no-such-model" in result.stderr


def test_llm_folder_without_a_model(tmp_path, fresh_cache):
    empty = tmp_path / "empty-model"
    empty.mkdir()
    result = cli(*TINY_ARGS, "--llm", str(empty), "--out", str(tmp_path / "runs"))
    assert result.exit_code == 2 and "empty-model" in result.stderr and "Traceback" not in result.output


def write_task(tmp_path, **changes) -> str:
    text = load_task("residual_id").path and open(load_task("residual_id").path).read()
    for old, new in changes.items():
        text = text.replace(old, new)
    path = tmp_path / "custom.yaml"
    path.write_text(text)
    return str(path)


def test_task_yaml_missing_field(tmp_path):
    path = write_task(tmp_path, **{"target_items: last\n": ""})
    with pytest.raises(ConfigError, match=r"custom\.yaml: missing field 'target_items'"):
        load_task(path)


def test_task_yaml_unknown_placeholder(tmp_path):
    path = write_task(tmp_path, **{"{{last_title}}": "{{lst_title}}"})
    with pytest.raises(ConfigError, match=r"unknown placeholder '\{\{lst_title\}\}'"):
        load_task(path)


def test_task_prompt_without_rec_emb(tmp_path):
    path = write_task(tmp_path, **{"<rec_emb>": "latents"})
    with pytest.raises(ConfigError, match="doc_to_text has no <rec_emb> placeholder"):
        load_task(path)


def test_task_yaml_unknown_metric(tmp_path):
    path = write_task(tmp_path, **{"metric: hit_at_1": "metric: hit_at_one"})
    with pytest.raises(ConfigError, match="unknown metric 'hit_at_one'"):
        load_task(path)


def test_adapter_checkpoint_that_does_not_fit_the_recommender(tmp_path, fresh_cache):
    kw = dict(
        dataset="csv", data_dir=str(TINY), rec_epochs=1, window=4, limit=4, steps=1, tasks=["residual_id"]
    )
    evaluate("sasrec", "tiny-random", out_dir=tmp_path / "a", **kw)
    from safetensors.torch import load_file, save_file

    (folder,) = (fresh_cache / "interpreters").iterdir()
    weights = folder / "adapter.safetensors"
    state = load_file(weights)
    first = next(k for k, v in state.items() if v.dim() == 2)
    state[first] = torch.zeros(state[first].shape[0], state[first].shape[1] + 3)
    save_file(state, weights)
    with pytest.raises(CheckpointError, match="adapter"):
        evaluate("sasrec", "tiny-random", out_dir=tmp_path / "b", **kw)
    assert not (tmp_path / "b").exists()


def test_unwritable_cache_directory(tmp_path, monkeypatch):
    if os.geteuid() == 0:
        target = tmp_path / "file-not-dir"
        target.write_text("x")
        monkeypatch.setenv("RECBENCH_CACHE", str(target / "cache"))  # a path under a file cannot exist
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        monkeypatch.setenv("RECBENCH_CACHE", str(locked / "cache"))
    result = cli(*TINY_ARGS, "--llm", "tiny-random", "--out", str(tmp_path / "runs"))
    one_line_error(result, "cache directory")


def test_nan_latents_are_refused(tmp_path, fresh_cache, monkeypatch):
    from recbench.recommenders.sasrec import SASRec

    real = SASRec.encode

    def poisoned(self, items):
        out = real(self, items)
        return out if self.training else out * float("nan")

    monkeypatch.setattr(SASRec, "encode", poisoned)
    with pytest.raises(RecbenchError, match="latents contain NaN"):
        evaluate("sasrec", "tiny-random", dataset="csv", data_dir=str(TINY), rec_epochs=1, window=4, limit=4,
                 steps=1, tasks=["residual_id"], out_dir=tmp_path / "runs")  # fmt: skip
    assert not (tmp_path / "runs").exists()


def test_unknown_names_fail_before_any_work(tmp_path, fresh_cache):
    with pytest.raises(UnknownNameError):
        evaluate("sasrec", "tiny-random", tasks=["nope"], dataset="csv", data_dir=str(TINY))
    assert not (fresh_cache / "recommenders").exists()
