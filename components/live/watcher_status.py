"""Whether a folder watcher is running for the product, from the heartbeats watchers write; how to start one."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from components.shared.style import model_label, plain_text
from services.settings import get_settings
from services.watch.heartbeat import Heartbeat, read_heartbeats

START_COMMAND = "python -m services.cli watch DIR --category {category}"


def _since(moment: str, now: datetime) -> str:
    """``12 s ago``, ``5 min ago``, ``3 h ago`` from an ISO 8601 time."""
    seconds = max((now - datetime.fromisoformat(moment)).total_seconds(), 0.0)
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    return f"{seconds / 60:.0f} min ago" if seconds < 7200 else f"{seconds / 3600:.0f} h ago"


def _describe(beat: Heartbeat, now: datetime) -> str:
    models = ", ".join(model_label(model) for model in beat.runs)
    last = f" · last file {beat.last_file}" if beat.last_file else ""
    return plain_text(
        f"{beat.folder} on {beat.host} (station {beat.station}, pid {beat.pid}) with {models} · "
        f"{beat.inspected} inspected, {beat.rejected} rejected, {beat.waiting} not complete yet{last} · "
        f"heartbeat {_since(beat.updated_at, now)}"
    )


def render(category: str) -> bool:
    """One line per watcher of ``category`` (running ones first), a note on other products' running watchers, or
    how to start one; returns whether one runs for ``category``."""
    now = datetime.now(UTC)
    beats = read_heartbeats(get_settings())
    own = sorted((beat for beat in beats if beat.category == category), key=lambda beat: not beat.running(now))
    running = [beat for beat in own if beat.running(now)]
    for beat in running:
        state = "loading its models" if beat.state == "loading" else "watching"
        st.success(f"Watcher running ({state}): {_describe(beat, now)}", icon=":material/videocam:")
    if not running:
        st.info(
            f"No watcher is running for {plain_text(category)}. Start one on the machine that sees the image folder:",
            icon=":material/videocam_off:",
        )
        st.code(START_COMMAND.format(category=category), language="bash")
        for beat in own[:1]:
            why = f" after an error: {beat.error}" if beat.error else ""
            st.caption(
                f"Last watcher ({'stopped' if beat.state == 'stopped' else 'gone'}{plain_text(why)}): "
                f"{_describe(beat, now)}"
            )
    others = sorted({beat.category for beat in beats if beat.category != category and beat.running(now)})
    if others:
        st.caption(f"Also watching: {plain_text(', '.join(others))} (pick the product in the sidebar)")
    return bool(running)
