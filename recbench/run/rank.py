"""One rank of a data-parallel run started by :func:`recbench.run.parallel.launch`.

``python -m recbench.run.rank <job.json>``: the job holds the :class:`RunSpec` (as in results.json),
the :class:`RunOptions`, the thread count and the folder where the ranks report back.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from recbench.errors import RecbenchError


def main(job_path: str) -> int:
    job = json.loads(Path(job_path).read_text())
    status = Path(job["status"])
    rank = int(os.environ["RANK"])
    import torch

    from recbench import progress

    torch.set_num_threads(int(job["threads"]))
    progress.set_enabled(bool(job["progress"]) and rank == 0)
    from recbench.run.pipeline import RunOptions, run, use_include_path
    from recbench.run.spec import RunSpec

    try:
        opts = RunOptions(**{**job["options"], "include_path": tuple(job["options"]["include_path"])})
        use_include_path(opts.include_path)
        results = run(RunSpec.from_dict(job["spec"]), opts)
    except RecbenchError as exc:
        from recbench.interpreters.data_parallel import PeerLost

        # a rank that only lost its peers reports it as secondary: the launcher prefers the cause
        info = {"message": str(exc), "exit_code": exc.exit_code, "secondary": isinstance(exc, PeerLost)}
        (status / f"error-{rank}.json").write_text(json.dumps(info))
        return exc.exit_code
    if rank == 0:
        (status / "results.json").write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
