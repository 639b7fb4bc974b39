"""The users who may sign in, kept in the records database (SQLite or PostgreSQL alike): add, remove, list, sign in.

Passwords are hashed with argon2id by ``argon2-cffi``'s :class:`~argon2.PasswordHasher` (salted, its default cost);
only the hash is stored. ``ANOMALYLENS_LOCKOUT_ATTEMPTS`` wrong passwords in a row lock a user out for
``ANOMALYLENS_LOCKOUT_MIN`` minutes; the count and the end of the lock-out are columns of the user's row, so a new
browser session or a restarted server does not reset them. Adding, removing, unlocking and listing users needs the
admin role (:data:`services.access.Action.USERS`), checked here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from services.access import RESERVED_NAMES, ActingUser, Action, Role, require
from services.data.errors import printable
from services.records.schema import UserRow
from services.records.store import RecordStore
from services.settings import Settings

NAME_RULE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
NAME_TEXT = "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit (case does not matter)"
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
"""Longest password accepted, so that hashing stays cheap whatever is typed."""
WRONG = "wrong name or password"
HASHER = PasswordHasher()
TABLE = UserRow.__table__


class UserError(ValueError):
    """A user asked for is refused: the message names the value, the rule and what is accepted (never a password)."""


class SignInError(ValueError):
    """A sign-in refused: a wrong name or password (which one is not said), or a user locked out until a time."""


@dataclass(frozen=True)
class UserAccount:
    """One user as stored, without the password hash."""

    name: str
    role: Role
    failed_attempts: int
    """Wrong passwords in a row since the last sign-in or lock-out."""
    locked_until: datetime | None
    """UTC end of the current or last lock-out; ``None`` where the user was never locked out."""
    created_at: datetime

    def locked(self, now: datetime) -> bool:
        """Whether the user is locked out at ``now``."""
        return self.locked_until is not None and now < self.locked_until

    @classmethod
    def from_row(cls, row: Any) -> UserAccount:
        """Read back from database columns (a time without zone, as SQLite returns it, is UTC)."""
        return cls(
            name=row["name"],
            role=Role(row["role"]),
            failed_attempts=int(row["failed_attempts"]),
            locked_until=None if row["locked_until"] is None else _as_utc(row["locked_until"]),
            created_at=_as_utc(row["created_at"]),
        )


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def check_user_name(name: str) -> str:
    """``name`` stripped and lower-cased; refused (``UserError``) unless it follows the rule and is not reserved."""
    normal = name.strip().lower()
    if not NAME_RULE.fullmatch(normal):
        raise UserError(f"user name '{printable(name)}' is not accepted: a user name is {NAME_TEXT}")
    if normal in RESERVED_NAMES:
        raise UserError(
            f"user name {normal!r} is reserved: the folder watcher records its inspections as operator {normal!r}; "
            "choose another name"
        )
    return normal


def check_password(password: str) -> None:
    """Refuse (``UserError``) a password shorter than 8 or longer than 1,024 characters; the message never holds it."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise UserError(
            f"the password has {len(password)} characters: give {MIN_PASSWORD} to {MAX_PASSWORD:,} characters"
        )


def check_role(role: str) -> Role:
    """The :class:`Role` named ``role``, or ``UserError`` listing the roles."""
    try:
        return Role(role.strip().lower())
    except ValueError as exc:
        names = ", ".join(known.value for known in Role)
        raise UserError(f"role '{printable(role)}' is not one of {names}") from exc


def add_user(
    store: RecordStore, name: str, role: str, password: str, *, user: ActingUser, now: datetime | None = None
) -> UserAccount:
    """Store a new user with the argon2 hash of ``password``; refused for an existing name (``UserError``)."""
    require(user, Action.USERS)
    added = UserAccount(
        name=check_user_name(name),
        role=check_role(role),
        failed_attempts=0,
        locked_until=None,
        created_at=(now or datetime.now(UTC)).astimezone(UTC),
    )
    check_password(password)
    row = {**vars(added), "role": added.role.value, "password_hash": HASHER.hash(password)}
    try:
        with store.writing() as connection:
            if connection.execute(select(TABLE.c.name).where(TABLE.c.name == added.name)).first() is not None:
                raise UserError(_exists(added.name))
            connection.execute(TABLE.insert().values(**row))
    except IntegrityError as exc:  # added by someone else between the check and the insert
        raise UserError(_exists(added.name)) from exc
    return added


def _exists(name: str) -> str:
    return f"user {name!r} already exists: remove it first to give it another role or password"


