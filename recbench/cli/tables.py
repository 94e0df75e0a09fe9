"""Rich tables shared by ``run`` and ``score``."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table


def _fmt(score: dict) -> str:
    return f"{score['value']:.3f} [{score['low']:.3f}, {score['high']:.3f}]"


def scores_table(tasks: dict, title: str) -> Table:
    """One row per (task, metric): real score with 95% CI, shuffled control, gap."""
    table = Table(title=escape(title), title_justify="left")  # a dataset named csv[user=u] is not markup
    for col, justify in (("task", "left"), ("metric", "left"), ("real [95% CI]", "right"),
                         ("shuffled [95% CI]", "right"), ("gap", "right"), ("n", "right")):  # fmt: skip
        table.add_column(col, justify=justify)
    for task, block in tasks.items():
        control = block.get("controls", {}).get("shuffled", {})
        for i, (metric, score) in enumerate(block["metrics"].items()):
            gap = block.get("gap", {}).get(metric)
            separated = metric in control and (score["low"] > control[metric]["high"])
            table.add_row(
                task if i == 0 else "",
                ("* " if metric == block.get("main_metric") else "  ") + metric,
                _fmt(score),
                _fmt(control[metric]) if metric in control else "-",
                "-" if gap is None else (f"[bold green]{gap:+.3f}[/]" if separated else f"{gap:+.3f}"),
                str(score["n"]),
            )
        table.add_section()
    return table
