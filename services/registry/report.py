"""The results table in the reference study's shape, with averages and the labelled reference rows."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from services.registry.reference import REFERENCE_ROWS
from services.registry.runs import Run

COLUMNS = (
    ("image_auroc", "Image AUROC"),
    ("image_f1", "Image F1"),
    ("pixel_auroc", "Pixel AUROC"),
    ("pixel_f1", "Pixel F1"),
    ("image_f1max", "Image F1Max (oracle thr.)"),
    ("pixel_f1max", "Pixel F1Max (oracle thr.)"),
    ("pixel_aupro", "Pixel AUPRO@0.3"),
)
AVERAGE = "average"


@dataclass(frozen=True)
class TableRow:
    """One line of the table: whose figures, which model and category, the values (None = not reported)."""

    source: str
    model: str
    category: str
    values: dict[str, float | None]


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None and not math.isnan(v)]
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
        out.append(TableRow(source, model, AVERAGE, average))
    return out


def results_rows(runs: list[Run], categories: tuple[str, ...]) -> list[TableRow]:
    """Our rows (one per model and category, from the given runs) followed by averages per model."""
    order = {category: i for i, category in enumerate(categories)}
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
    return "—" if value is None or math.isnan(value) else f"{value:.3f}"


def to_markdown(rows: list[TableRow]) -> str:
    """A Markdown table."""
    header = ["Source", "Model", "Category", *(title for _, title in COLUMNS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row.source, row.model, f"**{row.category}**" if row.category == AVERAGE else row.category]
        cells += [_cell(row.values.get(key)) for key, _ in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(rows: list[TableRow]) -> str:
    """CSV text with machine-readable column names."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["source", "model", "category", *(key for key, _ in COLUMNS)])
    for row in rows:
        writer.writerow([row.source, row.model, row.category, *(_cell(row.values.get(key)) for key, _ in COLUMNS)])
    return buffer.getvalue()


def write_report(rows: list[TableRow], out_dir: Path) -> tuple[Path, Path]:
    """Write ``results.md`` and ``results.csv`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown, table = out_dir / "results.md", out_dir / "results.csv"
    markdown.write_text(to_markdown(rows))
    table.write_text(to_csv(rows))
    return markdown, table
