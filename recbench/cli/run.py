"""``recbench run``: the whole benchmark for one recommender × interpreter; ``recbench score``: re-score a run."""

from __future__ import annotations

import typer

from recbench.cli.common import (
    COLUMNS_HELP,
    INCLUDE_PATH_HELP,
    INTERACTIONS_FILE_HELP,
    ITEMS_FILE_HELP,
    THREADS_HELP,
    dataset_name,
    out_console,
    set_threads,
    use_include_paths,
    user_errors,
)
from recbench.cli.tables import scores_table


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def register(app: typer.Typer) -> None:
    @app.command("run")
    @user_errors
    def run(
        rec: str = typer.Option("sasrec", "--rec", help="Recommender (see `recbench ls recommenders`)."),
        llm: str = typer.Option(None, "--llm", help="LLM name, hub id or path (default: smollm2-135m)."),
        tasks: list[str] = typer.Option(
            None, "--tasks", "-t", help="Tasks to evaluate, comma separated (default: all four)."
        ),
        train_tasks: list[str] = typer.Option(
            None,
            "--train-tasks",
            help="Tasks the interpreter is trained on, comma separated (default: the profile's four, "
            "so --tasks alone reuses the profile's trained interpreter).",
        ),
        include_path: list[str] = typer.Option(None, "--include-path", help=INCLUDE_PATH_HELP),
        interpreter: str = typer.Option(
            None, "--interpreter", help="Interpreter: llm or a baseline (default: llm)."
        ),
        adapter: str = typer.Option(None, "--adapter", help="Adapter (see `recbench ls adapters`)."),
        adapter_option: list[str] = typer.Option(
            None, "--adapter-option", help="KEY=VALUE adapter option, repeatable (e.g. hidden=256)."
        ),
        align_steps: int = typer.Option(None, "--align-steps", help="Adapter-only title alignment steps."),
        lora: bool = typer.Option(
            None,
            "--lora/--no-lora",
            help="Also train LoRA (r=8 on q_proj, v_proj), as the fast profile does; --no-lora: the adapter "
            "alone (faster to train, reads less).",
            show_default=False,
        ),
        train_precision: str = typer.Option(
            None,
            "--train-precision",
            help="LLM arithmetic while the adapter trains: bf16 (default; fast on CPUs with AMX or "
            "AVX512-BF16) or fp32. Generation is fp32 on CPU either way.",
        ),
        profile: str = typer.Option("fast", "--profile", help="fast (CPU budget) or paper (RecInterpreter)."),
        dataset: str = typer.Option(None, "--dataset", help="Dataset (default: ml-100k)."),
        data_dir: str = typer.Option(None, "--data-dir", help="Read the dataset from this folder."),
        columns: str = typer.Option(None, "--columns", help=COLUMNS_HELP),
        interactions_file: str = typer.Option(None, "--interactions-file", help=INTERACTIONS_FILE_HELP),
        items_file: str = typer.Option(None, "--items-file", help=ITEMS_FILE_HELP),
        window: int = typer.Option(None, "--window", help="Items per window."),
        limit: int = typer.Option(None, "--limit", help="Test instances per task."),
        steps: int = typer.Option(None, "--steps", help="Adapter training steps."),
        batch_size: int = typer.Option(None, "--batch-size", help="Adapter training batch size."),
        lr: float = typer.Option(None, "--lr", help="Adapter learning rate."),
        seed: int = typer.Option(None, "--seed"),
        device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:N or auto."),
        threads: int = typer.Option(None, "--threads", min=1, help=THREADS_HELP),
        out: str = typer.Option("runs", "--out", help="Folder for run folders."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Recompute everything, ignoring caches."),
        num_processes: int = typer.Option(
            1,
            "--num-processes",
            help="Run data-parallel in N local processes: generation (same results) and adapter training "
            "(N becomes part of the run id; see --train-processes).",
        ),
        train_processes: int = typer.Option(
            None,
            "--train-processes",
            help="Processes adapter training is shared over: 1, or all of them (the default). 1 keeps "
            "one-process training, so --num-processes N only shards generation and the run id is N=1's.",
        ),
    ) -> None:
        """Train (or load) recommender and interpreter, run the tasks, score them, write runs/<run-id>/."""
        from recbench.recommenders.train import resolve_device
        from recbench.run import evaluate
        from recbench.run.pipeline import current_command
        from recbench.run.spec import LORA, default_adapter_options, parse_options

        use_include_paths(include_path)
        set_threads(threads)
        device = resolve_device(device)
        adapter_options = None
        if adapter_option:  # on top of the options the profile gives this adapter
            adapter_options = {**default_adapter_options(profile, adapter), **parse_options(adapter_option)}
        results = evaluate(
            rec,
            llm,
            _split(tasks),
            profile=profile,
            out_dir=out,
            device=device,
            overwrite=overwrite,
            command=current_command(),
            interpreter=interpreter,
            train_tasks=_split(train_tasks),
            adapter=adapter,
            adapter_options=adapter_options,
            align_steps=align_steps,
            lora=dict(LORA) if lora else lora,  # None: the profile's; False: off
            train_precision=train_precision,
            dataset=dataset_name(dataset, columns, interactions_file, items_file),  # csv[user=user_id,...]
            data_dir=data_dir,
            window=window,
            limit=limit,
            steps=steps,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            num_processes=num_processes,
            train_processes=train_processes,
        )
        if results is None:  # a rank other than 0 under accelerate launch / torchrun: rank 0 reports
            return
        rec_m = results["recommender"]["test"]
        out_console.print(
            f"recommender {results['recommender']['name']}: HR@10 {rec_m['hr@10']:.4f}, NDCG@10 {rec_m['ndcg@10']:.4f}"
        )
        label = results["interpreter"]["label"]
        out_console.print(scores_table(results["tasks"], f"{label} on {results['dataset']['name']}"))
        timings = ", ".join(f"{k} {v:.1f}s" for k, v in results["timings"].items())
        out_console.print(f"wall time: {timings}")
        out_console.print(f"results: {out}/{results['run_id']}/results.json")

    @app.command("score")
    @user_errors
    def score(
        run_dir: str = typer.Argument(..., help="A run folder (holding results.json and samples.jsonl)."),
        write: bool = typer.Option(False, "--write", help="Write the recomputed scores into results.json."),
    ) -> None:
        """Re-score a run's saved samples (no model is loaded) and compare with its results.json."""
        import json
        from pathlib import Path

        from recbench.cache import atomic_write_text
        from recbench.results import rescore_run
        from recbench.results.compare import compare_task

        claimed, recomputed = rescore_run(Path(run_dir))
        for task, block in recomputed.items():
            block["main_metric"] = claimed["tasks"][task].get("main_metric")
        out_console.print(scores_table(recomputed, f"re-scored {claimed['run_id']}"))
        differ = [
            problem
            for task, block in recomputed.items()
            for problem in compare_task(task, claimed["tasks"][task], block)
        ]
        if write:
            for task, block in recomputed.items():
                claimed["tasks"][task].update(block)
            atomic_write_text(
                Path(run_dir) / "results.json", json.dumps(claimed, indent=2, ensure_ascii=False) + "\n"
            )
            out_console.print("results.json updated")
        elif differ:
            out_console.print("[yellow]differs from results.json:[/]", markup=True)
            for problem in differ:
                out_console.print(f"  {problem}", markup=False)
        else:
            out_console.print("[green]matches results.json[/]")
