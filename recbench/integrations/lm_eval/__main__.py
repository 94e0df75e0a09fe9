"""lm-eval's own command line with the ``recbench`` model registered (see :mod:`.harness`).

    python -m recbench.integrations.lm_eval --model recbench --model_args run=runs/<run-id> \\
        --tasks recbench,recbench_shuffled --include_path <export dir>

A recbench user error (a refused option, a task typo, a run without the task ...) is one line and exit 2.
"""

from __future__ import annotations

import sys

from recbench.integrations.lm_eval.harness import main

if __name__ == "__main__":
    sys.exit(main())
