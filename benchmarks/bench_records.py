"""Inspection records: records written per second and the History page's queries at 100k records, SQLite and
PostgreSQL side by side.

Usage: ``python -m benchmarks.bench_records [--records 100000] [--per-record 300] [--batched 5000] [--repeats 5]
[--postgres-url URL]``

PostgreSQL is ``--postgres-url``, else ``ANOMALYLENS_TEST_POSTGRES_URL``, else a throwaway server started (and
stopped at the end) by ``scripts/start_test_postgres.sh``; the bench works in a database of its own, dropped at the
end. SQLite is the default file under a temporary registry. Each backend, in turn:

* ``per record``: ``RecordStore.record`` with one record and its image (a fresh 4 kB image each), the Inspect page's
  path for one upload judged by one model, ``--per-record`` times;
* ``batched``: ``RecordStore.record`` with 500 records at a time (a burst, as the folder watcher writes), up to
  ``--batched`` records;
* the rest up to ``--records`` by a bulk insert of generated rows (one executemany per 10,000 rows; not timed as a
  rate the app reaches, only so that the queries run at that size);
* the History page's queries at that size, median of ``--repeats``: ``filter_choices``, ``RecordStore.count``,
  ``RecordStore.query`` (the newest 1,000) and ``trend``, the four calls ``pages/history.py`` makes, with its default
  filters (all time, everything) and with one filtered case (one product, verdict NG, last 7 days; foreign parts
  apart, as the page's NG choice asks);
* with ``--before REVISION``: the queries are timed first with the schema taken back to ``REVISION`` (a later
  migration's indexes dropped, the records kept), then again after ``migrate`` brings it to the newest revision.

Records are spread over the last 90 days: three products, both models, 40 lots, 5 operators (and none), 95 % OK,
3 % NG, 1.5 % REVIEW, 0.5 % foreign parts; NG and REVIEW records have one region.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from alembic import command
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from services.data.synthetic import SYNTHETIC_CATEGORIES
from services.modeling.model_table import MODEL_NAMES
from services.postprocessing.verdict import Verdict
from services.records.database import alembic_config, head_revision, migrate
from services.records.history import filter_choices, trend
from services.records.query import RecordFilter
from services.records.record import InspectionRecord, RegionSummary
from services.records.schema import InspectionRow
from services.records.store import RecordStore
from services.settings import PROJECT_ROOT, Settings

SPAN = timedelta(days=90)
LOTS = tuple(f"L{index:03d}" for index in range(40))
OPERATORS = (None, "ana", "ben", "chen", "dana", "eli")
VERDICT_SHARES = ((Verdict.OK, 0.955), (Verdict.NG, 0.03), (Verdict.REVIEW, 0.015))
FOREIGN_SHARE = 0.005
IMAGE_BYTES = 4096
BATCH = 500
BULK_ROWS = 10_000
POSTGRES_SCRIPT = PROJECT_ROOT / "scripts" / "start_test_postgres.sh"


class RecordMaker:
    """Generated records, reproducible from the seed."""

    def __init__(self, seed: int, now: datetime) -> None:
        self.rng = np.random.default_rng(seed)
        self.now = now

    def make(self) -> InspectionRecord:
        """One record at a random moment of the last 90 days."""
        rng = self.rng
        verdicts, shares = zip(*VERDICT_SHARES, strict=True)
        verdict = verdicts[int(rng.choice(len(verdicts), p=shares))]
        product = SYNTHETIC_CATEGORIES[int(rng.integers(len(SYNTHETIC_CATEGORIES)))]
        model = MODEL_NAMES[int(rng.integers(len(MODEL_NAMES)))]
        score = {Verdict.OK: 0.3, Verdict.NG: 0.8, Verdict.REVIEW: 0.55}[verdict] + float(rng.normal(0, 0.05))
        regions = () if verdict == Verdict.OK else (RegionSummary((4, 5, 10, 12), 96, score),)
        part = f"P{int(rng.integers(1_000_000)):06d}"
        return InspectionRecord(
            id=str(uuid.uuid4()),
            recorded_at=self.now - SPAN * float(rng.random()),
            station=f"line-{int(rng.integers(1, 4))}",
            part_id=part,
            lot_id=LOTS[int(rng.integers(len(LOTS)))],
            operator=OPERATORS[int(rng.integers(len(OPERATORS)))],
            image_sha256=rng.bytes(32).hex(),
            image_name=f"{part}.png",
            product=product,
            model=model,
            run_id=f"synthetic/{model}/{product}/bench",
            checkpoint_sha256="cd" * 32,
            backbone="tf_efficientnet_lite0",
            backend="openvino",
            precision="f32",
            raw_score=score * 4,
            score=score,
            threshold_lower=0.5,
            threshold_upper=0.5,
            threshold_pixel=0.6,
            verdict=verdict,
            false_alarm_budget=0.01,
            regions=regions,
            neighbour_vote=None,
            foreign_part=bool(rng.random() < FOREIGN_SHARE),
        )


@dataclass(frozen=True)
class QueryTimes:
    """Median milliseconds of each History call, and of the four together (what one page run waits for)."""

    choices: float
    count: float
    listing: float
    trend: float

    @property
    def page(self) -> float:
        return self.choices + self.count + self.listing + self.trend


@dataclass(frozen=True)
class BackendResult:
    """What one backend measured."""

    name: str
    per_record_rate: float
    batched_rate: float
    bulk_rate: float
    records: int
    queries: dict[str, QueryTimes]
    """By case (``default``, ``filtered``), with ``--before`` also by schema revision."""


def _median_ms(call: Callable[[], object], repeats: int) -> float:
    call()  # warm the connection pool and the database's caches
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def history_queries(store: RecordStore, record_filter: RecordFilter, now: datetime, repeats: int) -> QueryTimes:
    """The calls ``pages/history.py`` makes for ``record_filter``, each timed."""
    return QueryTimes(
        choices=_median_ms(lambda: filter_choices(store), repeats),
        count=_median_ms(lambda: store.count(record_filter), repeats),
        listing=_median_ms(lambda: store.query(record_filter), repeats),
        trend=_median_ms(lambda: trend(store, record_filter, now=now), repeats),
    )


def query_cases(now: datetime) -> dict[str, RecordFilter]:
    """The page's default filters, and one filtered case."""
    return {
        "default": RecordFilter(),
        "filtered": RecordFilter(
            start=now - timedelta(days=7), product=SYNTHETIC_CATEGORIES[0], verdict=Verdict.NG, foreign=False
        ),
    }


