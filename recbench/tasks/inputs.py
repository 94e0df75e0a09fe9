"""Inputs a task may declare (``inputs:`` in its YAML), beyond its window, prompt and target.

A task lists what its metrics need; the runner provides exactly that, and a metric that needs an
input its task does not declare is refused when the task is loaded. No code branches on a task's name.
"""

from __future__ import annotations

from recbench.errors import ConfigError

INPUTS: dict[str, str] = {
    "rec_top1": "the recommender's own top-1 next item for the window (items in the window excluded)",
    "rec_top10": "the recommender's own top-10 next items for the window, best first (items in the window excluded)",
    "next_item": "the window's true next item (the interaction that follows it)",
    "genres": "the window's two most common genres, from the dataset's item metadata",
    "window_genres": "the window's main genres (genre shares of its items), from item metadata only",
    "window_era": "the decade of the window's median release year, from item metadata only",
    "roundtrip": (
        "what the recommender makes of the answer: the items it names (task field answer_items) fed back "
        "as a sequence, and the recommender's top-10 for them (computed after generation)"
    ),
}
TOP_K = 10  # the length of rec_top10 and of the round trip's top list

# Inputs the recommender computes: re-derived only where its checkpoint is at hand (``--verify``).
FROM_RECOMMENDER = ("rec_top1", "rec_top10", "roundtrip")


def check_declared(inputs: object) -> tuple[str, ...]:
    """The ``inputs`` field of a task file: a list of known input names (``ValueError`` otherwise)."""
    if inputs is None:
        return ()
    if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
        raise ValueError(f"inputs must be a list of names (known: {', '.join(INPUTS)})")
    for name in inputs:
        if name not in INPUTS:
            raise ValueError(f"inputs: no provider for {name!r}; recbench provides {', '.join(INPUTS)}")
    return tuple(dict.fromkeys(inputs))


def check_inputs_available(task, data) -> None:
    """Refuse a task whose declared inputs this dataset cannot provide (e.g. genres without metadata)."""
    for name in ("genres", "window_genres"):
        if name in task.inputs and not any(item.genres for item in data.items):
            raise ConfigError(
                f"task {task.name} needs item genres (inputs: {name}), but dataset {data.name!r} has none"
            )
    if "window_era" in task.inputs and not any(item.year for item in data.items):
        raise ConfigError(
            f"task {task.name} needs item years (inputs: window_era), but dataset {data.name!r} has none"
        )
