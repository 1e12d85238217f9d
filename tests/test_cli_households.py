"""`communepol households add|list|own-code|group …`: the operator registers households, makes
a group of them with a link code a representative can use once, hands it over, adds and takes
out households — each bad input one error line, nothing written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from communepol.crypto import Keyring
from communepol.db.models import AuditEvent, HouseholdGroup, HouseholdGroupMember, LinkCode
from communepol.services import householdgroups
from tests import pagekit
from tests.conftest import TEST_SECRET_KEY
from tests.test_cli import cli_env, query, run, with_dak_lak

__all__ = ["cli_env", "with_dak_lak"]  # fixtures

CODE = re.compile(r"link code: ([A-Z0-9]{4}-[A-Z0-9]{4}) \(works once")


def _code(out: str) -> str:
    found = CODE.search(out)
    assert found, out
    return found.group(1)


def test_households_and_a_group_from_the_command_line(
    with_dak_lak: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert (
        run("units", "add-hamlet", "--commune", "cu mgar", "--name", "Ea Sinh", "--kind", "Buôn")
        == 0
    )
    ids = []
    for head in ("Y Kông Êban", "H'Luyến Kbuôr", "Y Bhim Niê"):
        capsys.readouterr()
        argv = ["households", "add", "--commune", "cu mgar", "--hamlet", "ea sinh"]
        assert run(*argv, "--head", head, "--members", "5") == 0
        out = capsys.readouterr().out
        assert f"added: {head}, Buôn Ea Sinh, Xã Cư M'gar" in out
        ids.append(out.split()[1])
    # Refused, with one line and nothing written.
    argv = ["households", "add", "--commune", "cu mgar", "--head", "Y Ami", "--members"]
    assert run(*argv, "0", "--hamlet", "ea sinh") == 2
    assert capsys.readouterr().err.startswith("communepol: error: members must be")
    assert run(*argv, "3", "--hamlet", "ea kmat") == 2
    assert "has no hamlet called 'ea kmat' (its hamlets: Buôn Ea Sinh)" in capsys.readouterr().err
    assert run("households", "list", "--commune", "cu mgar") == 0
    listing = capsys.readouterr().out
    assert listing.count("Buôn Ea Sinh") == 3 and "Y Ami" not in listing

    assert (
        run("households", "group", "create", "--commune", "cu mgar", "--name", "Nhóm 1", *ids) == 0
    )
    out = capsys.readouterr().out
    assert "'Nhóm 1' of Xã Cư M'gar: 3 households" in out
    code = _code(out)
    group_id = str(query(with_dak_lak, lambda: HouseholdGroup.get(name="Nhóm 1")).id)
    # A household already in a group cannot be in a second one.
    assert (
        run("households", "group", "create", "--commune", "cu mgar", "--name", "Nhóm 2", ids[0])
        == 1
    )
    assert "already in the group 'Nhóm 1'" in capsys.readouterr().err

    async def link(user: str, with_code: str) -> int:
        account = await pagekit.account(name=f"bot-{user}")
        rep = await pagekit.contact(account, user)
        view = await householdgroups.link_representative(Keyring(TEST_SECRET_KEY), rep, with_code)
        return len(view.members)

    assert query(with_dak_lak, lambda: link("rep-1", code)) == 3
    assert run("households", "group", "show", group_id) == 0
    shown = capsys.readouterr().out
    assert "representative: linked" in shown and shown.count("not yet") == 3

    # A new code for a handover; the used one stays used.
    assert run("households", "group", "code", group_id) == 0
    fresh = _code(capsys.readouterr().out)
    assert fresh != code
    assert query(with_dak_lak, lambda: LinkCode.filter(used_at__isnull=True).count()) == 1

    assert run("households", "group", "remove", group_id, ids[2]) == 0
    assert run("households", "group", "remove", group_id, ids[2]) == 2  # not in it any more
    assert "not found" in capsys.readouterr().err
    assert run("households", "group", "add", group_id, ids[2]) == 0
    members = query(
        with_dak_lak,
        lambda: HouseholdGroupMember.filter(
            group_id=int(group_id), removed_at__isnull=True
        ).count(),
    )
    assert members == 3
    assert run("households", "own-code", ids[0]) == 0
    assert "own account" in capsys.readouterr().out
    assert run("households", "group", "show", "999999") == 2
    actions = query(
        with_dak_lak, lambda: AuditEvent.filter(actor_label="cli").values_list("action", flat=True)
    )
    assert {
        "household.added",
        "household_group.created",
        "household_group.code_issued",
        "household_group.member_removed",
        "household_group.member_added",
        "household.code_issued",
    } <= set(actions)
