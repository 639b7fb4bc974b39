"""The results table: our rows with averages, reference rows labelled as reported elsewhere."""

from __future__ import annotations

from pathlib import Path

from services.registry.reference import REFERENCE_STUDY
from services.registry.report import AVERAGE, reference_rows, results_rows, to_csv, to_markdown, write_report
from services.registry.runs import Run, RunMetrics


def _run(model: str, category: str, auroc: float) -> Run:
    metrics = dict.fromkeys(
        ("image_auroc", "image_f1", "image_f1max", "pixel_auroc", "pixel_f1", "pixel_f1max", "pixel_aupro"), auroc
    )
    record = RunMetrics(
        dataset="synthetic",
        dataset_version="1",
        dataset_fingerprint="f",
        model=model,
        category=category,
        run="r",
        profile="demo",
        metrics=metrics,
        thresholds={},
        config={},
        protocol={},
        timings={},
        versions={},
        created_at="2026-11-29T00:00:00+00:00",
        device="cpu",
    )
    return Run(path=Path("/nowhere"), record=record)


def test_rows_follow_category_order_and_average_per_model() -> None:
    runs = [_run("patchcore", "grid", 0.9), _run("patchcore", "tile", 1.0), _run("efficientad", "tile", 0.8)]
    rows = results_rows(runs, ("tile", "leather", "grid"))
    patchcore = [row for row in rows if row.model == "patchcore"]
    assert [row.category for row in patchcore] == ["tile", "grid", AVERAGE]
    assert patchcore[-1].values["image_auroc"] == 0.95
    assert all(row.source == "AnomalyLens (synthetic, demo)" for row in rows)


def test_reference_rows_are_labelled_and_averaged() -> None:
    rows = reference_rows(("tile", "leather", "grid"))
    study = [row for row in rows if row.source == REFERENCE_STUDY and row.model == "efficientad"]
    assert [row.category for row in study] == ["tile", "leather", "grid", AVERAGE]
    assert abs(study[-1].values["image_auroc"] - (0.996 + 0.622 + 0.720) / 3) < 1e-9
    published = [row for row in rows if row.source.startswith("published") and row.category == AVERAGE]
    assert published and all(row.values["image_f1"] is None or row.model == "efficientad" for row in published)


def test_markdown_and_csv_render_missing_values_as_dashes(tmp_path: Path) -> None:
    rows = results_rows([_run("patchcore", "tile", 0.5)], ("tile",)) + reference_rows(("tile",))
    markdown = to_markdown(rows)
    assert "| AnomalyLens (synthetic, demo) | patchcore | tile | 0.500 |" in markdown
    assert "F1Max (oracle thr.)" in markdown and "—" in markdown
    assert to_csv(rows).splitlines()[0].startswith("source,model,category,image_auroc")
    md_path, csv_path = write_report(rows, tmp_path)
    assert md_path.read_text() == markdown and csv_path.is_file()
