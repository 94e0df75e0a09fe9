"""recbench: can a large language model read the hidden representations of a sequential recommender?"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("recbench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"


def __getattr__(name: str):
    # recbench.evaluate is the Python API; imported lazily so `import recbench` stays light.
    if name == "evaluate":
        from recbench.run.pipeline import evaluate

        return evaluate
    raise AttributeError(f"module 'recbench' has no attribute {name!r}")
