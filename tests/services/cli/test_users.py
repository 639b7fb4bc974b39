"""``python -m services.cli users add|remove|list``: the password from stdin or a prompt (never argv), the records
database's users table, one clear line for each refusal."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from services.cli.commands import main, read_password
from services.records.store import RecordStore
from services.records.users import sign_in
from services.settings import PROJECT_ROOT, Settings, get_settings


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("ANOMALYLENS_REGISTRY", str(tmp_path / "models"))
    monkeypatch.setenv("ANOMALYLENS_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.delenv("ANOMALYLENS_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def _users(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str, stdin: str = "") -> tuple:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(["users", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_add_list_remove_with_the_password_from_stdin(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _users(monkeypatch, capsys, "add", "Ana", "--role", "engineer", stdin="s3cret-pass\n") == (
        0,
        "added ana (engineer)\n",
        "",
    )
    assert _users(monkeypatch, capsys, "add", "olga", "--role", "operator", stdin="another-pass\n")[0] == 0
    store = RecordStore(settings)
    assert sign_in(store, "ana", "s3cret-pass", settings).role.value == "engineer"
    store.close()
    assert _users(monkeypatch, capsys, "list") == (
        0,
        "name\trole\tlocked\nana\tengineer\t-\nolga\toperator\t-\n",
        "",
    )
    assert _users(monkeypatch, capsys, "remove", "OLGA") == (0, "removed olga\n", "")
    assert _users(monkeypatch, capsys, "list")[1] == "name\trole\tlocked\nana\tengineer\t-\n"


def test_a_locked_out_user_is_listed_as_locked_and_unlocked_by_the_admin(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _users(monkeypatch, capsys, "add", "olga", "--role", "operator", stdin="right-password\n")
    store = RecordStore(settings)
    for _ in range(settings.lockout_attempts):
        with pytest.raises(ValueError, match=r"wrong name or password|locked out"):
            sign_in(store, "olga", "wrong-password", settings)
    store.close()
    _, out, _ = _users(monkeypatch, capsys, "list")
    assert out.startswith("name\trole\tlocked\nolga\toperator\tlocked until ")
    assert _users(monkeypatch, capsys, "unlock", "olga") == (0, "unlocked olga\n", "")
    assert _users(monkeypatch, capsys, "list")[1] == "name\trole\tlocked\nolga\toperator\t-\n"
    store = RecordStore(settings)
    assert sign_in(store, "olga", "right-password", settings).name == "olga"
    store.close()


@pytest.mark.parametrize(
    "case",
    [
        (("add", "watch", "--role", "operator"), "s3cret-pass\n", "error: user name 'watch' is reserved"),
        (("add", "ana", "--role", "operator"), "short\n", "error: the password has 5 characters: give 8 to 1,024"),
        (("add", "ana", "--role", "operator"), "", "error: the password has 0 characters"),
        (("remove", "nobody"), "", "error: no user is named 'nobody'"),
        (("unlock", "nobody"), "", "error: no user is named 'nobody'"),
    ],
)
def test_refusals_are_one_line_and_change_nothing(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    case: tuple[tuple[str, ...], str, str],
) -> None:
    argv, stdin, message = case
    code, out, err = _users(monkeypatch, capsys, *argv, stdin=stdin)
    assert (code, out) == (2, "")
    assert err.startswith(message) and err.count("\n") == 1
    assert _users(monkeypatch, capsys, "list")[1] == "name\trole\tlocked\n"


def test_an_unknown_role_is_a_usage_error(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["users", "add", "ana", "--role", "root"])
    assert exited.value.code == 2
    assert "argument --role: invalid choice: 'root'" in capsys.readouterr().err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_at_a_terminal_the_password_is_typed_twice_and_must_match() -> None:
    typed = iter(["first-password", "first-password"])
    assert read_password(_Terminal(), lambda _prompt: next(typed)) == "first-password"
    differing = iter(["first-password", "second-password"])
    with pytest.raises(ValueError, match="the two passwords differ: nothing was changed"):
        read_password(_Terminal(), lambda _prompt: next(differing))


def test_the_password_is_never_an_argument() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "users", "add", "--help"],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=60,
        check=True,
    )
    assert "--password" not in result.stdout and "--role {operator,engineer,admin}" in result.stdout
