"""The app's Streamlit settings that keep reruns fast and the app offline."""

from __future__ import annotations

import tomllib

from services.settings import PROJECT_ROOT


def _config() -> dict:
    return tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())


def test_no_full_garbage_collection_after_every_script_run() -> None:
    assert _config()["runner"]["postScriptGC"] is False


def test_no_usage_statistics_are_sent() -> None:
    assert _config()["browser"]["gatherUsageStats"] is False
