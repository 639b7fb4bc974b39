"""The ``benchmark`` command: resolve dataset, profile and device, then train every run with a live progress display."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from services.data.datasets import DATASET_RECORD, open_dataset
from services.data.synthetic import SynthConfig, generate_dataset
from services.jobs import progress as job_progress
from services.modeling.efficientad.teacher import ensure_teacher
from services.modeling.factory import profile_config
from services.modeling.model_config import concrete
from services.modeling.model_table import model_spec
from services.registry.runs import Run
from services.settings import Settings
from services.training.engine import run_benchmark


def run_benchmark_command(args: argparse.Namespace, settings: Settings) -> int:
    """Train and evaluate ``args.models`` × ``args.categories``; prints one summary line per run."""
    console = Console()
    device = settings.with_overrides(device=args.device or settings.device).resolved_device()
    root = settings.data_root / args.dataset if args.root is None else Path(args.root)
    categories = tuple(args.categories)
    if args.dataset == "synthetic" and not (root / DATASET_RECORD).is_file():
        console.print(f"generating the synthetic dataset in {root}")
        dataset = generate_dataset(root, categories=categories, config=SynthConfig(seed=settings.seed))
    else:
        dataset = open_dataset(root, categories)
    if dataset.name != args.dataset:
        raise ValueError(f"{root} holds the '{dataset.name}' dataset, not '{args.dataset}'")
    requested = {"backbone": args.backbone, "max_steps": args.steps, "teacher": args.teacher}
    configs = {
        model: profile_config(args.profile, model, settings.seed, **model_spec(model).accepted_overrides(requested))
        for model in args.models
    }
    if any(model_spec(model).uses_teacher and configs[model].teacher == "auto" for model in configs):
        ensure_teacher(settings, console.print)
    total = len(configs) * len(categories)
    console.print(
        f"benchmark: dataset [bold]{dataset.name}[/] ({dataset.fingerprint}), profile {args.profile}, device {device}, "
        f"{total} runs: " + ", ".join(concrete(config, settings).run_name() for config in configs.values())
    )
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    started = time.perf_counter()
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("starting", total=total)

        done = 0

        def on_stage(message: str) -> None:
            bar.update(task, description=message)
            job_progress.emit(done / total, message)

        def on_run_done(run: Run) -> None:
            nonlocal done
            done += 1
            bar.advance(task)
            job_progress.emit(done / total, f"{run.record.model}/{run.record.category} done")
            metrics = run.record.metrics
            bar.console.print(
                f"  {run.record.model:<11} {run.record.category:<8} image AUROC {metrics['image_auroc']:.3f}  "
                f"pixel AUROC {metrics['pixel_auroc']:.3f}  fit {run.record.timings['fit_s']:.0f} s  -> {run.path}"
            )

        run_benchmark(
            dataset,
            configs,
            categories,
            settings,
            profile=args.profile,
            device=device,
            progress=on_stage,
            on_run_done=on_run_done,
        )
    console.print(
        f"benchmark finished in {time.perf_counter() - started:.0f} s; `python -m services.cli report` prints the table"
    )
    return 0
