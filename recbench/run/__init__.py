"""``recbench run``: the benchmark pipeline behind the CLI and the Python API."""

from recbench.run.config import PROFILES, RunConfig, resolve_config
from recbench.run.pipeline import evaluate

__all__ = ["PROFILES", "RunConfig", "evaluate", "resolve_config"]
