"""Every page runs inside ``app.py`` (page config, sidebar, guard), even on Streamlit's legacy first run.

A folder named ``pages/`` beside the entry point makes Streamlit run a process's first script run in its legacy
multipage mode, which executes a ``pages/*.py`` file on its own when the URL names it (until ``st.navigation`` has
been called once). Pages start with :func:`ensure_app`: outside ``app.py`` it runs ``app.py`` instead, which
registers the real navigation and runs that same page inside it.
"""

from __future__ import annotations

import runpy
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from services.settings import PROJECT_ROOT

APP_SCRIPT = PROJECT_ROOT / "app.py"
_running = threading.local()


@contextmanager
def app_run() -> Iterator[None]:
    """Marks the body of ``app.py`` (a script run happens in one thread)."""
    _running.active = True
    try:
        yield
    finally:
        _running.active = False


def ensure_app() -> None:
    """Run ``app.py`` in place of a page that Streamlit started on its own, then stop the outer run."""
    if not getattr(_running, "active", False):
        runpy.run_path(str(APP_SCRIPT))
        st.stop()
