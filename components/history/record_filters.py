"""The History filters: time range, product, model, verdict, lot and operator (choices from the records), and how
many rows to list; the result is a ``RecordFilter``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from components.shared.style import model_label
from services.postprocessing.verdict import Verdict
from services.records.history import FilterChoices
from services.records.query import DEFAULT_LIMIT, RecordFilter
from services.records.record import NOT_THIS_PRODUCT

ALL = "All"
RANGES: dict[str, timedelta | None] = {
    "Last hour": timedelta(hours=1),
    "Last 24 hours": timedelta(days=1),
    "Last 7 days": timedelta(days=7),
    "Last 30 days": timedelta(days=30),
    "All time": None,
}
DATES = "Dates (UTC)…"
VERDICTS: dict[str, tuple[Verdict | None, bool]] = {
    **{verdict.value: (verdict, False) for verdict in Verdict},
    NOT_THIS_PRODUCT: (None, True),
}
"""Each verdict choice as (verdict, foreign): OK, NG and REVIEW leave foreign parts out, which show only as theirs."""
LIMITS = (100, DEFAULT_LIMIT, 10_000)


def _pick(
    column: DeltaGenerator, label: str, values: tuple[str, ...], key: str, format_func: Callable[[str], str] = str
) -> str | None:
    """A selectbox of ``All`` and the values; ``None`` for ``All``."""
    chosen = column.selectbox(
        label,
        [ALL, *values],
        key=key,
        format_func=lambda value: value if value == ALL else format_func(value),
        disabled=not values,
        help=None if values else f"No record has a {label.lower()} yet.",
    )
    return None if chosen == ALL else chosen


def _time_range(column: DeltaGenerator, now: datetime) -> tuple[datetime | None, datetime | None]:
    """The chosen range as UTC instants ``[start, end)``; ``None`` ends are open."""
    choice = column.selectbox("Time range", [*RANGES, DATES], index=list(RANGES).index("All time"), key="history_range")
    if choice != DATES:
        span = RANGES[choice]
        return (None if span is None else now - span), None
    today = now.date()
    picked = column.date_input("From – to (UTC)", (today - timedelta(days=7), today), key="history_dates")
    first, last = (picked[0], picked[-1]) if isinstance(picked, tuple) and picked else (today, today)
    return _midnight(first), _midnight(last) + timedelta(days=1)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def render(choices: FilterChoices, now: datetime) -> RecordFilter:
    """Two rows of filters; every record matches while each is at ``All``."""
    when, product_area, model_area, verdict_area = st.columns(4)
    start, end = _time_range(when, now)
    product = _pick(product_area, "Product", choices.products, "history_product")
    model = _pick(model_area, "Model", choices.models, "history_model", model_label)
    verdict_choice = verdict_area.selectbox("Verdict", [ALL, *VERDICTS], key="history_verdict")
    verdict, foreign = VERDICTS.get(verdict_choice, (None, None))
    lot_area, operator_area, limit_area, _ = st.columns(4)
    lot = _pick(lot_area, "Lot", choices.lots, "history_lot")
    operator = _pick(operator_area, "Operator", choices.operators, "history_operator")
    limit = limit_area.selectbox(
        "Rows listed",
        LIMITS,
        index=LIMITS.index(DEFAULT_LIMIT),
        key="history_limit",
        format_func="{:,}".format,
        help="The newest matching records listed and downloaded; the counts and the chart cover every match.",
    )
    return RecordFilter(
        start=start,
        end=end,
        product=product,
        model=model,
        verdict=verdict,
        foreign=foreign,
        lot=lot,
        operator=operator,
        limit=limit,
    )
