"""``recbench ls``: what is registered, one line each."""

from __future__ import annotations

import typer
from rich.table import Table

from recbench import registry
from recbench.cli.common import INCLUDE_PATH_HELP, out_console, use_include_paths, user_errors
from recbench.errors import ConfigError, UnknownNameError

KINDS = ("recommenders", "datasets", "interpreters", "adapters", "metrics", "llms", "tasks")


def listing(kind: str) -> list[tuple[str, str]]:
    """(name, one-line description) for every registered plug-in of ``kind``."""
    if kind == "llms":
        from recbench.llms import describe_llms

        return describe_llms()
    if kind == "tasks":
        from recbench.tasks import describe_tasks, search_path

        rows = describe_tasks()
        if not rows:  # (task_files refuses an empty built-in folder; this guards the listing itself)
            raise ConfigError(f"no task files found in {', '.join(search_path())}")
        return rows
    if kind not in KINDS:
        raise UnknownNameError(registry.unknown_name_message("kind", kind, list(KINDS)))
    reg = registry.registry(kind)
    return [(name, reg.entry(name).description()) for name in reg.names()]


def register(app: typer.Typer) -> None:
    @app.command("ls")
    @user_errors
    def ls(
        kind: str = typer.Argument(None, help=f"One of: {', '.join(KINDS)}. All when left out."),
        include_path: list[str] = typer.Option(None, "--include-path", help=INCLUDE_PATH_HELP),
    ) -> None:
        """List registered recommenders, datasets, interpreters, adapters, metrics, LLMs or tasks."""
        use_include_paths(include_path)
        kinds = [kind] if kind else list(KINDS)
        for k in kinds:
            rows = listing(k)
            table = Table(title=k, title_justify="left", show_header=False, box=None, pad_edge=False)
            table.add_column("name", style="bold cyan")
            table.add_column("description")
            for name, description in rows:
                table.add_row(name, description)
            out_console.print(table)
