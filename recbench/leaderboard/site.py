"""``recbench leaderboard build``: render the submissions into a static site that works from ``file://``.

One table per dataset x task (x task version), one page per run. Jinja2 autoescaping is on for every
template, so every field of a submission is rendered as text; links are relative; the only script is
the inline column sorter; nothing is fetched from the network. The same submissions always give the
same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import jinja2
from markupsafe import Markup, escape

from recbench.cache import atomic_dir
from recbench.errors import ConfigError
from recbench.leaderboard.chart import bar_chart
from recbench.leaderboard.validate import (
    RunFiles,
    check_structure,
    read_run,
    task_definition,
    walk_submissions,
)
from recbench.names import printable, slugify
from recbench.resources import package_path

TEMPLATES = package_path("leaderboard", "templates")  # package data: works from a wheel too
SAMPLES_PER_TASK = 20
NONE = "—"


@dataclass
class Submission:
    """One run on the site: where it was read from, its results.json, samples and page (site-relative)."""

    folder: Path
    results: dict
    files: RunFiles | None = None

    @property
    def run_id(self) -> str:
        return self.results["run_id"]

    @property
    def page(self) -> str:
        return f"runs/{quote(self.run_id)}.html"

    @property
    def label(self) -> str:
        return self.results["interpreter"]["label"]

    @property
    def baseline(self) -> bool:
        return self.results["interpreter"]["kind"] == "baseline"

    @property
    def llm(self) -> str | None:
        """The LLM the run used, a baseline's included (``text_history`` prompts one with titles)."""
        return self.results["interpreter"].get("llm") or None

    @property
    def verified(self) -> bool:
        """It carries the interpreter that wrote its outputs: CI regenerates some of them
        (``leaderboard validate --verify``) before anything lands, so on main that means verified."""
        from recbench.leaderboard.verify import carries_interpreter

        return carries_interpreter(self.folder)

    @property
    def kind_label(self) -> str:
        """``llm``, ``baseline``, or ``LLM baseline`` for a baseline that uses an LLM."""
        if not self.baseline:
            return "llm"
        return "LLM baseline" if self.llm else "baseline"


@dataclass(frozen=True)
class BuildReport:
    """What a build wrote: the index, and how many runs, tables and run pages."""

    index: Path
    runs: int
    tables: int
    pages: int


def load_submissions(root: Path) -> list[Submission]:
    """Every run under ``root`` in a stable order; one the build cannot show is a ConfigError.

    Each run is read as ``validate`` reads it (regular files only, no symlink followed, within every
    cap and limit; its schema, names, place and task definitions checked) but not re-scored and no
    dataset is read: ``recbench leaderboard validate`` does that.
    """
    root = Path(root)
    if not root.is_dir() or root.is_symlink():
        raise ConfigError(printable(f"{root}: no submissions folder here"))
    folders, stray = walk_submissions([root])
    if stray:
        raise ConfigError(f"{stray[0]} (run `recbench leaderboard validate`)")
    subs: dict[str, Submission] = {}
    for folder in folders:
        files, defects = read_run(folder, strict=True)
        if files is not None:
            defects = check_structure(files, root)
        if defects:
            raise ConfigError(printable(f"{defects[0]} (run `recbench leaderboard validate`)"))
        run_id = files.results["run_id"]
        if run_id in subs:
            raise ConfigError(
                printable(f"run id {run_id!r} is submitted twice: {subs[run_id].folder} and {folder}")
            )
        subs[run_id] = Submission(folder, files.results, files)
    return [subs[k] for k in sorted(subs)]


def num(value: float) -> str:
    """A metric value as shown: three decimals; never "-0.000"."""
    text = f"{value:.3f}"
    return text[1:] if text == "-0.000" else text


def signed(value: float) -> str:
    """A gap as shown: three decimals with its sign, and "0.000" (no sign) for what rounds to zero."""
    text = f"{value:+.3f}"
    return "0.000" if text in ("+0.000", "-0.000") else text


def sign_class(text: str) -> str:
    """CSS class of a shown gap: ``pos``, ``neg`` or ``zero`` (neutral)."""
    return "neg" if text.startswith("-") else "pos" if text.startswith("+") else "zero"


def _cell(score: dict | None) -> dict | None:
    if score is None:
        return None
    return {
        "text": num(score["value"]),
        "interval": f"[{num(score['low'])}, {num(score['high'])}]",
        "sort": repr(float(score["value"])),
        "title": f"mean over n={score['n']}; 95% interval {num(score['low'])} to {num(score['high'])}",
    }


def _gap_cell(block: dict, metric: str, baseline: bool) -> dict | None:
    gap = block.get("gap", {}).get(metric)
    control = block.get("controls", {}).get("shuffled", {}).get(metric)
    if gap is None:
        return None
    text = signed(gap)
    title = f"real minus shuffled {metric}"
    if control is not None:
        title += f"; shuffled: {num(control['value'])} [{num(control['low'])}, {num(control['high'])}]"
    return {"text": text, "class": sign_class(text), "sort": repr(float(gap)), "title": title}


