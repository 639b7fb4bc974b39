"""The role rules: what each role may do, the acting user where sign-in is off, and the one refusal's message."""

from __future__ import annotations

import pytest

from services.access import (
    NEEDED,
    AccessDeniedError,
    ActingUser,
    Action,
    Role,
    local_user,
    require,
)

OPERATOR = ActingUser(name="olga", role=Role.OPERATOR, signed_in=True)
ENGINEER = ActingUser(name="emil", role=Role.ENGINEER, signed_in=True)
ADMIN = ActingUser(name="ada", role=Role.ADMIN, signed_in=True)


def test_each_role_may_do_what_the_issue_lists_and_nothing_more() -> None:
    allowed = {user.role: {action for action in Action if user.may(action)} for user in (OPERATOR, ENGINEER, ADMIN)}
    assert allowed[Role.OPERATOR] == {Action.INSPECT, Action.HISTORY}
    assert allowed[Role.ENGINEER] == {
        Action.INSPECT,
        Action.HISTORY,
        Action.REVIEW,
        Action.THRESHOLDS,
        Action.TRAIN,
        Action.IMPORT,
    }
    assert allowed[Role.ADMIN] == set(Action)
    assert set(NEEDED) == set(Action), "every action names the role it needs"


def test_a_refusal_names_the_user_the_role_the_action_and_the_role_needed() -> None:
    with pytest.raises(AccessDeniedError) as refused:
        require(OPERATOR, Action.TRAIN)
    assert str(refused.value) == (
        "olga (operator) may not train or cancel training: that needs the engineer role or higher; ask an admin"
    )
    assert (refused.value.user, refused.value.action, refused.value.needed) == (OPERATOR, Action.TRAIN, Role.ENGINEER)
    with pytest.raises(AccessDeniedError, match=r"^emil \(engineer\) may not manage users: that needs the admin role"):
        require(ENGINEER, Action.USERS)
    assert isinstance(refused.value, ValueError) and not isinstance(refused.value, OSError)


def test_allowed_actions_pass_silently() -> None:
    require(OPERATOR, Action.INSPECT)
    require(ENGINEER, Action.IMPORT)
    require(ADMIN, Action.DELETE_RUNS)


def test_the_local_user_may_do_everything_and_records_no_operator() -> None:
    local = local_user("line-3")
    assert (local.name, local.role, local.signed_in) == ("line-3", Role.ADMIN, False)
    assert all(local.may(action) for action in Action)
    assert local.operator is None
    assert OPERATOR.operator == "olga"
    assert local_user().name == "local"
