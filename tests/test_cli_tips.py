"""`communepol tips …` as staff use it on the server: the deadlines a unit's tips get and where
they come from, setting them, routing rules, the response-time board per commune and the CSV
export — which never names a sender and carries the tips' text only when asked. Bad input ends
with one line and writes nothing; times are shown in Asia/Ho_Chi_Minh."""

from __future__ import annotations

import csv
import re
import stat
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

import communepol.clock
from communepol.cli import main
from communepol.db.models import (
    AuditEvent,
    ChannelKind,
    Contact,
    Role,
    RoutingRule,
    SlaPolicy,
    Staff,
    TipRoute,
    UnitLevel,
)
from communepol.services.contacts import ContactIdentity, find_or_create_contact
from communepol.services.tips import TipInput, Tips
from tests import pagekit
from tests.services.test_tips import Clock, clock
from tests.test_cli import cli_env, query, run

__all__ = ["cli_env", "clock"]  # the fixtures, imported for the tests below

DESK = Tips(pagekit.KEYRING)
LOCAL_START = "2026-03-02 09:30"  # the test clock's start in Asia/Ho_Chi_Minh
NAME = "Hoàng Thị Lan"


@dataclass(frozen=True)
class Seeded:
    """Ids of Đắk Lắk (66) with the communes Ea Kar (24340) and Cư Huê (24400) and its cyber
    desk, Tây Ninh (72) with Tân Lập, and Ea Kar's officer."""

    province: int
    ea_kar: int
    cu_hue: int
    cyber: int
    tan_lap: int
    officer: int


async def _seed() -> Seeded:
    province = await pagekit.unit("Tỉnh Đắk Lắk", UnitLevel.PROVINCE, code="66")
    ea_kar = await pagekit.unit("Xã Ea Kar", parent=province, code="24340")
    cu_hue = await pagekit.unit("Xã Cư Huê", parent=province, code="24400")
    cyber = await pagekit.unit("Phòng An ninh mạng", UnitLevel.DISTRICT, parent=province)
    tay_ninh = await pagekit.unit("Tỉnh Tây Ninh", UnitLevel.PROVINCE, code="72")
    tan_lap = await pagekit.unit("Xã Tân Lập", parent=tay_ninh, code="25000")
    officer = await Staff.create(full_name="Nguyễn Văn An", role=Role.OFFICER, unit=ea_kar)
    return Seeded(province.id, ea_kar.id, cu_hue.id, cyber.id, tan_lap.id, officer.id)


@pytest.fixture
def env(cli_env: str, clock: Clock) -> Seeded:
    seeded: Seeded = query(cli_env, _seed)
    return seeded


async def _resident(user: str, name: str | None = None) -> Contact:
    account = await pagekit.account(ChannelKind.TELEGRAM, f"bot {user}")
    found, _ = await find_or_create_contact(
        pagekit.KEYRING, account, ContactIdentity(user, name), locale="en"
    )
    return found


def submit(url: str, unit_id: int, category: str, text: str, *, named: bool = False) -> str:
    """A tip sent now (by the test's clock); its reference."""

    async def go() -> str:
        resident = await _resident(f"user-{text[:8]}", NAME)
        sent = await DESK.submit(resident, TipInput(category, text, unit_id, anonymous=not named))
        return sent.reference

    return str(query(url, go))


def act(url: str, officer_id: int, verb: str, reference: str, text: str = "") -> None:
    async def go() -> None:
        officer = await Staff.get(id=officer_id)
        if verb == "reply":
            await DESK.reply(officer, reference, text)
        elif verb == "ack":
            await DESK.acknowledge(officer, reference)
        else:
            await DESK.resolve(officer, reference, text)

    query(url, go)


