"""Time `recbench leaderboard build` over 100 synthetic submissions (target: under 5 s).

The submissions are valid runs on the tiny test dataset (its real instances, made-up outputs, scores
computed from them), 90 LLM runs and 10 baselines over the 4 tasks, written to a temp folder. The build is timed three times;
the figures are printed as one JSON object on the last line.

    .venv/bin/python bench/leaderboard_build.py [--submissions 100] [--samples 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from recbench.data import load_dataset
from recbench.leaderboard.site import build_site
from recbench.leaderboard.synthetic import make_run
from recbench.names import slugify

TINY = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "tiny"
TARGET_SECONDS = 5.0


def make_submissions(root: Path, count: int, samples: int) -> None:
    """``count`` runs in ``root/<slug>/<run-id>``: one in ten a baseline, the rest LLM runs."""
    data = load_dataset("csv", TINY)
    for i in range(count):
        baseline = i % 10 == 9
        label = f"baseline {i % 3}" if baseline else f"llm-{i % 7} + adapter-{i % 4} #{i}"
        run_id = f"bench-{i:03d}"
        kind = "baseline" if baseline else "llm"
        quality = 0.2 + 0.7 * ((i * 37) % 100) / 100
        make_run(
            root / slugify(label) / run_id,
            data,
            TINY,
            run_id,
            label,
            kind=kind,
            quality=quality,
            n=samples,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=100)
    parser.add_argument("--samples", type=int, default=17, help="instances per task per run (17: all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="recbench-lb-bench-") as tmp:
        root = Path(tmp) / "submissions"
        start = time.perf_counter()
        make_submissions(root, args.submissions, args.samples)
        setup = time.perf_counter() - start
        times = []
        for k in range(3):
            start = time.perf_counter()
            report = build_site(root, Path(tmp) / f"site{k}")
            times.append(time.perf_counter() - start)
        site = Path(tmp) / "site0"
        size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
        seconds = statistics.median(times)
        print(f"built {report.runs} runs into {report.tables} tables and {report.pages} run pages")
        print(f"build times (s): {', '.join(f'{t:.3f}' for t in times)}; target < {TARGET_SECONDS} s")
    figures = {
        "submissions": report.runs,
        "build_seconds": round(seconds, 3),
        "build_seconds_all": [round(t, 3) for t in times],
        "pages": report.pages + 1,
        "tables": report.tables,
        "site_bytes": size,
        "setup_seconds": round(setup, 1),
        "target_seconds": TARGET_SECONDS,
        "within_target": seconds < TARGET_SECONDS,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
