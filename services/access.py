"""Who may do what: the roles, the actions each allows, the acting user and the one check, :func:`require`.

Pure rules, no I/O: every stage imports them, so each service function that changes something (training, imports,
review decisions, users) takes the acting user and calls :func:`require` itself, whatever the page showed. Where
sign-in is off the acting user is :func:`local_user`, who holds every role.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """A user's role; each one may do what the one before it may, and more."""

    OPERATOR = "operator"
    ENGINEER = "engineer"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """0 for an operator, 1 for an engineer, 2 for an admin."""
        return list(Role).index(self)


class Action(StrEnum):
    """Something a user asks the tool to do; the value reads in a sentence (``may not <value>``)."""

    INSPECT = "inspect parts"
    HISTORY = "see the inspection history"
    REVIEW = "review inspections"
    THRESHOLDS = "change thresholds"
    TRAIN = "train or cancel training"
    IMPORT = "import models or datasets"
    USERS = "manage users"
    DELETE_RUNS = "delete runs"


NEEDED: dict[Action, Role] = {
    Action.INSPECT: Role.OPERATOR,
    Action.HISTORY: Role.OPERATOR,
    Action.REVIEW: Role.ENGINEER,
    Action.THRESHOLDS: Role.ENGINEER,
    Action.TRAIN: Role.ENGINEER,
    Action.IMPORT: Role.ENGINEER,
    Action.USERS: Role.ADMIN,
    Action.DELETE_RUNS: Role.ADMIN,
}
"""The least role each action needs."""
WATCH_OPERATOR = "watch"
"""The operator the folder watcher records as (no person judged those images), so no person may be named so."""
RESERVED_NAMES = frozenset({WATCH_OPERATOR})
LOCAL_NAME = "local"
"""The acting user's name where sign-in is off and no name was given."""


class AccessDeniedError(ValueError):
    """An action refused for the acting user's role; the message names the user, the role, the action and the role
    it needs. A ``ValueError`` like every refused request (never an ``OSError``, which callers read as a failing disk
    or database)."""

    def __init__(self, user: ActingUser, action: Action) -> None:
        self.user, self.action, self.needed = user, action, NEEDED[action]
        super().__init__(
            f"{user.name} ({user.role.value}) may not {action.value}: that needs the {self.needed.value} role or "
            "higher; ask an admin"
        )


@dataclass(frozen=True)
class ActingUser:
    """The person a request acts for: a signed-in user, or the local user (every role) where sign-in is off."""

    name: str
    role: Role
    signed_in: bool

    def may(self, action: Action) -> bool:
        """Whether the role allows ``action``."""
        return self.role.rank >= NEEDED[action].rank

    @property
    def operator(self) -> str | None:
        """The name an inspection record holds: the signed-in user's, none where nobody signed in."""
        return self.name if self.signed_in else None


def local_user(name: str = LOCAL_NAME) -> ActingUser:
    """The acting user where sign-in is off (and on the command line, run by whoever administers the server): every
    role, named ``name`` (e.g. a typed reviewer name or the station)."""
    return ActingUser(name=name, role=Role.ADMIN, signed_in=False)


def require(user: ActingUser, action: Action) -> None:
    """Raise :class:`AccessDeniedError` unless ``user`` may do ``action``."""
    if not user.may(action):
        raise AccessDeniedError(user, action)
