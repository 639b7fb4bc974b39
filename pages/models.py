"""Models: the registry's runs, their thresholds at the false-alarm budget, how to train or add one, importing a
model trained elsewhere, and (admins) deleting a run."""

from __future__ import annotations

import streamlit as st

from components.models import calibration_table, import_form, registry_table, run_deletion, train_help
from components.shared import app_shell, false_alarm_budget, page_access

app_shell.ensure_app()
page_access.require("models")

st.title("Models")
registry_table.render()
run_deletion.render()
st.subheader("Thresholds at the false-alarm budget")
calibration_table.render(false_alarm_budget.render())
train_help.render()
import_form.render()
