"""The results table in the reference study's shape, with averages and the labelled reference rows.

Any category the registry holds gets its rows. A value is ``None`` where a source does not report it (shown "—") and
``NaN`` where our test split cannot define it (shown "n/a", with the reason from the run's record). Our rows also
say which false-alarm budget their thresholds were fitted to, how many normal images that rests on and the expected
false-alarm rate the evidence supports ("n/a" with the reason for runs without out-of-sample normal scores).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.registry.reference import REFERENCE_ROWS
from services.registry.run_calibration import calibration_status, percent, rate_text, stored_calibration
from services.registry.runs import NOT_AVAILABLE, Run, metric_text, sorted_categories

COLUMNS = (
    ("image_auroc", "Image AUROC"),
    ("image_f1", "Image F1"),
    ("pixel_auroc", "Pixel AUROC"),
    ("pixel_f1", "Pixel F1"),
    ("image_f1max", "Image F1Max (oracle thr.)"),
    ("pixel_f1max", "Pixel F1Max (oracle thr.)"),
    ("pixel_aupro", "Pixel AUPRO@0.3"),
)
FALSE_ALARM_COLUMNS = (
    ("false_alarm_budget", "False-alarm budget"),
    ("normals", "Normals"),
    ("false_alarm_bound", "Expected false-alarm rate"),
)
AVERAGE = "average"
NOT_REPORTED = "—"
PARTIAL_AVERAGE = "not available for every category"


@dataclass(frozen=True)
class TableRow:
    """One line of the table: whose figures, which model and category, the values (None = not reported, NaN = not
    available, with the reason in ``unavailable``)."""

    source: str
    model: str
    category: str
    values: dict[str, float | None]
    unavailable: dict[str, str] = field(default_factory=dict)
    false_alarm: dict[str, str] = field(default_factory=dict)
    """The ``FALSE_ALARM_COLUMNS`` cells of a run's row (empty elsewhere: not reported)."""


def _mean(values: list[float | None]) -> float | None:
    """The mean where every member reports a value; NaN where one is not available; else None (not reported)."""
    if any(v is not None and math.isnan(v) for v in values):
        return math.nan
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if len(present) == len(values) and present else None


def _with_averages(rows: list[TableRow]) -> list[TableRow]:
    out: list[TableRow] = []
    groups: dict[tuple[str, str], list[TableRow]] = {}
    for row in rows:
        groups.setdefault((row.source, row.model), []).append(row)
    for (source, model), members in groups.items():
        out.extend(members)
        keys = {key for member in members for key in member.values}
        average = {key: _mean([m.values.get(key) for m in members]) for key in sorted(keys)}
        missing = {key: PARTIAL_AVERAGE for key, value in average.items() if value is not None and math.isnan(value)}
        out.append(TableRow(source, model, AVERAGE, average, missing))
    return out


def false_alarm_cells(run: Run) -> dict[str, str]:
    """The budget the run's thresholds were fitted to, the normals they rest on and the expected false-alarm rate
    they support; "n/a" with the reason for a run without out-of-sample normal scores."""
    stored = stored_calibration(run)
    if stored is None:
        reason = f"{NOT_AVAILABLE}: {calibration_status(run)}"
        return {"false_alarm_budget": NOT_AVAILABLE, "normals": NOT_AVAILABLE, "false_alarm_bound": reason}
    image = stored.image
    return {
        "false_alarm_budget": f"{percent(image.budget)} %",
        "normals": str(image.n_normals),
        "false_alarm_bound": rate_text(image),
    }


def results_rows(runs: list[Run], categories: tuple[str, ...] | None = None) -> list[TableRow]:
    """Our rows (one per model and category, from the given runs) followed by averages per model; ``categories``
    chooses and orders them (default: every category of ``runs``, sorted by :func:`sorted_categories`)."""
    chosen_categories = sorted_categories(run.record.category for run in runs) if categories is None else categories
    order = {category: i for i, category in enumerate(chosen_categories)}
    chosen = sorted(
        (run for run in runs if run.record.category in order),
        key=lambda run: (run.record.model, order[run.record.category]),
    )
    rows = [
        TableRow(
            f"AnomalyLens ({run.record.dataset}, {run.record.profile})",
            run.record.model,
            run.record.category,
            {key: run.record.metrics.get(key) for key, _ in COLUMNS},
            {key: reason for key, reason in run.record.unavailable.items() if key in dict(COLUMNS)},
            false_alarm_cells(run),
        )
        for run in chosen
    ]
    return _with_averages(rows)


def reference_rows(categories: tuple[str, ...]) -> list[TableRow]:
    """The reference study's and published figures, labelled with their sources."""
    rows = [
        TableRow(reference.source, reference.model, category, dict(reference.values[category]))
        for reference in REFERENCE_ROWS
        for category in categories
        if category in reference.values
    ]
    return _with_averages(rows)


def _cell(value: float | None) -> str:
    return NOT_REPORTED if value is None else metric_text(value)


def _cells(row: TableRow) -> list[str]:
    """The row's metric cells, then its false-alarm cells."""
    metrics = [_cell(row.values.get(key)) for key, _ in COLUMNS]
    return metrics + [row.false_alarm.get(key, NOT_REPORTED) for key, _ in FALSE_ALARM_COLUMNS]


def unavailable_text(unavailable: Mapping[str, str]) -> str:
    """Why metrics are not available, grouped by reason, in the table's column order:
    ``Pixel AUROC, Pixel F1: no ground-truth masks``."""
    titles = dict(COLUMNS)
    by_reason: dict[str, list[str]] = {}
    for key in sorted(unavailable, key=[*titles, *sorted(unavailable)].index):
        by_reason.setdefault(unavailable[key], []).append(titles.get(key, key))
    return "; ".join(f"{', '.join(names)}: {reason}" for reason, names in by_reason.items())


def unavailable_notes(rows: list[TableRow]) -> list[str]:
    """One line per row with unavailable metrics: ``<model> · <category>: <what>: <why>``."""
    return [f"{row.model} · {row.category}: {unavailable_text(row.unavailable)}" for row in rows if row.unavailable]


def to_markdown(rows: list[TableRow]) -> str:
    """A Markdown table; under it, why each "n/a" is not available."""
    header = ["Source", "Model", "Category", *(title for _, title in (*COLUMNS, *FALSE_ALARM_COLUMNS))]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row.source, row.model, f"**{row.category}**" if row.category == AVERAGE else row.category]
        cells += _cells(row)
        lines.append("| " + " | ".join(cells) + " |")
    notes = unavailable_notes(rows)
    if notes:
        lines += ["", f"Not available ({NOT_AVAILABLE}):", *(f"- {n}" for n in notes)]
    return "\n".join(lines) + "\n"


def to_csv(rows: list[TableRow]) -> str:
    """CSV text with machine-readable column names."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["source", "model", "category", *(key for key, _ in (*COLUMNS, *FALSE_ALARM_COLUMNS))])
    for row in rows:
        writer.writerow([row.source, row.model, row.category, *_cells(row)])
    return buffer.getvalue()


def write_report(rows: list[TableRow], out_dir: Path) -> tuple[Path, Path]:
    """Write ``results.md`` and ``results.csv`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown, table = out_dir / "results.md", out_dir / "results.csv"
    markdown.write_text(to_markdown(rows))
    table.write_text(to_csv(rows))
    return markdown, table
