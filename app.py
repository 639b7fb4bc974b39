"""AnomalyLens: the Streamlit entry point (`streamlit run app.py`): page navigation, the sidebar and a page guard."""

from __future__ import annotations

import streamlit as st

from components.shared import active_jobs, app_shell, empty_registry, page_style, sidebar
from components.shared.page_guard import guarded

PAGES = [
    st.Page("pages/inspect.py", title="Inspect", icon=":material/image_search:", url_path="inspect"),
    st.Page("pages/compare.py", title="Compare", icon=":material/bar_chart:", url_path="compare"),
    st.Page("pages/library.py", title="Defect library", icon=":material/photo_library:", url_path="library"),
    st.Page("pages/models.py", title="Models", icon=":material/model_training:", url_path="models"),
    st.Page("pages/train.py", title="Train", icon=":material/rocket_launch:", url_path="train"),
    st.Page("pages/history.py", title="History", icon=":material/history:", url_path="history"),
    st.Page("pages/review.py", title="Review", icon=":material/rule:", url_path="review"),
    st.Page("pages/live.py", title="Live", icon=":material/videocam:", url_path="live"),
]
WITHOUT_RUNS = {"train", "history", "review"}  # pages that work on an empty registry (the others show how to build one)


def _open_first_page() -> None:
    """The app's root URL opens Inspect at its own URL, so the address bar always holds a page's bookmark."""
    st.switch_page(PAGES[0])


# The default page (served at `/`): every visible page has a URL of its own, so any of them can be bookmarked.
LANDING = st.Page(_open_first_page, title="AnomalyLens", url_path="start", default=True, visibility="hidden")

with app_shell.app_run():
    st.set_page_config(page_title="AnomalyLens", page_icon=":material/troubleshoot:", layout="wide")
    page = st.navigation([LANDING, *PAGES])
    if page is LANDING:
        page.run()
    page_style.render()
    with guarded(page.title):
        if sidebar.render() is not None:
            active_jobs.render()
            page.run()
        elif page.url_path in WITHOUT_RUNS:
            page.run()
        else:
            empty_registry.render()
