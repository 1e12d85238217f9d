"""`communepol staff password --username U`: the operator sets a staff member's web password
from standard input; the staff member's web sessions end; bad input writes nothing."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from communepol.clock import utcnow
from communepol.db.models import AuditEvent, Staff, UnitLevel, WebSession
from communepol.services.staff import verify_password
from tests import pagekit
from tests.test_cli import cli_env, query, run

__all__ = ["cli_env"]  # the fixture, imported for the tests below


@pytest.fixture
def officer(cli_env: str) -> int:
    async def build() -> int:
        commune = await pagekit.unit("Xã Ea Pốk", UnitLevel.COMMUNE)
        staff = await Staff.create(
            full_name="Y Kông", role="officer", unit=commune, username="y.kong"
        )
        now = utcnow()
        await WebSession.create(
            token_hash="a" * 64,
            staff=staff,
            last_seen_at=now,
            expires_at=now + timedelta(hours=1),
        )
        return staff.id

    return int(query(cli_env, build))


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def test_set_a_password_from_stdin(
    cli_env: str, officer: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, "a long enough password\n")
    assert run("staff", "password", "--username", "Y.Kong") == 0
    out = capsys.readouterr().out
    assert "password set for y.kong" in out
    assert "a long enough password" not in out

    async def check() -> Any:
        staff = await Staff.get(id=officer)
        session = await WebSession.get(staff_id=officer)
        event = await AuditEvent.get(action="auth.password_set")
        return staff.password_hash, session.revoked_at, event.data

    password_hash, revoked_at, data = query(cli_env, check)
    assert verify_password(password_hash, "a long enough password")
    assert revoked_at is not None
    assert data == {"sessions_ended": 1}


def test_a_short_password_or_an_unknown_username_changes_nothing(
    cli_env: str, officer: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, "short\n")
    assert run("staff", "password", "--username", "y.kong") == 2
    assert "at least 12 characters" in capsys.readouterr().err
    _stdin(monkeypatch, "a long enough password\n")
    assert run("staff", "password", "--username", "nobody") == 2
    assert "no staff member has the username 'nobody'" in capsys.readouterr().err

    async def check() -> Any:
        staff = await Staff.get(id=officer)
        session = await WebSession.get(staff_id=officer)
        return staff.password_hash, session.revoked_at

    assert query(cli_env, check) == (None, None)


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("qwerty123456\n", "one of the most common passwords"),
        ("YKong2026ykong\n", "made of your name, your username"),
    ],
)
def test_a_common_or_personal_password_is_refused_and_changes_nothing(
    cli_env: str,
    officer: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    typed: str,
    said: str,
) -> None:
    _stdin(monkeypatch, typed)
    assert run("staff", "password", "--username", "y.kong") == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err
    assert typed.strip() not in err

    async def check() -> Any:
        staff = await Staff.get(id=officer)
        session = await WebSession.get(staff_id=officer)
        return staff.password_hash, session.revoked_at, await AuditEvent.exists()

    assert query(cli_env, check) == (None, None, False)


def test_help(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from communepol.cli import main

    with pytest.raises(SystemExit):
        main(["staff", "password", "--help"])
    assert "standard input" in capsys.readouterr().out
