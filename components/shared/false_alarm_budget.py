"""The false-alarm budget this session judges at: set on the Models page, used by Inspect."""

from __future__ import annotations

import streamlit as st

from services.registry.run_calibration import percent
from services.settings import get_settings

BUDGET_KEY = "false_alarm_budget"
"""The budget as a share, kept in the session whichever page is shown (a widget's own key is dropped off its page)."""
INPUT_KEY = "false_alarm_budget_pct"


def current() -> float:
    """The session's budget (a share of good parts), else the settings' default."""
    return st.session_state.get(BUDGET_KEY, get_settings().false_alarm_budget)


def _keep() -> None:
    st.session_state[BUDGET_KEY] = st.session_state[INPUT_KEY] / 100


def render() -> float:
    """The budget input in percent; returns the budget as a share."""
    st.session_state[INPUT_KEY] = 100 * current()
    st.number_input(
        "False-alarm budget (%)",
        min_value=0.01,
        max_value=49.99,
        step=0.1,
        format="%.2f",
        key=INPUT_KEY,
        on_change=_keep,
        help="The share of good parts that may be judged NG. Each run's image and pixel thresholds are fitted to it "
        "from normal images the model did not learn from, without retraining; Inspect judges at them. Default "
        f"{percent(get_settings().false_alarm_budget)} % (ANOMALYLENS_FALSE_ALARM_BUDGET).",
    )
    return current()
