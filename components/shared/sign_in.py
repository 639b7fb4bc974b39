"""Sign-in (``ANOMALYLENS_SIGN_IN``): the form shown before any page, the user every page acts for, the signed-in
name with Sign out in the sidebar, and sign-out after ``ANOMALYLENS_IDLE_TIMEOUT_MIN`` minutes without a page action.

Where sign-in is off, every page acts for the local user, who holds every role. The users and their lock-outs live in
the records database (:mod:`services.records.users`); each page run reads the signed-in user's account again, so a
removed user is signed out and a changed role applies at once.
"""

from __future__ import annotations

import time

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from components.shared import resources
from components.shared.style import plain_text
from services.access import ActingUser, Role, local_user
from services.records.users import SignInError, find_user, sign_in
from services.settings import get_settings

USER_KEY = "_signed_in_user"
ACTIVE_KEY = "_last_active"
NOTICE_KEY = "_sign_in_notice"
ADD_USER = "python -m services.cli users add NAME --role operator|engineer|admin"
SIGNED_OUT = ActingUser(name="a signed-out session", role=Role.OPERATOR, signed_in=False)
"""Who a request acts for once its session has been signed out: the least role, so every change is refused."""


def _sign_out(notice: str) -> None:
    """Forget everything this browser session held (another user may sign in next) and say why on the form."""
    for key in list(st.session_state):
        del st.session_state[key]
    st.session_state[NOTICE_KEY] = notice


def _refreshed(user: ActingUser) -> ActingUser | None:
    """``user`` with the role stored now; ``None`` once the account is removed. Kept as is while the database cannot
    be read (the session goes on; the service checks still apply)."""
    try:
        account = find_user(resources.record_store(), user.name)
    except (SQLAlchemyError, OSError):
        return user
    if account is None:
        return None
    return user if account.role == user.role else ActingUser(name=user.name, role=account.role, signed_in=True)


def _idle(timeout_min: int) -> bool:
    """Whether the session's last page run is more than ``timeout_min`` minutes ago."""
    return time.time() - st.session_state.get(ACTIVE_KEY, 0.0) > timeout_min * 60


def session_user() -> ActingUser | None:
    """Once per page run (``app.py``): the local user where sign-in is off; else the signed-in user with the role
    stored now, or ``None`` (nobody signed in, idle too long, account removed: the form is shown instead)."""
    settings = get_settings()
    if not settings.sign_in:
        return local_user()
    user: ActingUser | None = st.session_state.get(USER_KEY)
    if user is None:
        return None
    if _idle(settings.idle_timeout_min):
        _sign_out(f"Signed out after {settings.idle_timeout_min} minutes without activity: sign in again.")
        return None
    current = _refreshed(user)
    if current is None:
        _sign_out(f"Signed out: the user {user.name} no longer exists.")
        return None
    st.session_state[USER_KEY] = current
    st.session_state[ACTIVE_KEY] = time.time()
    return current


def acting_user() -> ActingUser:
    """The user a page or a button callback acts for: the local user where sign-in is off, the signed-in user, or
    :data:`SIGNED_OUT` (a callback may run before ``app.py`` finds the session idle too long)."""
    settings = get_settings()
    if not settings.sign_in:
        return local_user()
    user: ActingUser | None = st.session_state.get(USER_KEY)
    return SIGNED_OUT if user is None or _idle(settings.idle_timeout_min) else user


def render_form() -> None:
    """The sign-in form; a right name and password sign in and rerun into the page the URL names."""
    st.title("AnomalyLens")
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.info(notice, icon=":material/logout:")
    with st.form("sign_in"):
        name = st.text_input("Name", key="sign_in_name", max_chars=64)
        password = st.text_input("Password", type="password", key="sign_in_password", max_chars=1024)
        submitted = st.form_submit_button("Sign in", type="primary", icon=":material/login:")
    st.caption(f"An admin adds users on the server: `{ADD_USER}`.")
    if not submitted:
        return
    settings = get_settings()
    try:
        user = sign_in(resources.record_store(), name, password, settings)
    except SignInError as exc:
        st.error(f"Not signed in: {plain_text(str(exc))}.", icon=":material/lock:")
        return
    except (SQLAlchemyError, OSError) as exc:
        st.error(
            f"Not signed in: the records database, which holds the users, cannot be read "
            f"({plain_text(type(exc).__name__)}); try again once it is back.",
            icon=":material/cloud_off:",
        )
        return
    st.session_state[USER_KEY] = user
    st.session_state[ACTIVE_KEY] = time.time()
    st.rerun()


def render_sidebar(user: ActingUser) -> None:
    """The signed-in name and role, and Sign out (nothing where sign-in is off)."""
    if not user.signed_in:
        return
    with st.sidebar:
        st.caption(f":material/person: Signed in as **{plain_text(user.name)}** ({user.role.value})")
        st.button("Sign out", key="sign_out", on_click=_sign_out, args=("Signed out.",), icon=":material/logout:")
