"""Each model's NG rate over the last N watched files, with the REVIEW count."""

from __future__ import annotations

import streamlit as st

from components.shared.style import model_label
from services.watch.latest import WatchedFile, ng_rates


def render(files: list[WatchedFile], last_n: int) -> None:
    """One metric per model: NG share of the files it judged among the last ``last_n``."""
    rates = ng_rates(files)
    if not rates:
        return
    for column, rate in zip(st.columns(len(rates)), rates, strict=True):
        column.metric(
            f"{model_label(rate.model)} NG rate",
            f"{100 * rate.rate:.1f} %",
            help=f"{rate.ng} NG of the {rate.judged} most recent files it judged (of the last {last_n}); "
            f"{rate.review} REVIEW",
        )
        column.caption(f"{rate.ng} NG · {rate.review} REVIEW · {rate.judged} files")
