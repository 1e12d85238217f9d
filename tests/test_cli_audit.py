"""`communepol audit incident` as an operator runs it after a breach alert, on both engines: the
report's figures (sign-ins and addresses, tips read and exported with their references,
categories, communes and anonymous count, refused attempts, alerts) equal a count made here
from what was seeded, in text and in JSON; events outside the window or of someone else are
left out; no tip text is printed; bad arguments are one error line, exit code 2."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from communepol.db.models import AuditEvent, ChannelKind, Role, Staff, Tip, UnitLevel
from communepol.ports import Location
from communepol.services import audit, breachwatch
from communepol.services.tips import TipInput, Tips
from tests import pagekit
from tests.test_cli import cli_env, query, run

__all__ = ["cli_env"]

VN = ZoneInfo("Asia/Ho_Chi_Minh")
TEXT = "Bán ma túy ở quán cà phê"  # in every tip's text: never in the report


def vn(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, 2, hour, minute, tzinfo=VN)


async def _at(event: AuditEvent, moment: datetime) -> None:
    await AuditEvent.filter(id=event.id).update(at=moment)


async def _seed() -> dict[str, Any]:
    province = await pagekit.unit("Tỉnh Đắk Lắk", UnitLevel.PROVINCE, code="66")
    a = await pagekit.unit("Xã Ea Kar", parent=province, code="24340")
    b = await pagekit.unit("Xã Ea Păl", parent=province, code="24341")
    an = await Staff.create(
        full_name="Nguyễn Văn An", role=Role.OFFICER, unit=a, username="an.nguyen"
    )
    other = await Staff.create(full_name="Trần Bình", role=Role.OFFICER, unit=a, username="binh")
    bot = await pagekit.account(ChannelKind.TELEGRAM, "bot")
    desk = Tips(pagekit.KEYRING)

    async def tip(n: int, category: str, unit: Any, **kw: Any) -> Tip:
        resident = await pagekit.contact(bot, f"resident-{n}")
        return (await desk.submit(resident, TipInput(category, f"{TEXT} {n}", unit.id, **kw))).tip

    located = await tip(1, "theft", a, location=Location(12.9, 108.4))
    named = await tip(2, "drugs", a, anonymous=False)
    late = await tip(3, "fraud", a)
    theirs = await tip(4, "theft", b)

    async def read(who: Staff, which: Tip, source: str, ip: str | None, moment: datetime) -> None:
        await _at(await breachwatch.record_tip_read(who, which, source=source, ip=ip), moment)

    await _at(
        await audit.record(
            "auth.login_failed",
            actor_label="web login",
            object_type="login",
            object_id="hash",
            unit_id=a.id,
            source="web",
            ip="10.0.0.9",
            data={"reason": "bad_password", "staff": an.id},
        ),
        vn(8, 3),
    )
    await _at(
        await audit.record(
            "auth.login",
            actor=an,
            object_type="web_session",
            object_id=1,
            source="web",
            unit_id=a.id,
            ip="10.0.0.7",
        ),
        vn(8, 5),
    )
    await read(an, located, "web", "10.0.0.7", vn(9, 0))
    await read(an, located, "bot", None, vn(9, 1))
    await read(an, named, "api", "10.0.0.8", vn(9, 2))
    await read(an, late, "web", "10.0.0.7", vn(13, 0))  # after the window
    await read(other, late, "web", "10.0.0.5", vn(9, 3))  # someone else
    await _at(await breachwatch.record_refused(an, theirs, source="bot"), vn(9, 5))
    await _at(
        await audit.record(
            "tip.exported",
            actor=an,
            object_type="unit",
            object_id=a.id,
            unit_id=a.id,
            source="web",
            data={"tips": 7, "with_text": False},
        ),
        vn(9, 8),
    )
    await _at(
        await audit.record(
            "security.alert",
            actor_label="breach watch",
            object_type="staff",
            object_id=an.id,
            unit_id=a.id,
            data={"kind": "tip_reads", "count": 41},
        ),
        vn(9, 10),
    )
    return {
        "an": an.id,
        "read": sorted(f"T-{t.reference}" for t in (located, named)),
        "refused": [f"T-{theirs.reference}"],
    }


@pytest.fixture
def seeded(cli_env: str) -> dict[str, Any]:
    return query(cli_env, _seed)  # type: ignore[no-any-return]


WINDOW = ["--since", "2026-03-02 08:00", "--until", "2026-03-02 12:00"]


def test_the_json_report_matches_what_happened(
    seeded: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("audit", "incident", "an.nguyen", *WINDOW, "--json") == 0
    out = capsys.readouterr().out
    assert TEXT not in out
    report = json.loads(out)
    assert report["account"] == {
        "id": seeded["an"],
        "name": "Nguyễn Văn An",
        "username": "an.nguyen",
        "role": "officer",
        "unit": "Xã Ea Kar",
        "active": True,
    }
    assert report["window"] == {
        "since": "2026-03-02T08:00:00+07:00",
        "until": "2026-03-02T12:00:00+07:00",
    }
    assert [(a["at"], a["action"], a["ip"], a["reason"]) for a in report["access"]] == [
        ("2026-03-02T08:03:00+07:00", "auth.login_failed", "10.0.0.9", "bad_password"),
        ("2026-03-02T08:05:00+07:00", "auth.login", "10.0.0.7", None),
    ]
    assert report["addresses"] == ["10.0.0.7", "10.0.0.8", "10.0.0.9"]
    assert report["read"] == {
        "events": 3,  # the same tip twice (web, then bot) and another one
        "tips": 2,
        "references": seeded["read"],
        "categories": {"drugs": 1, "theft": 1},
        "communes": {"Xã Ea Kar": 2},
        "anonymous": 1,
        "with_location": 1,
        "with_files": 0,
    }
    assert report["exported"] == {"exports": 1, "tips": 7, "with_text": 0}
    assert report["refused"]["events"] == 1
    assert report["refused"]["references"] == seeded["refused"]
    assert report["refused"]["communes"] == {"Xã Ea Păl": 1}
    assert report["alerts"] == [
        {"at": "2026-03-02T09:10:00+07:00", "kind": "tip_reads", "count": 41}
    ]

    # By id, with a window that starts later: the sign-ins and the first read drop out.
    assert (
        run(
            "audit",
            "incident",
            str(seeded["an"]),
            "--since",
            "2026-03-02 09:01",
            "--until",
            "2026-03-02 12:00",
            "--json",
        )
        == 0
    )
    later = json.loads(capsys.readouterr().out)
    assert later["access"] == []
    assert (later["read"]["events"], later["read"]["tips"]) == (2, 2)


def test_the_text_report_says_the_same(
    seeded: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("audit", "incident", "an.nguyen", *WINDOW) == 0
    out = capsys.readouterr().out
    assert TEXT not in out
    lines = out.splitlines()
    assert lines[0] == f"incident report: staff {seeded['an']} Nguyễn Văn An (an.nguyen)"
    assert "account: officer of Xã Ea Kar, active" in lines
    assert "window: 2026-03-02 08:00 Asia/Ho_Chi_Minh to 2026-03-02 12:00 Asia/Ho_Chi_Minh" in lines
    assert "sign-ins: 1" in lines
    assert "addresses: 10.0.0.7, 10.0.0.8, 10.0.0.9" in lines
    assert "tips read: 2 tips (3 times)" in lines
    assert f"  references: {', '.join(seeded['read'])}" in lines
    assert "  categories: drugs 1, theft 1" in lines
    assert "  anonymous: 1 · with a location: 1 · with photos or files: 0" in lines
    assert "tips exported: 7 in 1 exports (0 with the tips' text)" in lines
    assert "refused attempts on tips outside the account's area: 1 tips (1 times)" in lines
    assert "security alerts: 1" in lines


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nobody"], "no staff member with the id or username 'nobody'"),
        (["an.nguyen", "--since", "yesterday"], "'yesterday' is not a time"),
        (
            ["an.nguyen", "--since", "2026-03-02 12:00", "--until", "2026-03-02 08:00"],
            "the window must end after it starts",
        ),
        (
            ["an.nguyen", "--since", "2025-01-01", "--until", "2026-03-02 12:00"],
            "the window is at most 92 days",
        ),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    seeded: dict[str, Any], capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert run("audit", "incident", *argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("communepol: error: ") and message in captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        run("audit", "incident", "--help")
    assert caught.value.code == 0
    assert "--json" in capsys.readouterr().out
