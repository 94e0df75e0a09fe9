"""lm-eval's own command line with the ``recbench`` model registered.

    python -m recbench.integrations.lm_eval run --model recbench --model_args run=runs/<run-id> \\
        --tasks recbench --include_path <export dir>

A recbench user error (a run without the task, an older run folder ...) is one line and exit 2.
"""

from __future__ import annotations

import sys


def main() -> None:
    from recbench.errors import RecbenchError

    try:
        import recbench.integrations.lm_eval as integration

        integration.require_lm_eval()
        from lm_eval.__main__ import cli_evaluate

        cli_evaluate()
    except RecbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