def output(capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.out, captured.err


def refused(capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line of a command that printed nothing else."""
    out, err = output(capsys)
    assert out == "" and err.startswith("communepol: error: ") and err.count("\n") == 1, err
    return err.removeprefix("communepol: error: ").rstrip("\n")


def cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def table(out: str) -> dict[str, list[str]]:
    """The rows of a printed table by their first cell (header included)."""
    return {cells(line)[0]: cells(line) for line in out.splitlines() if "  " in line.strip()}


def audit_actions(url: str) -> list[tuple[str, str]]:
    async def go() -> list[tuple[str, str]]:
        rows = await AuditEvent.all().order_by("id").values_list("action", "actor_label")
        return [(str(a), str(b)) for a, b in rows]

    return list(query(url, go))


# -- help and malformed arguments ----------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["tips"],
        ["tips", "sla"],
        ["tips", "sla", "show"],
        ["tips", "sla", "set"],
        ["tips", "route"],
        ["tips", "route", "add"],
        ["tips", "route", "list"],
        ["tips", "route", "remove"],
        ["tips", "board"],
        ["tips", "export"],
    ],
)
def test_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main([*argv, "--help"])
    assert caught.value.code == 0
    assert "usage: communepol" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["tips", "sla", "set", "66", "critical", "ten", "60", "10"],
        ["tips", "sla", "set", "66", "critical", "10", "-60", "10"],
        ["tips", "sla", "set", "66", "critical", "10", "60"],
        ["tips", "route", "remove", "x"],
        ["tips", "route", "remove", "0"],
        ["tips", "board", "66", "--days", "0"],
        ["tips", "export", "66", "--since", "2025-13-01", "--out", "x.csv"],
        ["tips", "export", "66"],
    ],
)
def test_malformed_arguments_are_bad_input(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert "error:" in capsys.readouterr().err


# -- sla -----------------------------------------------------------------------------------------


def test_sla_show_gives_the_defaults_then_the_nearest_policy(
    env: Seeded, cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("tips", "sla", "show", "ea kar") == 0
    out, _ = output(capsys)
    assert out.splitlines()[0] == "deadlines of new tips in Xã Ea Kar (24340), in minutes:"
    rows = table(out)
    assert rows["URGENCY"] == ["URGENCY", "FIRST RESPONSE", "RESOLUTION", "REPEAT", "FROM"]
    assert rows["critical"] == ["critical", "10", "1440", "10", "defaults"]
    assert rows["low"] == ["low", "2880", "43200", "1440", "defaults"]

    assert run("tips", "sla", "set", "66", "critical", "5", "120", "5") == 0
    out, _ = output(capsys)
    assert out == (
        "critical tips of Tỉnh Đắk Lắk (66) and the units below it without a policy of their "
        "own: first response within 5 min, resolution within 120 min, escalated again every "
        "5 min\n"
    )
    assert run("tips", "sla", "set", "24340", "high", "30", "600", "15") == 0
    output(capsys)

    assert run("tips", "sla", "show", "24340") == 0
    rows = table(output(capsys)[0])
    assert rows["critical"] == ["critical", "5", "120", "5", "Tỉnh Đắk Lắk (66)"]
    assert rows["high"] == ["high", "30", "600", "15", "Xã Ea Kar (24340)"]
    assert rows["normal"][-1] == "defaults"
    # A commune beside it has the province's critical policy and the default high one.
    assert run("tips", "sla", "show", "cu hue") == 0
    rows = table(output(capsys)[0])
    assert rows["critical"][-1] == "Tỉnh Đắk Lắk (66)" and rows["high"][-1] == "defaults"
    assert audit_actions(cli_env) == [("sla.policy_set", "cli"), ("sla.policy_set", "cli")]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["66", "urgent", "5", "60", "5"], "urgency: critical, high, normal or low"),
        (["66", "critical", "60", "5", "5"], "resolution cannot come before the first response"),
        (["66", "critical", "0", "60", "5"], "first response: 1 minute to 1 year, in minutes"),
        (["nowhere at all", "critical", "5", "60", "5"], "no unit matches 'nowhere at all'"),
    ],
)
def test_sla_set_refuses_bad_values_and_writes_nothing(
    env: Seeded, cli_env: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert run("tips", "sla", "set", *argv) == 2
    assert refused(capsys) == message
    assert query(cli_env, lambda: SlaPolicy.all().count()) == 0
    assert audit_actions(cli_env) == []


# -- routes --------------------------------------------------------------------------------------


def test_routes_are_added_listed_used_and_removed(
    env: Seeded, cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("tips", "route", "list") == 0
    assert output(capsys)[0] == "no routing rules (add one with `communepol tips route add`)\n"

    assert run("tips", "route", "add", "66", "fraud", "an ninh mang") == 0
    rule_id = query(cli_env, lambda: RoutingRule.first().values_list("id", flat=True))
    assert output(capsys)[0] == (
        f"route {rule_id}: fraud tips of Tỉnh Đắk Lắk (66) and the units below it also go to "
        "Phòng An ninh mạng\n"
    )
    assert run("tips", "route", "add", "66", "fraud", "an ninh mang") == 1
    assert refused(capsys) == f"this route exists already (route {rule_id})"
    assert run("tips", "route", "add", "66", "scam", "an ninh mang") == 2
    assert refused(capsys).startswith("unknown tip category 'scam': theft, drugs,")

    assert run("tips", "route", "list") == 0
    rows = table(output(capsys)[0])
    assert rows[str(rule_id)] == [str(rule_id), "fraud", "Tỉnh Đắk Lắk (66)", "Phòng An ninh mạng"]

    # The rule is in force: a fraud reported in Ea Kar reaches the cyber desk too.
    submit(cli_env, env.ea_kar, "fraud", "Bị lừa chuyển 20 triệu")
    routed = query(cli_env, lambda: TipRoute.all().values_list("unit_id", flat=True))
    assert list(routed) == [env.cyber]

    assert run("tips", "route", "remove", str(rule_id)) == 0
    assert output(capsys)[0] == (
        f"route {rule_id} removed (fraud tips of Tỉnh Đắk Lắk (66) no longer go to "
        "Phòng An ninh mạng)\n"
    )
    assert run("tips", "route", "remove", str(rule_id)) == 2
    assert refused(capsys) == f"no route {rule_id}"
    routes = [row for row in audit_actions(cli_env) if row[0].startswith("tip.route")]
    assert routes == [("tip.route_added", "cli"), ("tip.route_removed", "cli")]


# -- board ---------------------------------------------------------------------------------------


def test_the_board_shows_response_times_per_commune(
    env: Seeded,
    cli_env: str,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(communepol.clock, "utcnow", clock)
    submit(cli_env, env.ea_kar, "theft", "Chuyện cũ hơn một tháng")
    clock.advance(days=40)
    start = clock.now
    fast = submit(cli_env, env.ea_kar, "theft", "Mất trộm gà")
    clock.advance(minutes=1)
    slow = submit(cli_env, env.ea_kar, "theft", "Mất trộm xe đạp")
    submit(cli_env, env.tan_lap, "theft", "Ở tỉnh khác")
    clock.now = start + timedelta(minutes=4)
    act(cli_env, env.officer, "reply", fast, "Đã ghi nhận")
    clock.now = start + timedelta(minutes=11)
    act(cli_env, env.officer, "ack", slow)
    act(cli_env, env.officer, "resolve", slow, "Đã tìm thấy")
    clock.now = start + timedelta(hours=1)

    assert run("tips", "board", "dak lak") == 0
    out, _ = output(capsys)
    assert out.splitlines()[0] == (
        "tips of the communes in Tỉnh Đắk Lắk (66) received in the last 30 days "
        "(to 2026-04-11 10:30 Asia/Ho_Chi_Minh); open and overdue: now; minutes to the first "
        "response"
    )
    rows = table(out)
    assert rows["COMMUNE"] == [
        "COMMUNE", "RECEIVED", "ANSWERED", "MEDIAN", "P90", "OPEN", "OVERDUE"
    ]  # fmt: skip
    # The month-old tip is outside the window but still open, and overdue.
    assert rows["Xã Ea Kar"] == ["Xã Ea Kar", "2", "2", "7.0", "10.0", "2", "1"]
    assert rows["Xã Cư Huê"] == ["Xã Cư Huê", "0", "0", "-", "-", "0", "0"]
    assert "Xã Tân Lập" not in rows

    assert run("tips", "board", "24340", "--days", "60") == 0
    rows = table(output(capsys)[0])
    assert rows["Xã Ea Kar"] == ["Xã Ea Kar", "3", "2", "7.0", "10.0", "2", "1"]
    assert list(rows) == ["COMMUNE", "Xã Ea Kar"]


# -- export --------------------------------------------------------------------------------------


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_export_writes_the_units_tips_without_naming_anyone(
    env: Seeded,
    cli_env: str,
    clock: Clock,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    anonymous = submit(cli_env, env.ea_kar, "theft", "Mất trộm bò ở thôn 3")
    named = submit(cli_env, env.cu_hue, "gambling", '=HYPERLINK("http://x")', named=True)
    submit(cli_env, env.tan_lap, "theft", "Ở tỉnh khác")
    clock.advance(minutes=4)
    act(cli_env, env.officer, "reply", anonymous, "Đã ghi nhận")
    act(cli_env, env.officer, "resolve", anonymous, "Đã tìm thấy bò")
    out_file = tmp_path / "tips.csv"

    assert run("tips", "export", "66", "--out", str(out_file)) == 0
    assert output(capsys)[0] == f"2 tips of Tỉnh Đắk Lắk (66) written to {out_file}\n"
    rows = read_csv(out_file)
    assert list(rows[0]) == [
        "reference",
        "created_at",
        "unit",
        "category",
        "urgency",
        "status",
        "sender",
        "first_response_minutes",
        "resolved_at",
        "outcome",
    ]
    first, second = rows
    assert first["reference"] == anonymous and first["created_at"] == LOCAL_START
    assert (first["unit"], first["category"], first["urgency"], first["status"]) == (
        "Xã Ea Kar",
        "theft",
        "high",
        "resolved",
    )
    assert re.fullmatch(r"Người báo tin #[0-9A-F]{4}", first["sender"])
    assert first["first_response_minutes"] == "4.0"
    assert (first["resolved_at"], first["outcome"]) == ("2026-03-02 09:34", "Đã tìm thấy bò")
    assert (second["reference"], second["sender"]) == (named, "named")
    assert second["first_response_minutes"] == second["resolved_at"] == ""
    text = out_file.read_text(encoding="utf-8-sig")
    assert NAME not in text and "Mất trộm bò" not in text and "HYPERLINK" not in text
    # Police data: readable by its owner only.
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600

    out_file.chmod(0o644)
    assert run("tips", "export", "66", "--out", str(out_file), "--with-text") == 0
    output(capsys)
    first, second = read_csv(out_file)
    assert first["text"] == "Mất trộm bò ở thôn 3"
    # A formula typed by a resident stays text in a spreadsheet.
    assert second["text"] == '\'=HYPERLINK("http://x")'
    assert NAME not in out_file.read_text(encoding="utf-8-sig")
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
    exported = [row for row in audit_actions(cli_env) if row[0] == "tip.exported"]
    assert exported == [("tip.exported", "cli"), ("tip.exported", "cli")]


def test_export_since_a_day_and_of_a_routed_unit(
    env: Seeded,
    cli_env: str,
    clock: Clock,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run("tips", "route", "add", "66", "fraud", "an ninh mang") == 0
    submit(cli_env, env.ea_kar, "theft", "Tháng trước")
    clock.advance(days=1)  # 2026-03-03 09:30 in Vietnam
    fraud = submit(cli_env, env.ea_kar, "fraud", "Bị lừa chuyển tiền")
    theft = submit(cli_env, env.ea_kar, "theft", "Mất trộm")
    output(capsys)

    out_file = tmp_path / "since.csv"
    assert run("tips", "export", "ea kar", "--since", "2026-03-03", "--out", str(out_file)) == 0
    assert [row["reference"] for row in read_csv(out_file)] == [fraud, theft]
    output(capsys)
    # The cyber desk's export holds the tips routed to it.
    assert run("tips", "export", "an ninh mang", "--out", str(out_file)) == 0
    assert output(capsys)[0] == f"1 tip of Phòng An ninh mạng written to {out_file}\n"
    assert [row["reference"] for row in read_csv(out_file)] == [fraud]


def test_export_to_a_missing_directory_is_refused_before_anything_happens(
    env: Seeded, cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "missing" / "tips.csv"
    assert run("tips", "export", "66", "--out", str(target)) == 2
    assert refused(capsys) == f"no such directory: {target.parent}"
    assert not target.parent.exists()
    assert audit_actions(cli_env) == []


def test_units_are_checked(env: Seeded, cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["tips", "sla", "show", "99999"],
        ["tips", "board", "nowhere at all"],
        ["tips", "route", "add", "66", "fraud", "nowhere at all"],
    ):
        assert run(*argv) == 2
        assert refused(capsys).startswith("no unit matches")
    assert query(cli_env, lambda: RoutingRule.all().count()) == 0
