"""Models: the registry's runs and how to train or add one."""

from __future__ import annotations

import streamlit as st

from components.models import registry_table, train_help
from components.shared import app_shell

app_shell.ensure_app()

st.title("Models")
registry_table.render()
train_help.render()
