"""``recbench run``: the benchmark pipeline behind the CLI and the Python API.

Imported lazily so that light modules (the spec, the keys) never pull in the whole pipeline.
"""

__all__ = ["PROFILES", "RunSpec", "evaluate"]


def __getattr__(name: str):
    if name == "evaluate":
        from recbench.run.pipeline import evaluate

        return evaluate
    if name in ("RunSpec", "PROFILES"):
        from recbench.run import spec

        return getattr(spec, name)
    raise AttributeError(f"module 'recbench.run' has no attribute {name!r}")
