"""The ``recbench`` command line: one file per command group, each thin over a library call."""

from __future__ import annotations

import typer

from recbench import __version__, progress
from recbench.cli import card, leaderboard, lm_eval, ls, run, train_rec

app = typer.Typer(
    name="recbench",
    help="Can a large language model read the hidden representations of a sequential recommender?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"recbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    progress.set_enabled(not quiet)


ls.register(app)
train_rec.register(app)
card.register(app)
app.add_typer(leaderboard.app)
app.add_typer(lm_eval.app)
run.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
