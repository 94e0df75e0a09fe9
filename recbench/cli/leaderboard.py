"""``recbench leaderboard submit | validate | build``: the public leaderboard's three steps."""

from __future__ import annotations

from pathlib import Path

import typer

from recbench.cli.common import user_errors
from recbench.errors import RecbenchError

SUBMISSIONS = Path("leaderboard/submissions")
SITE = Path("leaderboard/site")


class ValidationFailed(RecbenchError):
    """Some submissions are invalid (their defects are printed above); exit status 1."""

    exit_code = 1


app = typer.Typer(
    name="leaderboard",
    help="Submit runs to the leaderboard, validate submissions (re-scored from samples), build the site.",
    no_args_is_help=True,
)


@app.command("submit")
@user_errors
def submit(
    run: Path = typer.Argument(..., help="A run folder written by `recbench run` (runs/<run-id>)."),
    to: Path = typer.Option(SUBMISSIONS, "--to", help="The submissions folder."),
    force: bool = typer.Option(False, "--force", help="Replace an existing submission of the same run."),
) -> None:
    """Validate RUN, then copy it to <to>/<interpreter-slug>/<run-id>/ (large samples gzip-compressed)."""
    from recbench.leaderboard.submit import InvalidSubmission, submit_run

    try:
        dest, packed = submit_run(run, to, force=force)
    except InvalidSubmission as exc:
        for line in exc.defects:
            typer.echo(line, err=True)
        raise
    typer.echo(f"submitted {dest}" + (" (samples gzip-compressed)" if packed else ""))
    typer.echo(f"next: recbench leaderboard validate {dest} && recbench leaderboard build")


@app.command("validate")
@user_errors
def validate(
    paths: list[Path] = typer.Argument(
        None, help="Run folders, or folders to search for them. Default: every run under --submissions."
    ),
    submissions: Path = typer.Option(
        SUBMISSIONS,
        "--submissions",
        help="The submissions root: a run inside it must sit at <root>/<slug>/<run-id>.",
    ),
) -> None:
    """Check runs and re-score them from their samples; exit 1 when any is invalid.

    Checks: files (5 MiB cap each), schema, safe names, known metrics, and that re-scoring the samples
    reproduces every claimed number. Prints `ok PATH` per valid run, one line per defect otherwise.
    """
    from recbench.leaderboard.validate import find_run_folders, validate_run

    if not paths and not submissions.is_dir():
        typer.echo(f"no submissions: {submissions} does not exist")
        return
    folders = find_run_folders(paths or [submissions])
    if not folders:
        if paths:
            raise RecbenchError(
                f"no run folders (results.json, samples.jsonl) under {', '.join(map(str, paths))}"
            )
        typer.echo(f"no submissions under {submissions}")
        return
    contexts: dict = {}
    bad = 0
    for folder in folders:
        defects = validate_run(folder, submissions=submissions, contexts=contexts)
        if defects:
            bad += 1
            for line in defects:
                typer.echo(line, err=True)
        else:
            typer.echo(f"ok {folder}")
    if bad:
        raise ValidationFailed(f"{bad} of {len(folders)} run(s) failed validation")


@app.command("build")
@user_errors
def build(
    submissions: Path = typer.Option(SUBMISSIONS, "--submissions", help="The submissions folder."),
    out: Path = typer.Option(SITE, "--out", help="Where to write the site (replaced whole)."),
    templates: Path = typer.Option(
        None, "--templates", help="Jinja2 templates (default: the ones shipped in recbench)."
    ),
) -> None:
    """Render the submissions into a static site (index.html + runs/<run-id>.html) for file:// or any host."""
    from recbench.leaderboard.site import build_site

    report = build_site(submissions, out, templates)
    typer.echo(f"built {report.index}: {report.runs} runs, {report.tables} tables, {report.pages} run pages")