def _downgrade(store: RecordStore, revision: str) -> None:
    """The schema taken back to ``revision`` (a later migration's indexes dropped), the records kept."""
    config = alembic_config()
    with store.writing() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def _timed_cases(store: RecordStore, now: datetime, repeats: int, suffix: str) -> dict[str, QueryTimes]:
    """Each query case timed on the schema as it is (PostgreSQL's statistics refreshed first, as autovacuum would
    after a bulk load)."""
    if store.engine.dialect.name == "postgresql":
        with store.writing() as connection:
            connection.execute(text("ANALYZE"))
    return {
        case + suffix: history_queries(store, record_filter, now, repeats)
        for case, record_filter in query_cases(now).items()
    }


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def measure(name: str, settings: Settings, args: argparse.Namespace, now: datetime) -> BackendResult:
    """Write, fill and query one backend."""
    store = RecordStore(settings)
    maker = RecordMaker(args.seed, now)
    images = np.random.default_rng(args.seed + 1)
    singles = [maker.make() for _ in range(args.per_record)]
    pictures = [images.bytes(IMAGE_BYTES) for _ in singles]
    started = time.perf_counter()
    for record, picture in zip(singles, pictures, strict=True):
        store.record([record], {record.image_sha256: picture})
    per_record = _rate(args.per_record, time.perf_counter() - started)
    bursts = [[maker.make() for _ in range(BATCH)] for _ in range(0, args.batched, BATCH)]
    started = time.perf_counter()
    for burst in bursts:
        store.record(burst)
    batched = _rate(args.batched, time.perf_counter() - started)
    filled, seconds = 0, 0.0
    while filled < args.records - args.per_record - args.batched:
        rows = [
            maker.make().to_row() for _ in range(min(BULK_ROWS, args.records - args.per_record - args.batched - filled))
        ]
        started = time.perf_counter()
        with store.writing() as connection:
            connection.execute(insert(InspectionRow), rows)
        seconds += time.perf_counter() - started
        filled += len(rows)
    bulk = _rate(filled, seconds)
    total = store.count()
    queries = {}
    if args.before:
        _downgrade(store, args.before)
        queries.update(_timed_cases(store, now, args.repeats, f" at {args.before}"))
        migrate(store.engine)
    queries.update(_timed_cases(store, now, args.repeats, f" at {head_revision()}" if args.before else ""))
    store.close()
    return BackendResult(name, per_record, batched, bulk, total, queries)


