"""AnomalyLens: the Streamlit entry point (`streamlit run app.py`): sign-in where it is on, page navigation, the
sidebar and a page guard."""

from __future__ import annotations

import streamlit as st

from components.shared import active_jobs, app_shell, empty_registry, page_access, page_style, sidebar, sign_in
from components.shared.page_guard import guarded
from services.access import ActingUser

# Each page's file, title, icon and URL path. (Comments, not string literals: Streamlit's magic would write a bare
# string below the first statement onto every page.)
PAGES = [
    ("pages/inspect.py", "Inspect", ":material/image_search:", "inspect"),
    ("pages/compare.py", "Compare", ":material/bar_chart:", "compare"),
    ("pages/library.py", "Defect library", ":material/photo_library:", "library"),
    ("pages/models.py", "Models", ":material/model_training:", "models"),
    ("pages/train.py", "Train", ":material/rocket_launch:", "train"),
    ("pages/history.py", "History", ":material/history:", "history"),
    ("pages/review.py", "Review", ":material/rule:", "review"),
    ("pages/live.py", "Live", ":material/videocam:", "live"),
]
WITHOUT_RUNS = {"train", "history", "review"}  # pages that work on an empty registry (the others show how to build one)


def _pages(user: ActingUser | None) -> list[st.Page]:
    """Every page at its URL; those the user's role does not allow (all, before sign-in) left out of the menu."""
    return [
        st.Page(
            path,
            title=title,
            icon=icon,
            url_path=url_path,
            visibility="visible" if user is not None and page_access.allowed(user, url_path) else "hidden",
        )
        for path, title, icon, url_path in PAGES
    ]


def _open_first_page() -> None:
    """The app's root URL opens Inspect at its own URL, so the address bar always holds a page's bookmark."""
    st.switch_page(PAGES[0][0])


# The default page (served at `/`): every visible page has a URL of its own, so any of them can be bookmarked.
LANDING = st.Page(_open_first_page, title="AnomalyLens", url_path="start", default=True, visibility="hidden")

with app_shell.app_run():
    st.set_page_config(page_title="AnomalyLens", page_icon=":material/troubleshoot:", layout="wide")
    user = sign_in.session_user()
    page = st.navigation([LANDING, *_pages(user)], position="sidebar" if user is not None else "hidden")
    page_style.render()
    if user is None:
        sign_in.render_form()  # the URL's page opens once signed in
        st.stop()
    if page is LANDING:
        page.run()
    sign_in.render_sidebar(user)
    with guarded(page.title):
        if sidebar.render() is not None:
            active_jobs.render()
            page.run()
        elif page.url_path in WITHOUT_RUNS:
            page.run()
        else:
            empty_registry.render()
