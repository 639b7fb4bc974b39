"""The History trend chart's axes: half a bucket either side of the points, whole REVIEW counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from components.history.trend_chart import build_figure
from services.records.history import TrendBucket

START = datetime(2026, 12, 1, 8, tzinfo=UTC)


def _range(figure: object, axis: str) -> list:
    return list(getattr(figure.layout, axis).range)


def test_a_single_hour_spans_half_an_hour_either_side_and_counts_in_whole_numbers() -> None:
    figure = build_figure([TrendBucket(start=START, inspected=3, ng=1)])
    assert _range(figure, "xaxis") == [START - timedelta(minutes=30), START + timedelta(minutes=30)]
    assert _range(figure, "yaxis2") == [0, 1.1] and figure.layout.yaxis2.dtick == 1
    assert figure.layout.xaxis.title.text == "per hour (UTC)"


def test_days_span_half_a_day_either_side_and_large_counts_take_larger_steps() -> None:
    buckets = [TrendBucket(start=START + timedelta(days=day), inspected=20, review=12 - day) for day in range(3)]
    figure = build_figure(buckets)
    assert _range(figure, "xaxis") == [START - timedelta(hours=12), START + timedelta(days=2, hours=12)]
    assert _range(figure, "yaxis2") == [0, 12 * 1.1] and figure.layout.yaxis2.dtick == 3
    assert figure.layout.xaxis.title.text == "per day (UTC)"
