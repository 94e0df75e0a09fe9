"""Progress where stderr is not a terminal (CI logs, nohup): plain lines, not 30 minutes of silence."""

from __future__ import annotations

import pytest

from recbench import progress


@pytest.fixture
def shown(monkeypatch):
    """Progress on, as outside the test suite; restored afterwards."""
    monkeypatch.setattr(progress, "_enabled", True)
    monkeypatch.setattr(progress, "_interval", None)
    monkeypatch.setattr(progress, "_plain", None)


def test_plain_lines_with_done_total_and_rate(shown, capsys, monkeypatch):
    monkeypatch.setenv("RECBENCH_PROGRESS_INTERVAL", "0")
    assert progress.plain()  # pytest's captured stderr is not a terminal
    with progress.bar("train sasrec", 4) as update:
        for i in range(4):
            update(note=f"loss {1 / (i + 1):.2f}")
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "train sasrec: started, 4 to do"
    assert len(lines) == 6  # start, one per update (interval 0), end
    assert lines[1].startswith("train sasrec: 1/4 (25%), ") and "elapsed 0:00:00" in lines[1]
    assert "remaining" in lines[1] and lines[1].endswith("loss 1.00")
    assert "/s" in lines[2] or "s each" in lines[2]
    assert lines[-1].startswith("train sasrec: done 4/4 (100%), ") and lines[-1].endswith("loss 0.25")


def test_plain_lines_are_rate_limited(shown, capsys):
    progress.set_interval(3600)
    with progress.bar("generate", 1000) as update:
        for _ in range(1000):
            update()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and lines[1].startswith("generate: done 1000/1000 (100%)")


def test_total_known_later_and_stop_on_error(shown, capsys):
    progress.set_interval(0)
    with pytest.raises(KeyboardInterrupt), progress.bar("train llm", 1) as update:
        update(advance=0, total=10)
        update(advance=3)
        raise KeyboardInterrupt
    lines = capsys.readouterr().err.splitlines()
    assert lines[2].startswith("train llm: 3/10 (30%)")
    assert lines[-1].startswith("train llm: stopped at 3/10 (30%)")


def test_quiet_prints_nothing(capsys, monkeypatch):
    monkeypatch.setattr(progress, "_enabled", False)
    with progress.bar("x", 2) as update:
        update()
    assert capsys.readouterr().err == ""


def test_train_rec_prints_progress_lines_in_a_log(shown, fresh_cache):
    from typer.testing import CliRunner

    from recbench.cli import app
    from tests.conftest import TINY

    progress.set_interval(0)
    args = ["train-rec", "--dataset", "csv", "--data-dir", str(TINY), "--epochs", "2", "--max-len", "8"]
    result = CliRunner().invoke(app, [*args, "--threads", "1"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("train sasrec: ")]
    assert lines[0] == "train sasrec: started, 2 to do"
    assert lines[-1].startswith("train sasrec: done ")
