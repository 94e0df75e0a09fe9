"""recbench in lm-eval (``pip install 'recbench[lm-eval]'``): an lm-eval model and exported tasks.

* :func:`export_tasks` (``recbench lm-eval export RUN --out DIR``) writes a run's tasks as lm-eval
  task YAMLs + docs, generated from ``tasks/*.yaml``;
* the lm-eval model ``recbench`` (:class:`RecbenchLM`, registered when this package is imported)
  serves the run's trained interpreter; ``python -m recbench.integrations.lm_eval`` is lm-eval's own
  command line with the model registered. See docs/lm_eval.md.
"""

from __future__ import annotations

from recbench.integrations.lm_eval.export import export_tasks, lm_eval_name

try:  # registers the "recbench" model with lm-eval
    from recbench.integrations.lm_eval.model import RecbenchLM
except ModuleNotFoundError as exc:  # lm-eval is an optional extra
    if exc.name is None or not exc.name.startswith("lm_eval"):
        raise
    RecbenchLM = None  # type: ignore[assignment,misc]

__all__ = ["RecbenchLM", "export_tasks", "lm_eval_name", "require_lm_eval"]


def require_lm_eval() -> None:
    """Raise a one-line error when lm-eval is not installed."""
    if RecbenchLM is None:
        from recbench.errors import ConfigError

        raise ConfigError("lm-eval is not installed: pip install 'recbench[lm-eval]' (lm-eval==0.4.13)")
