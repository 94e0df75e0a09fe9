"""``recbench card``: a dataset's card (sizes, window counts per split, source hashes)."""

from __future__ import annotations

import json

import typer

from recbench.cli.common import (
    COLUMNS_HELP,
    INTERACTIONS_FILE_HELP,
    ITEMS_FILE_HELP,
    dataset_name,
    out_console,
    user_errors,
)


def register(app: typer.Typer) -> None:
    @app.command("card")
    @user_errors
    def card(
        dataset: str = typer.Option(
            "ml-100k", "--dataset", help="Dataset name (see `recbench ls datasets`)."
        ),
        data_dir: str = typer.Option(None, "--data-dir", help="Read the dataset from this folder."),
        columns: str = typer.Option(None, "--columns", help=COLUMNS_HELP),
        interactions_file: str = typer.Option(None, "--interactions-file", help=INTERACTIONS_FILE_HELP),
        items_file: str = typer.Option(None, "--items-file", help=ITEMS_FILE_HELP),
        window: int = typer.Option(10, "--window", help="Items per interpreter window."),
        seed: int = typer.Option(0, "--seed", help="Seed of the by-user train/valid/test split."),
    ) -> None:
        """Print a dataset's card as JSON: users, items, interactions, windows per split, sha256."""
        from recbench.data import load_dataset
        from recbench.data.splits import dataset_card

        data = load_dataset(dataset_name(dataset, columns, interactions_file, items_file), data_dir)
        out_console.print_json(json.dumps(dataset_card(data, window, seed)))
