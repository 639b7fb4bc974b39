"""The results table: our rows with averages, reference rows labelled as reported elsewhere, any category, "n/a"
with its reason."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import replace
from pathlib import Path

import pytest

from services.registry.normal_scores import VALIDATION, NormalScores, fit_calibration
from services.registry.reference import REFERENCE_STUDY
from services.registry.report import (
    AVERAGE,
    PARTIAL_AVERAGE,
    reference_rows,
    results_rows,
    to_csv,
    to_markdown,
    unavailable_text,
    write_report,
)
from services.registry.run_calibration import FORMER_RULE, IMPORTED
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


def test_without_categories_every_category_of_the_runs_is_reported_in_order() -> None:
    runs = [_run("patchcore", "pcb_connector", 0.7), _run("patchcore", "tile", 0.9), _run("patchcore", "bottle", 0.8)]
    rows = results_rows(runs)
    assert [row.category for row in rows] == ["tile", "bottle", "pcb_connector", AVERAGE]
    assert rows[-1].values["image_auroc"] == pytest.approx(0.8)
    assert reference_rows(("pcb_connector",)) == []


def test_unavailable_metrics_show_n_a_with_their_reason_and_spoil_only_their_average() -> None:
    no_masks = _run("patchcore", "pcb_connector", 0.7)
    no_masks = Run(
        path=no_masks.path,
        record=replace(
            no_masks.record,
            metrics={**no_masks.record.metrics, "pixel_auroc": math.nan, "pixel_f1": math.nan},
            unavailable={"pixel_f1": "no ground-truth masks", "pixel_auroc": "no ground-truth masks"},
        ),
    )
    rows = results_rows([no_masks, _run("patchcore", "tile", 0.9)])
    average = rows[-1]
    assert math.isnan(average.values["pixel_auroc"]) and average.values["image_auroc"] == pytest.approx(0.8)
    assert average.unavailable == {"pixel_auroc": PARTIAL_AVERAGE, "pixel_f1": PARTIAL_AVERAGE}
    markdown = to_markdown(rows)
    assert "| AnomalyLens (synthetic, demo) | patchcore | pcb_connector | 0.700 | 0.700 | n/a | n/a |" in markdown
    assert "- patchcore · pcb_connector: Pixel AUROC, Pixel F1: no ground-truth masks" in markdown
    assert f"- patchcore · average: Pixel AUROC, Pixel F1: {PARTIAL_AVERAGE}" in markdown
    assert "pcb_connector,0.700,0.700,n/a,n/a," in to_csv(rows)
    assert unavailable_text({}) == ""


def test_our_rows_give_the_budget_normals_and_rate_bound_or_n_a_with_the_reason() -> None:
    scores = NormalScores(image=tuple(float(i) for i in range(60)), pixel_peak=(1.0,) * 60, sources={VALIDATION: 60})
    calibrated = _run("patchcore", "tile", 0.9)
    protocol = {"calibration": fit_calibration(scores, 0.01).as_dict()}
    calibrated = replace(calibrated, record=replace(calibrated.record, protocol=protocol))
    former = _run("efficientad", "tile", 0.8)
    imported = _run("efficientad", "grid", 0.8)
    imported = replace(imported, record=replace(imported.record, source={"format": "ckpt"}))
    rows = results_rows([calibrated, former, imported])
    cells = {(row.model, row.category): row.false_alarm for row in rows}
    assert cells["patchcore", "tile"] == {
        "false_alarm_budget": "1 %",
        "normals": "60",
        "false_alarm_bound": "≤ 1.6 % (95 %: 0.042–6 %)",
    }
    assert cells["efficientad", "tile"]["false_alarm_bound"] == f"n/a: {FORMER_RULE}"
    assert cells["efficientad", "grid"]["false_alarm_bound"] == f"n/a: {IMPORTED}"
    assert cells["patchcore", AVERAGE] == {}, "an average has no budget of its own"
    markdown = to_markdown(rows)
    assert "| False-alarm budget | Normals | Expected false-alarm rate |" in markdown.splitlines()[0]
    assert "| 1 % | 60 | ≤ 1.6 % (95 %: 0.042–6 %) |" in markdown
    header, *lines = csv.reader(io.StringIO(to_csv(rows)))
    assert header[-4:] == ["pixel_aupro", "false_alarm_budget", "normals", "false_alarm_bound"]
    assert ["n/a", "n/a", f"n/a: {IMPORTED}"] in [line[-3:] for line in lines]
