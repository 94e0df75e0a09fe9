"""``recbench train-rec``: fit a recommender (or load it from the cache) and report its ranking."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from recbench.cli.common import (
    COLUMNS_HELP,
    INTERACTIONS_FILE_HELP,
    ITEMS_FILE_HELP,
    THREADS_HELP,
    dataset_name,
    out_console,
    set_threads,
    user_errors,
)


def register(app: typer.Typer) -> None:
    @app.command("train-rec")
    @user_errors
    def train_rec(
        rec: str = typer.Option("sasrec", "--rec", help="Recommender name (see `recbench ls recommenders`)."),
        dataset: str = typer.Option(
            "ml-100k", "--dataset", help="Dataset name (see `recbench ls datasets`)."
        ),
        data_dir: str = typer.Option(None, "--data-dir", help="Read the dataset from this folder."),
        columns: str = typer.Option(None, "--columns", help=COLUMNS_HELP),
        interactions_file: str = typer.Option(None, "--interactions-file", help=INTERACTIONS_FILE_HELP),
        items_file: str = typer.Option(None, "--items-file", help=ITEMS_FILE_HELP),
        max_len: int = typer.Option(
            None, "--max-len", help="Longest history the recommender reads (default: 50)."
        ),
        epochs: int = typer.Option(
            None, "--epochs", help="Most training epochs, with early stopping on valid (default: 200)."
        ),
        seed: int = typer.Option(0, "--seed"),
        device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:N or auto."),
        threads: int = typer.Option(None, "--threads", min=1, help=THREADS_HELP),
        overwrite: bool = typer.Option(
            False, "--overwrite", help="Retrain even if a cached checkpoint exists."
        ),
    ) -> None:
        """Train a sequential recommender; print full-ranking HR/NDCG beside a popularity baseline."""
        from recbench import registry
        from recbench.data import load_dataset
        from recbench.recommenders.train import train_recommender

        registry.recommenders.get(rec)  # fail on a bad name before any data is read
        set_threads(threads)
        data = load_dataset(dataset_name(dataset, columns, interactions_file, items_file), data_dir)
        card = data.card()
        out_console.print(
            f"dataset [bold]{escape(card['name'])}[/]: {card['users']} users, {card['items']} items, "
            f"{card['interactions']} interactions (sha256 {card['sha256'][:12]})"
        )
        trained = train_recommender(
            data, rec, max_len=max_len, epochs=epochs, seed=seed, device=device, overwrite=overwrite
        )
        how = (
            f"loaded from cache in {trained.load_seconds:.2f} s"
            if trained.from_cache
            else f"trained in {trained.train_seconds:.1f} s ({trained.model.history.get('epochs')} epochs)"
        )
        out_console.print(f"{trained.name}: {how}; checkpoint {trained.checkpoint}")
        table = Table(
            title=f"leave-one-out test, full ranking over {data.n_items} items (n={trained.test['n']})"
        )
        table.add_column("model")
        for col in ("HR@10", "NDCG@10", "HR@20", "NDCG@20"):
            table.add_column(col, justify="right")
        for label, m in ((trained.name, trained.test), ("popularity", trained.popularity)):
            table.add_row(label, *(f"{m[k]:.4f}" for k in ("hr@10", "ndcg@10", "hr@20", "ndcg@20")))
        out_console.print(table)