def remove_user(store: RecordStore, name: str, *, user: ActingUser) -> None:
    """Delete a user (their records keep the name); refused for an unknown name or one's own signed-in account."""
    require(user, Action.USERS)
    normal = name.strip().lower()
    if user.signed_in and normal == user.name:
        raise UserError(f"{user.name} cannot remove their own account while signed in with it; ask another admin")
    with store.writing() as connection:
        removed = connection.execute(delete(TABLE).where(TABLE.c.name == normal)).rowcount
    if not removed:
        raise UserError(f"no user is named '{printable(name)}'")


def unlock_user(store: RecordStore, name: str, *, user: ActingUser) -> None:
    """End a user's lock-out and clear their count of wrong passwords; refused for an unknown name."""
    require(user, Action.USERS)
    normal = name.strip().lower()
    with store.writing() as connection:
        changed = connection.execute(
            update(TABLE).where(TABLE.c.name == normal).values(failed_attempts=0, locked_until=None)
        ).rowcount
    if not changed:
        raise UserError(f"no user is named '{printable(name)}'")


def list_users(store: RecordStore, *, user: ActingUser) -> list[UserAccount]:
    """Every user, by name."""
    require(user, Action.USERS)
    with store.reading() as connection:
        rows = connection.execute(select(TABLE).order_by(TABLE.c.name)).mappings().all()
    return [UserAccount.from_row(row) for row in rows]


def find_user(store: RecordStore, name: str) -> UserAccount | None:
    """The stored account of a signed-in user (to follow a role change or removal), or ``None``."""
    with store.reading() as connection:
        row = connection.execute(select(TABLE).where(TABLE.c.name == name.strip().lower())).mappings().first()
    return None if row is None else UserAccount.from_row(row)


@cache
def _unknown_user_hash() -> str:
    """A hash to check a password against where the name is unknown, so that an unknown name takes as long."""
    return HASHER.hash("no user has this password")


def _verified(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _locked_message(name: str, until: datetime, settings: Settings) -> str:
    return (
        f"{name} is locked out after {settings.lockout_attempts} wrong passwords in a row, until "
        f"{until:%Y-%m-%d %H:%M} UTC (ANOMALYLENS_LOCKOUT_MIN={settings.lockout_min}); try again then, or ask an admin"
    )


def sign_in(
    store: RecordStore, name: str, password: str, settings: Settings, *, now: datetime | None = None
) -> ActingUser:
    """The signed-in user for a right name and password; ``SignInError`` for a wrong one (counted, and locking the
    user out at ``ANOMALYLENS_LOCKOUT_ATTEMPTS`` in a row) or a user locked out now (not checked, not counted)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    normal = name.strip().lower()
    if not NAME_RULE.fullmatch(normal) or len(password) > MAX_PASSWORD:
        _verified(_unknown_user_hash(), password[:MAX_PASSWORD])
        raise SignInError(WRONG)
    with store.writing() as connection:
        row = connection.execute(select(TABLE).where(TABLE.c.name == normal)).mappings().first()
        refusal = _check(connection, row, password, moment, settings)
    if refusal:
        raise SignInError(refusal)
    return ActingUser(name=normal, role=Role(row["role"]), signed_in=True)  # type: ignore[index]


def _check(connection: Any, row: Any, password: str, now: datetime, settings: Settings) -> str:
    """Check the password against ``row`` inside the sign-in's transaction, counting a wrong one (and locking out at
    the limit) or clearing the count; why the sign-in is refused, or empty."""
    if row is None:
        _verified(_unknown_user_hash(), password)
        return WRONG
    account = UserAccount.from_row(row)
    if account.locked(now):
        return _locked_message(account.name, account.locked_until, settings)  # type: ignore[arg-type]
    named = TABLE.c.name == account.name
    if not _verified(row["password_hash"], password):
        failed = connection.execute(
            update(TABLE)
            .where(named)
            .values(failed_attempts=TABLE.c.failed_attempts + 1)
            .returning(TABLE.c.failed_attempts)
        ).scalar_one()
        if failed < settings.lockout_attempts:
            return WRONG
        until = now + timedelta(minutes=settings.lockout_min)
        connection.execute(update(TABLE).where(named).values(failed_attempts=0, locked_until=until))
        return _locked_message(account.name, until, settings)
    changes: dict[str, Any] = {"failed_attempts": 0} if account.failed_attempts else {}
    if HASHER.check_needs_rehash(row["password_hash"]):
        changes["password_hash"] = HASHER.hash(password)
    if changes:  # nothing is written for a plain sign-in, so a read-only records database still lets users in
        connection.execute(update(TABLE).where(named).values(**changes))
    return ""