def _steps(sub: Submission) -> int | None:
    """Training steps of an LLM run's adapter (``config.steps``); None for baselines."""
    if sub.baseline:
        return None
    steps = sub.results["config"].get("steps")
    return steps if isinstance(steps, int) and not isinstance(steps, bool) else None


def _usual(values: list) -> object:
    """The most common of ``values`` (ties: the larger), None when there are none."""
    counts: dict = {}
    for v in values:
        if v is not None:
            counts[v] = counts.get(v, 0) + 1
    return max(counts, key=lambda v: (counts[v], v)) if counts else None


def _row(sub: Submission, block: dict, metrics: list[str], main: str, usual: dict) -> dict:
    interp, rec = sub.results["interpreter"], sub.results["recommender"]
    differs = []
    if usual["n"] is not None and block["n"] != usual["n"]:
        differs.append(f"n = {block['n']}")
    steps = _steps(sub)
    if steps is not None and usual["steps"] is not None and steps != usual["steps"]:
        differs.append(f"{steps} steps")
    parts = [f"LLM {sub.llm}"] if sub.llm else []
    parts += [f"adapter {interp['adapter']}"] if interp.get("adapter") else []
    return {
        "label": sub.label,
        "baseline": sub.baseline,
        "kind": sub.kind_label,
        "verified": sub.verified,
        "uses": " · ".join(parts) or "no LLM",
        "run_id": sub.run_id,
        "page": sub.page,
        "llm": sub.llm,
        "adapter": interp.get("adapter") or None,
        "recommender": rec["name"],
        "rec_hr10": num(rec["test"]["hr@10"]),
        "n": block["n"],
        "steps": steps,
        "differs": differs,
        "cells": [_cell(block["metrics"].get(m)) for m in metrics],
        "gap": _gap_cell(block, main, sub.baseline),
        "main": block["metrics"].get(main),
    }


def _vlh(score: dict) -> tuple[float, float, float]:
    return score["value"], score["low"], score["high"]


def index_tables(subs: list[Submission]) -> list[dict]:
    """One table per (dataset, dataset sha256, task, task version), rows best-first on the main metric.

    A table's main metric and columns come from the installed task definition (``load_task``), never
    from a submission: ``load_submissions`` has checked every run against it.
    """
    groups: dict[tuple, list[tuple[Submission, dict]]] = {}
    for sub in subs:
        card = sub.results["dataset"]
        for task, block in sub.results["tasks"].items():
            key = (card["name"], card["sha256"], task, block["version"])
            groups.setdefault(key, []).append((sub, block))
    tables = []
    for (dataset, sha, task, version), members in sorted(groups.items()):
        spec = task_definition(task, version)
        main = spec.main_metric
        metrics = [main] + [m for m in spec.metrics if m != main]
        # (a row without the main metric cannot pass validate; it would sort last, never be dropped)
        members.sort(key=lambda m: (-m[1]["metrics"].get(main, {"value": -math.inf})["value"], m[0].run_id))
        # the usual n over every row; the usual steps over the LLM rows of that n (baselines train none)
        usual_n = _usual([block["n"] for _, block in members])
        steps = [_steps(sub) for sub, block in members if block["n"] == usual_n]
        usual = {"n": usual_n, "steps": _usual(steps) or _usual([_steps(sub) for sub, _ in members])}
        rows = [_row(sub, block, metrics, main, usual) for sub, block in members]
        chart_rows = [
            # the recommender is part of a chart label: one interpreter may appear once per recommender
            (
                f"{r['label']} · {r['recommender']}" + (f" ({r['kind']})" if r["baseline"] else ""),
                *_vlh(r["main"]),
                r["baseline"],
            )
            for r in rows
            if r["main"] is not None
        ]
        tables.append(
            {
                "id": "t-" + slugify(f"{dataset}-{sha[:8]}-{task}-v{version}"),
                "dataset": dataset,
                "sha": sha,
                "task": task,
                "version": version,
                "main": main,
                "metrics": metrics,
                "rows": rows,
                "usual": usual,
                "any_differs": any(r["differs"] for r in rows),
                "any_gap": any(r["gap"] for r in rows),
                "chart": bar_chart(main, chart_rows),
            }
        )
    return tables


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)


