"""``recbench lm-eval export | run``: recbench tasks in EleutherAI's lm-eval (``pip install 'recbench[lm-eval]'``)."""

from __future__ import annotations

from pathlib import Path

import typer

from recbench.cli.common import out_console, user_errors

app = typer.Typer(
    name="lm-eval",
    help="Evaluate a run's interpreter with lm-eval: export its tasks, or run them (see docs/lm_eval.md).",
    no_args_is_help=True,
)


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
) -> None:
    """Write the run's tasks as lm-eval tasks (generated from tasks/*.yaml) with one docs JSONL each."""
    from recbench.integrations.lm_eval.export import export_tasks

    names = export_tasks(run, out, _split(tasks), controls=controls)
    out_console.print(f"wrote {len(names)} lm-eval tasks to {out}: {', '.join(names)}")
    out_console.print(
        "evaluate them with: python -m recbench.integrations.lm_eval run --model recbench "
        f"--model_args run={run} --tasks recbench{',recbench_shuffled' if controls else ''} --include_path {out}"
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
) -> None:
    """Export RUN's tasks, evaluate them through lm_eval.simple_evaluate, compare with its results.json."""
    import json

    from rich.table import Table

    from recbench.cache import atomic_write_text
    from recbench.integrations.lm_eval.runner import compare_with_run, evaluate_with_lm_eval
    from recbench.results import load_results

    claimed = load_results(run_dir)
    results = evaluate_with_lm_eval(
        run_dir, _split(tasks), controls=controls, gen_cache=gen_cache, device=device
    )
    rows = compare_with_run(results, claimed)
    table = Table(title=f"lm-eval on {claimed['run_id']}", title_justify="left")
    for col in ("lm-eval task", "metric", "lm-eval", "results.json", ""):
        table.add_column(col)
    for name, metric, value, recorded, same in rows:
        table.add_row(
            name,
            metric,
            f"{value:.4f}",
            "-" if recorded is None else f"{recorded:.4f}",
            "=" if same else "differs",
        )
    out_console.print(table)
    if out:
        from lm_eval.utils import handle_non_serializable

        results.pop("samples", None)
        atomic_write_text(out, json.dumps(results, indent=2, default=handle_non_serializable) + "\n")
        out_console.print(f"lm-eval results: {out}")
    differ = [f"{n}.{m}" for n, m, _, _, same in rows if not same]
    if differ:
        out_console.print(f"[yellow]differs from results.json:[/] {', '.join(differ)}")
    else:
        out_console.print("[green]matches results.json[/]")
