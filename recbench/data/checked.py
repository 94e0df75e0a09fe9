"""Load a dataset that must be the one a run recorded: the one place a dataset's sha256 is checked."""

from __future__ import annotations

from recbench.data.base import SequenceData
from recbench.errors import ConfigError


def load_checked(
    name: str, data_dir: str | None, expect_sha256: str | None = None, owner: str = "the run"
) -> SequenceData:
    """``load_dataset(name, data_dir)``; when ``expect_sha256`` is given the data must hash to it."""
    from recbench.data import load_dataset

    data = load_dataset(name, data_dir)
    if expect_sha256 is not None and data.sha256 != expect_sha256:
        raise ConfigError(
            f"dataset '{name}' here has sha256 {data.sha256[:12]}, {owner} recorded "
            f"{str(expect_sha256)[:12]}: scores would not be comparable"
        )
    return data
