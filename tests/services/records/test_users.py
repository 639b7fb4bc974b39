"""The users who sign in, on SQLite and PostgreSQL: argon2 hashes checked by the library, lock-out after repeated
wrong passwords kept in the database, the reserved name and the admin-only management, each with a clear message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from services.access import AccessDeniedError, ActingUser, Role, local_user
from services.records.schema import UserRow
from services.records.store import RecordStore
from services.records.users import (
    WRONG,
    SignInError,
    UserAccount,
    UserError,
    add_user,
    find_user,
    list_users,
    remove_user,
    sign_in,
    unlock_user,
)
from services.settings import Settings

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
ADMIN = local_user()
PASSWORD = "correct horse battery"


@pytest.fixture
def store(records_settings: Settings) -> RecordStore:
    records = RecordStore(records_settings)
    yield records
    records.close()


def _hash_of(store: RecordStore, name: str) -> str:
    with store.reading() as connection:
        return connection.execute(select(UserRow.password_hash).where(UserRow.name == name)).scalar_one()


def test_a_user_is_stored_with_an_argon2_hash_the_library_verifies_and_signs_in_with_their_role(
    store: RecordStore, records_settings: Settings
) -> None:
    added = add_user(store, " Ana ", "engineer", PASSWORD, user=ADMIN, now=NOW)
    assert added == UserAccount(name="ana", role=Role.ENGINEER, failed_attempts=0, locked_until=None, created_at=NOW)
    stored = _hash_of(store, "ana")
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert PasswordHasher().verify(stored, PASSWORD)
    assert sign_in(store, "ANA", PASSWORD, records_settings) == ActingUser("ana", Role.ENGINEER, signed_in=True)
    assert list_users(store, user=ADMIN) == [added]
    assert find_user(store, "ana") == added


def test_wrong_passwords_lock_out_after_the_setting_and_a_new_session_does_not_reset_it(
    records_settings: Settings,
) -> None:
    settings = records_settings.with_overrides(lockout_attempts=3, lockout_min=15)
    first = RecordStore(settings)
    add_user(first, "olga", "operator", PASSWORD, user=ADMIN, now=NOW)
    for attempt in range(2):
        with pytest.raises(SignInError, match=f"^{WRONG}$"):
            sign_in(first, "olga", f"wrong {attempt}", settings, now=NOW)
    with pytest.raises(SignInError) as locked:
        sign_in(first, "olga", "wrong again", settings, now=NOW)
    assert str(locked.value) == (
        "olga is locked out after 3 wrong passwords in a row, until 2026-12-02 08:15 UTC "
        "(ANOMALYLENS_LOCKOUT_MIN=15); try again then, or ask an admin"
    )
    first.close()
    second = RecordStore(settings)  # another browser session, or the server restarted
    with pytest.raises(SignInError, match="olga is locked out"):
        sign_in(second, "olga", PASSWORD, settings, now=NOW + timedelta(minutes=14))
    assert find_user(second, "olga").locked(NOW + timedelta(minutes=14))
    assert sign_in(second, "olga", PASSWORD, settings, now=NOW + timedelta(minutes=15)).name == "olga"
    second.close()


def test_a_right_password_clears_the_count_of_wrong_ones(store: RecordStore, records_settings: Settings) -> None:
    settings = records_settings.with_overrides(lockout_attempts=2)
    add_user(store, "emil", "engineer", PASSWORD, user=ADMIN)
    with pytest.raises(SignInError):
        sign_in(store, "emil", "nope", settings, now=NOW)
    assert find_user(store, "emil").failed_attempts == 1
    sign_in(store, "emil", PASSWORD, settings, now=NOW)
    assert find_user(store, "emil").failed_attempts == 0
    with pytest.raises(SignInError, match=f"^{WRONG}$"):  # one wrong again is not yet a lock-out
        sign_in(store, "emil", "nope", settings, now=NOW)


@pytest.mark.parametrize("name", ["nobody", "x" * 65, "<script>", ""])
def test_an_unknown_or_malformed_name_reads_like_a_wrong_password(
    store: RecordStore, records_settings: Settings, name: str
) -> None:
    add_user(store, "ana", "admin", PASSWORD, user=ADMIN)
    with pytest.raises(SignInError, match=f"^{WRONG}$"):
        sign_in(store, name, PASSWORD, records_settings)


@pytest.mark.parametrize(
    ("name", "role", "password", "message"),
    [
        ("watch", "operator", PASSWORD, "user name 'watch' is reserved: the folder watcher records its inspections"),
        ("WATCH", "operator", PASSWORD, "user name 'watch' is reserved"),
        ("ana/b", "operator", PASSWORD, "user name 'ana/b' is not accepted: a user name is 1 to 64 letters"),
        ("ana\nb", "operator", PASSWORD, r"user name 'ana\\nb' is not accepted"),
        ("", "operator", PASSWORD, "user name '' is not accepted"),
        ("ana", "root", PASSWORD, "role 'root' is not one of operator, engineer, admin"),
        ("ana", "operator", "short", "the password has 5 characters: give 8 to 1,024 characters"),
        ("ana", "operator", "x" * 1025, "the password has 1025 characters"),
    ],
)
def test_a_refused_user_names_the_rule_and_nothing_is_stored(
    store: RecordStore, name: str, role: str, password: str, message: str
) -> None:
    with pytest.raises(UserError, match=message) as refused:
        add_user(store, name, role, password, user=ADMIN)
    assert password not in str(refused.value)
    assert list_users(store, user=ADMIN) == []


def test_a_name_twice_an_unknown_removal_and_removing_oneself_are_refused(store: RecordStore) -> None:
    add_user(store, "ana", "admin", PASSWORD, user=ADMIN)
    with pytest.raises(UserError, match="user 'ana' already exists: remove it first"):
        add_user(store, "Ana", "operator", "another password", user=ADMIN)
    with pytest.raises(UserError, match="no user is named 'ben'"):
        remove_user(store, "ben", user=ADMIN)
    signed_in = ActingUser("ana", Role.ADMIN, signed_in=True)
    with pytest.raises(UserError, match="ana cannot remove their own account while signed in"):
        remove_user(store, "ana", user=signed_in)
    add_user(store, "ben", "operator", PASSWORD, user=signed_in)
    remove_user(store, "BEN", user=signed_in)
    assert [account.name for account in list_users(store, user=ADMIN)] == ["ana"]


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.ENGINEER])
def test_only_an_admin_manages_users(store: RecordStore, role: Role) -> None:
    add_user(store, "ana", "operator", PASSWORD, user=ADMIN)
    user = ActingUser("emil", role, signed_in=True)
    message = rf"^emil \({role.value}\) may not manage users: that needs the admin role or higher"
    with pytest.raises(AccessDeniedError, match=message):
        add_user(store, "eve", "admin", PASSWORD, user=user)
    with pytest.raises(AccessDeniedError, match=message):
        remove_user(store, "ana", user=user)
    with pytest.raises(AccessDeniedError, match=message):
        list_users(store, user=user)
    with pytest.raises(AccessDeniedError, match=message):
        unlock_user(store, "ana", user=user)
    assert [account.name for account in list_users(store, user=ADMIN)] == ["ana"]
