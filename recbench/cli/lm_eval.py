"""``recbench lm-eval export | run | <lm-eval's own options>``: recbench tasks in EleutherAI's lm-eval.

``recbench lm-eval --model recbench --model_args run=RUN --tasks recbench --include_path DIR`` (any of
lm-eval's options, with or without lm-eval's ``run`` command word) is lm-eval's own command line with
the ``recbench`` model registered: :mod:`recbench.integrations.lm_eval.harness`, as ``python -m
recbench.integrations.lm_eval``.
"""

from __future__ import annotations

from pathlib import Path

import typer
from typer.core import TyperGroup

from recbench.cli.common import INCLUDE_PATH_HELP, out_console, use_include_paths, user_errors

HARNESS = "lm-eval-cli"  # the hidden command that hands its arguments to lm-eval's parser


def _is_harness_call(args: list[str]) -> bool:
    """lm-eval's options (``--model ...``), optionally after lm-eval's command words ``run``, ``ls``, ``validate``."""
    if not args:
        return False
    if args[0] in ("ls", "validate"):
        return True
    rest = args[1:] if args[0] == "run" else args
    return any(a == "--model" or a.startswith("--model=") or a == "--config" for a in rest)


class _Group(TyperGroup):
    """Sends lm-eval's own command lines to the hidden harness command; everything else is recbench's."""

    def parse_args(self, ctx, args):
        if _is_harness_call(list(args)):
            args = [HARNESS, *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    name="lm-eval",
    cls=_Group,
    help=(
        "Evaluate a run's interpreter with lm-eval: export its tasks, run them and compare with results.json, "
        "or give lm-eval's own options (recbench lm-eval --model recbench --model_args run=RUN --tasks ... "
        "--include_path ...; see docs/lm_eval.md)."
    ),
    no_args_is_help=True,
)


@app.command(
    HARNESS,
    hidden=True,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
)
def harness(ctx: typer.Context) -> None:
    """lm-eval's command line with the recbench model registered (python -m recbench.integrations.lm_eval)."""
    from recbench.integrations.lm_eval.harness import main

    code = main(list(ctx.args))
    if code:
        raise typer.Exit(code)


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


@app.command("export")
@user_errors
def export(
    run: Path = typer.Argument(..., help="A run folder (runs/<run-id>)."),
    out: Path = typer.Option(..., "--out", help="Folder for the lm-eval task YAMLs and docs."),
    tasks: list[str] = typer.Option(
        None, "--tasks", "-t", help="Tasks, comma separated (default: all the run's)."
    ),
    controls: bool = typer.Option(
        True, "--controls/--no-controls", help="Also the shuffled-latent controls."
    ),
    include_path: list[str] = typer.Option(None, "--include-path", help=INCLUDE_PATH_HELP),
) -> None:
    """Write the run's tasks as lm-eval tasks (generated from recbench's task files) with one docs JSONL each."""
    from recbench.integrations.lm_eval.export import export_tasks

    use_include_paths(include_path)
    names = export_tasks(run, out, _split(tasks), controls=controls)
    out_console.print(f"wrote {len(names)} lm-eval tasks to {out}: {', '.join(names)}")
    tags = "recbench" + (",recbench_shuffled" if controls else "")
    out_console.print(
        "evaluate them with: python -m recbench.integrations.lm_eval --model recbench "
        f"--model_args run={run} --tasks {tags} --include_path {out}"
    )
    out_console.print(
        f"(or lm-eval's own command: lm_eval --model recbench --model_args run={run} --tasks {out})"
    )


@app.command("run")
@user_errors
def run(
    run_dir: Path = typer.Argument(..., metavar="RUN", help="A run folder (runs/<run-id>)."),
    tasks: list[str] = typer.Option(
        None, "--tasks", "-t", help="Tasks, comma separated (default: all the run's)."
    ),
    controls: bool = typer.Option(
        True, "--controls/--no-controls", help="Also the shuffled-latent controls."
    ),
    gen_cache: bool = typer.Option(True, "--gen-cache/--no-gen-cache", help="Reuse cached generations."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:N or auto."),
    out: Path = typer.Option(None, "--out", help="Write lm-eval's results JSON here."),
    include_path: list[str] = typer.Option(None, "--include-path", help=INCLUDE_PATH_HELP),
) -> None:
    """Export RUN's tasks, evaluate them through lm_eval.simple_evaluate, compare with its results.json."""
    import json

    from rich.table import Table

    from recbench.cache import atomic_write_text
    from recbench.integrations.lm_eval.runner import compare_with_run, evaluate_with_lm_eval
    from recbench.results import load_results

    use_include_paths(include_path)
    claimed = load_results(run_dir)
    results = evaluate_with_lm_eval(
        run_dir, _split(tasks), controls=controls, gen_cache=gen_cache, device=device
    )
    rows = compare_with_run(results, claimed)
    table = Table(title=f"lm-eval on {claimed['run_id']}", title_justify="left")
    for col in ("lm-eval task", "metric", "lm-eval [95% CI]", "gap", "results.json", ""):
        table.add_column(col, overflow="fold")
    for row in rows:
        recorded = row["recorded"]
        table.add_row(
            row["task"],
            row["metric"],
            _interval(row["lm"]),
            _gap(row["lm"]),
            f"{recorded['value']:.4f}" if "value" in recorded else "-",
            "=" if row["same"] else "differs",  # value, interval, stderr, control and gap alike
        )
    out_console.print(table)
    if out:
        from lm_eval.utils import handle_non_serializable

        results.pop("samples", None)
        atomic_write_text(out, json.dumps(results, indent=2, default=handle_non_serializable) + "\n")
        out_console.print(f"lm-eval results: {out}")
    differ = [f"{r['task']}.{r['metric']}" for r in rows if not r["same"]]
    if differ:
        out_console.print(f"[yellow]differs from results.json:[/] {', '.join(differ)}")
    else:
        out_console.print("[green]matches results.json[/]")


def _interval(score: dict) -> str:
    if "value" not in score:
        return "-"
    if "low" in score and "high" in score:
        return f"{score['value']:.4f} [{score['low']:.3f}, {score['high']:.3f}]"
    return f"{score['value']:.4f}"


def _gap(score: dict) -> str:
    return f"{score['gap']:+.4f}" if "gap" in score else ""
