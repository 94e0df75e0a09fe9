"""``recbench ls``: what is registered, one line each."""

from __future__ import annotations

import typer
from rich.table import Table

from recbench import registry
from recbench.cli.common import out_console, user_errors
from recbench.errors import UnknownNameError

KINDS = ("recommenders", "datasets", "interpreters", "adapters", "metrics", "llms", "tasks")


def listing(kind: str) -> list[tuple[str, str]]:
    """(name, one-line description) for every registered plug-in of ``kind``."""
    if kind == "llms":
        from recbench.llms import describe_llms

        return describe_llms()
    if kind == "tasks":
        from recbench.tasks import describe_tasks

        return describe_tasks()
    if kind not in KINDS:
        raise UnknownNameError(registry.unknown_name_message("kind", kind, list(KINDS)))
    reg = registry.registry(kind)
    return [(name, reg.entry(name).description()) for name in reg.names()]


def register(app: typer.Typer) -> None:
    @app.command("ls")
    @user_errors
    def ls(
        kind: str = typer.Argument(None, help=f"One of: {', '.join(KINDS)}. All when left out."),
    ) -> None:
        """List registered recommenders, datasets, interpreters, adapters, metrics, LLMs or tasks."""
        kinds = [kind] if kind else list(KINDS)
        for k in kinds:
            rows = listing(k)
            table = Table(title=k, title_justify="left", show_header=False, box=None, pad_edge=False)
            table.add_column("name", style="bold cyan")
            table.add_column("description")
            for name, description in rows:
                table.add_row(name, description)
            out_console.print(table)
