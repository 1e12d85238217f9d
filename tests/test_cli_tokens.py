"""`communepol tokens …` as an operator uses it: a token is printed once and only its keyed hash
is stored, the list shows no secret, a revoked token is marked, and bad input ends with one
``communepol: error:`` line, exit code 2 and nothing written."""

from __future__ import annotations

from typing import Any

import pytest

from communepol.db.models import ApiToken, AuditEvent, Role, Staff, UnitLevel
from communepol.services.apitokens import TOKEN_PREFIX, token_hash
from tests import pagekit
from tests.test_cli import cli_env, query, run

__all__ = ["cli_env"]


async def _seed() -> int:
    province = await pagekit.unit("Tỉnh Đắk Lắk", UnitLevel.PROVINCE, code="66")
    commune = await pagekit.unit("Xã Ea Kar", parent=province, code="24340")
    staff = await Staff.create(
        full_name="Nguyễn Văn An", role=Role.OFFICER, unit=commune, username="an.nguyen"
    )
    return staff.id


@pytest.fixture
def env(cli_env: str) -> str:
    query(cli_env, _seed)
    return cli_env


def _token_of(output: str) -> str:
    [token] = [line for line in output.splitlines() if line.startswith(TOKEN_PREFIX)]
    return token


def test_create_list_revoke(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        run("tokens", "create", "--username", "an.nguyen", "--name", "báo cáo", "--days", "7") == 0
    )
    out = capsys.readouterr().out
    token = _token_of(out)
    assert len(token) >= len(TOKEN_PREFIX) + 43

    async def rows() -> list[dict[str, Any]]:
        return list(await ApiToken.all().values())

    [row] = query(env, rows)
    assert row["name"] == "báo cáo"
    assert token not in repr(row)  # never stored in clear
    assert row["token_hash"] == token_hash(pagekit.KEYRING, token)
    assert (row["expires_at"] - row["created_at"]).days == 7

    assert run("tokens", "list", "--username", "an.nguyen") == 0
    listed = capsys.readouterr().out
    assert "báo cáo" in listed and "active" in listed
    assert token not in listed and row["token_hash"] not in listed

    assert run("tokens", "revoke", str(row["id"])) == 0
    assert "revoked" in capsys.readouterr().out
    assert run("tokens", "list", "--username", "an.nguyen") == 0
    assert "revoked" in capsys.readouterr().out
    # Twice: refused, exit 1.
    assert run("tokens", "revoke", str(row["id"])) == 1
    assert "already revoked" in capsys.readouterr().err

    async def audited() -> list[str]:
        return list(
            await AuditEvent.filter(object_type="api_token")
            .order_by("id")
            .values_list("action", flat=True)
        )

    assert query(env, audited) == ["api_token.created", "api_token.revoked"]

    async def audit_data() -> str:
        return repr(await AuditEvent.all().values())

    assert token not in query(env, audit_data)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["create", "--username", "nobody", "--name", "x"], "no staff member"),
        (["create", "--username", "an.nguyen", "--name", "   "], "name needs"),
        (["create", "--username", "an.nguyen", "--name", "x" * 101], "name needs"),
        (["create", "--username", "an.nguyen", "--name", "x", "--days", "0"], "days"),
        (["create", "--username", "an.nguyen", "--name", "x", "--days", "abc"], "days"),
        (["list", "--username", "nobody"], "no staff member"),
        (["revoke", "999"], "no API token 999"),
        (["revoke", "-1"], "token id"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    env: str, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = run("tokens", *argv)
    except SystemExit as exit_:  # argparse's own refusal of a malformed argument
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    assert code == 2
    assert message in captured.err
    errors = [line for line in captured.err.splitlines() if "error:" in line]
    assert len(errors) == 1 and TOKEN_PREFIX not in captured.out

    async def written() -> tuple[int, int]:
        return await ApiToken.all().count(), await AuditEvent.all().count()

    assert query(env, written) == (0, 0)


def test_a_deactivated_staff_member_gets_no_token(
    env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async def deactivate() -> None:
        await Staff.filter(username="an.nguyen").update(active=False)

    query(env, deactivate)
    assert run("tokens", "create", "--username", "an.nguyen", "--name", "x") == 2
    assert "deactivated" in capsys.readouterr().err