def _postgres_admin_url(given: str) -> tuple[str, Callable[[], None]]:
    """The server to use and how to stop it (nothing, unless this bench started it)."""
    url = given or os.environ.get("ANOMALYLENS_TEST_POSTGRES_URL", "")
    if url:
        return url, lambda: None
    output = subprocess.run(["bash", str(POSTGRES_SCRIPT), "start"], check=True, capture_output=True, text=True)
    variables = dict(line.removeprefix("export ").split("=", 1) for line in output.stdout.splitlines())
    folder = variables["ANOMALYLENS_TEST_POSTGRES_DIR"]
    return variables["ANOMALYLENS_TEST_POSTGRES_URL"], lambda: subprocess.run(
        ["bash", str(POSTGRES_SCRIPT), "stop", folder], check=True, capture_output=True
    )


def _print_table(results: list[BackendResult]) -> None:
    names = [result.name for result in results]
    width = 26
    print(f"{'':{width}}" + "".join(f"{name:>14}" for name in names))
    print(f"{'records in the table':{width}}" + "".join(f"{result.records:>14,}" for result in results))
    for label, attribute in (
        ("records/s, per record", "per_record_rate"),
        (f"records/s, {BATCH} per write", "batched_rate"),
        ("records/s, bulk fill", "bulk_rate"),
    ):
        print(f"{label:{width}}" + "".join(f"{getattr(result, attribute):>14,.0f}" for result in results))
    for case in results[0].queries:
        print(f"History, {case} (ms, median)")
        for label, attribute in (
            ("  filter choices", "choices"),
            ("  count", "count"),
            ("  newest 1,000", "listing"),
            ("  trend", "trend"),
            ("  page total", "page"),
        ):
            cells = "".join(f"{getattr(result.queries[case], attribute):>14.1f}" for result in results)
            print(f"{label:{width}}{cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--per-record", type=int, default=300)
    parser.add_argument("--batched", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--postgres-url", default="", help="a server to create the bench's database on")
    parser.add_argument("--before", default="", help="time the queries at this schema revision, then at the newest")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    if args.records < args.per_record + args.batched:
        parser.error("--records must be at least --per-record plus --batched")
    now = datetime.now(UTC)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-records-") as folder:
        base = Settings(registry_dir=Path(folder) / "models", data_root=Path(folder) / "data", station="bench")
        if "sqlite" in args.backends:
            results.append(measure("sqlite", base, args, now))
            print(f"sqlite done: {results[-1].records:,} records", flush=True)
        if "postgresql" in args.backends:
            admin_url, stop = _postgres_admin_url(args.postgres_url)
            name = f"bench_records_{uuid.uuid4().hex[:8]}"
            admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
            try:
                with admin.connect() as connection:
                    connection.execute(text(f'CREATE DATABASE "{name}"'))
                url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
                postgres = base.with_overrides(registry_dir=Path(folder) / "pg-models", database_url=url)
                results.append(measure("postgresql", postgres, args, now))
            finally:
                with admin.connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
                stop()
    _print_table(results)


if __name__ == "__main__":
    main()