def provenance(results: dict) -> list[tuple[str, str]]:
    """(what, value) pairs for a run page: code, data, recommender, hardware, timings, seeds."""
    rb, card, rec = results["recbench"], results["dataset"], results["recommender"]
    commit = rb.get("git_commit") or "unknown"
    if rb.get("git_dirty"):
        commit += " (uncommitted changes)"
    pairs = [
        ("created", results["created"]),
        ("recbench version", rb["version"]),
        ("recbench git commit", commit),
        (
            "dataset",
            f"{card['name']}: {card['users']} users, {card['items']} items, "
            f"{card['interactions']} interactions",
        ),
        ("dataset sha256", card["sha256"]),
        ("recommender", rec["name"]),
        ("recommender checkpoint sha256", rec.get("checkpoint_sha256") or "unknown"),
        ("recommender test HR@10", num(rec["test"]["hr@10"])),
    ]
    if isinstance(rec["test"].get("ndcg@10"), (int, float)):
        pairs.append(("recommender test NDCG@10", num(rec["test"]["ndcg@10"])))
    pairs += [(f"hardware: {k}", _text(v)) for k, v in results["hardware"].items()]
    pairs += [(f"time: {k}", NONE if v is None else f"{v:.1f} s") for k, v in results["timings"].items()]
    pairs += [(f"seed: {k}", str(v)) for k, v in results["seeds"].items()]
    return pairs


def run_page(sub: Submission) -> dict:
    """Template context of one run's page: scores per task, samples beside targets, provenance."""
    samples = sub.files.rows if sub.files is not None else {}
    claimed = sub.files.claimed_scores if sub.files is not None else {}
    tasks = []
    for task, block in sub.results["tasks"].items():
        control = block.get("controls", {}).get("shuffled", {})
        real = samples.get(task, {}).get("real", [])
        main = block["main_metric"]
        tasks.append(
            {
                "name": task,
                "version": block["version"],
                "n": block["n"],
                "main": main,
                "metrics": [
                    {
                        "name": name,
                        "cell": _cell(score),
                        "control": _cell(control.get(name)),
                        "gap": signed(block["gap"][name]) if name in block.get("gap", {}) else NONE,
                    }
                    for name, score in block["metrics"].items()
                ],
                "samples": [
                    {
                        "id": s.id,
                        "prompt": s.prompt,
                        "target": s.target,
                        "output": s.output,
                        "score": num(claimed[id(s)][main]) if main in claimed.get(id(s), {}) else NONE,
                    }
                    for s in real[:SAMPLES_PER_TASK]
                ],
                "total": len(real),
            }
        )
    interp = sub.results["interpreter"]
    return {
        "sub": sub,
        "kind": sub.kind_label,
        "interp": interp,
        "command": sub.results["command"],
        "tasks": tasks,
        "provenance": provenance(sub.results),
        "config": json.dumps(
            {"run": sub.results["config"], "interpreter": interp.get("config", {})},
            indent=2,
            sort_keys=True,
            ensure_ascii=False,
        ),
    }


def environment(templates: Path) -> jinja2.Environment:
    """Jinja2 with autoescaping on for every template and undefined names an error."""
    if not (templates / "index.html.j2").is_file():
        raise ConfigError(f"{templates}: no leaderboard templates here (index.html.j2 is missing)")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["breakable"] = breakable
    return env


def breakable(text: str) -> Markup:
    """``text`` escaped, with a line-break opportunity after each ``_`` (long metric names wrap)."""
    return Markup(str(escape(text)).replace("_", "_<wbr>"))


def script_globals(templates: Path) -> dict:
    """The sorter script (our own file, inserted unescaped) and its CSP hash, so no other script runs."""
    source = (templates / "sort.js").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode()
    return {"sort_js": Markup(source), "script_hash": f"sha256-{digest}"}


def _safe_to_replace(out: Path) -> bool:
    return not out.exists() or (out.is_dir() and (not any(out.iterdir()) or (out / "index.html").is_file()))


def build_site(submissions: Path, out: Path, templates: Path | None = None) -> BuildReport:
    """Render every submission under ``submissions`` into ``out`` (replaced whole, atomically).

    ``out`` must be missing, empty or a previous build (it holds index.html): anything else is refused
    rather than deleted.
    """
    out = Path(out)
    if not _safe_to_replace(out):
        raise ConfigError(
            f"{out}: exists and is not a leaderboard site (no index.html); refusing to replace it"
        )
    templates = Path(templates) if templates else TEMPLATES
    env = environment(templates)
    env.globals.update(script_globals(templates))
    subs = load_submissions(Path(submissions))
    tables = index_tables(subs)
    index_html = env.get_template("index.html.j2").render(tables=tables, runs=len(subs), root="")
    run_template = env.get_template("run.html.j2")
    with atomic_dir(out) as tmp:
        tmp.chmod(0o755)  # mkdtemp makes it private; a site is for reading
        (tmp / "index.html").write_text(index_html, encoding="utf-8")
        (tmp / "runs").mkdir()
        for sub in subs:
            html = run_template.render(**run_page(sub), root="../")
            (tmp / "runs" / f"{sub.run_id}.html").write_text(html, encoding="utf-8")
    return BuildReport(out / "index.html", len(subs), len(tables), len(subs))
