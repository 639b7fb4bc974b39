"""Models: the registry's runs, how to train or add one, and importing a model trained elsewhere."""

from __future__ import annotations

import streamlit as st

from components.models import import_form, registry_table, train_help
from components.shared import app_shell

app_shell.ensure_app()

st.title("Models")
registry_table.render()
train_help.render()
import_form.render()
