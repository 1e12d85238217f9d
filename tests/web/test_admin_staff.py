"""The roster and the duty board through the real application: a supervisor adds an officer
(the link code shown once, and it works once), deactivates someone (whose open web session is
refused at the next request), and cannot hand out a role or a unit beyond their own; an officer
reads their commune's roster but reaches no write route; the duty board starts and ends a
shift; every route × role stays inside the subtree, and every write refuses a missing CSRF
token."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from communepol import keys
from communepol.crypto import Keyring
from communepol.db.models import (
    AuditEvent,
    DutyShift,
    LinkCode,
    LinkPurpose,
    Role,
    Staff,
    WebSession,
)
from communepol.errors import ValidationError
from communepol.services.staff import consume_link_code
from tests.web.adminkit import Browser, Clock, Scene, csrf_of, signed_in

_CODE = re.compile(r'<code class="link-code">([A-Z0-9-]+)</code>')


def keyring_of(client: TestClient[Any, Any]) -> Keyring:
    app = client.app
    assert app is not None
    return app[keys.KEYRING]


def code_of(html: str) -> str:
    found = _CODE.search(html)
    assert found, "the page shows no link code"
    return found.group(1)


async def test_a_supervisor_adds_an_officer_whose_code_is_shown_once_and_works_once(
    client: TestClient[Any, Any], people: Scene, clock: Clock
) -> None:
    browser = await signed_in(client, people.supervisor_1, clock, {})
    page = await (await browser.get("/admin/staff?lang=en")).text()
    added = await browser.post(
        "/admin/staff?lang=en",
        {
            "csrf": csrf_of(page),
            "full_name": "Hoàng Văn Mới",
            "unit": str(people.commune_a.id),
            "role": "officer",
            "phone": "0912 345 678",
        },
    )
    assert added.status == 200
    html = unescape(await added.text())
    code = code_of(html)
    newcomer = await Staff.get(full_name="Hoàng Văn Mới")
    assert newcomer.role is Role.OFFICER and newcomer.unit_id == people.commune_a.id  # type: ignore[attr-defined]
    assert newcomer.phone == "+84912345678" and newcomer.active
    row = html.split(f'id="staff-{newcomer.id}"')[1].split("</tr>")[0]
    assert "Xã Ea Pốk" in row
    again = await (await browser.get("/admin/staff")).text()
    assert code not in again and _CODE.search(again) is None
    assert await AuditEvent.exists(action="staff.added", object_id=str(newcomer.id))

    link = await consume_link_code(keyring_of(client), code, LinkPurpose.STAFF)
    assert link.staff_id == newcomer.id  # type: ignore[attr-defined]
    with pytest.raises(ValidationError):
        await consume_link_code(keyring_of(client), code, LinkPurpose.STAFF)

    # A new code for them: the earlier unused one stops working.
    fresh = await browser.post(f"/admin/staff/{newcomer.id}/code", {"csrf": csrf_of(again)})
    assert fresh.status == 200
    first = code_of(await fresh.text())
    second = code_of(
        await (
            await browser.post(f"/admin/staff/{newcomer.id}/code", {"csrf": csrf_of(again)})
        ).text()
    )
    with pytest.raises(ValidationError):
        await consume_link_code(keyring_of(client), first, LinkPurpose.STAFF)
    assert (
        await consume_link_code(keyring_of(client), second, LinkPurpose.STAFF)
    ).staff_id == newcomer.id  # type: ignore[attr-defined]


async def test_deactivating_someone_ends_their_web_session_at_once(
    client: TestClient[Any, Any], people: Scene, clock: Clock
) -> None:
    officer = await signed_in(client, people.officer_a, clock, {})
    assert (await officer.get("/admin/")).status == 200
    supervisor = await signed_in(client, people.supervisor_1, clock, {})
    token = csrf_of(await (await supervisor.get("/admin/staff")).text())
    done = await supervisor.post(f"/admin/staff/{people.officer_a.id}/deactivate", {"csrf": token})
    assert done.status == 303
    await people.officer_a.refresh_from_db()
    assert not people.officer_a.active and people.officer_a.deactivated_at is not None
    assert not await WebSession.filter(
        staff_id=people.officer_a.id, revoked_at__isnull=True
    ).exists()
    refused = await officer.get("/admin/")
    assert refused.status == 303 and refused.headers["Location"] == "/admin/login"
    again = await officer.login("officer.a")
    assert again.status != 303  # the login form refuses a deactivated account
    assert (await officer.get("/admin/")).status == 303
    html = unescape(await (await supervisor.get("/admin/staff?lang=en")).text())
    row = html.split(f'id="staff-{people.officer_a.id}"')[1].split("</tr>")[0]
    assert 'class="inactive"' in row
    # Nobody deactivates themselves.
    own = await supervisor.post(
        f"/admin/staff/{people.supervisor_1.id}/deactivate", {"csrf": token}
    )
    assert own.status == 400
    await people.supervisor_1.refresh_from_db()
    assert people.supervisor_1.active


async def test_mass_assignment_is_refused_and_nothing_changes(
    client: TestClient[Any, Any], people: Scene, clock: Clock
) -> None:
    supervisor = await signed_in(client, people.supervisor_1, clock, {})
    token = csrf_of(await (await supervisor.get("/admin/staff")).text())
    before = await Staff.all().count()
    attempts = (
        ({"full_name": "Quản Trị Lén", "unit": str(people.commune_a.id), "role": "admin"}, 403),
        ({"full_name": "Xã Khác Lén", "unit": str(people.commune_b.id), "role": "officer"}, 404),
        ({"full_name": "Tỉnh Lén", "unit": str(people.province.id), "role": "supervisor"}, 404),
        ({"full_name": "Vai Lạ", "unit": str(people.commune_a.id), "role": "root"}, 400),
    )
    for data, status in attempts:
        response = await supervisor.post("/admin/staff", {"csrf": token, **data})
        assert response.status == status, data
        assert "Xã Cư Huê" not in unescape(await response.text())
    assert await Staff.all().count() == before
    # Making an officer an admin; extra fields on the role form are not written.
    promoted = await supervisor.post(
        f"/admin/staff/{people.officer_a.id}/role", {"csrf": token, "role": "admin"}
    )
    assert promoted.status == 403
    moved = await supervisor.post(
        f"/admin/staff/{people.officer_a.id}/role",
        {
            "csrf": token,
            "role": "officer",
            "unit": str(people.commune_b.id),
            "active": "false",
            "username": "hijack",
            "password_hash": "x",
        },
    )
    assert moved.status == 303
    await people.officer_a.refresh_from_db()
    assert people.officer_a.role is Role.OFFICER and people.officer_a.active
    assert people.officer_a.unit_id == people.commune_a.id  # type: ignore[attr-defined]
    assert people.officer_a.username == "officer.a"
    # An admin is out of a supervisor's reach even inside the subtree; staff of another
    # district is not found.
    await people.admin.refresh_from_db()
    commune_admin = await Staff.create(
        full_name="Admin Xã", role=Role.ADMIN, unit=people.commune_a, username="admin.xa"
    )
    for target, status in ((commune_admin, 403), (people.officer_b, 404), (people.admin, 404)):
        for action, data in (("role", {"role": "officer"}), ("deactivate", {}), ("code", {})):
            response = await supervisor.post(
                f"/admin/staff/{target.id}/{action}", {"csrf": token, **data}
            )
            assert response.status == status, (target.full_name, action)
            await target.refresh_from_db()
            assert target.active
    assert await Staff.get(id=commune_admin.id).values_list("role", flat=True) == Role.ADMIN
    assert not await LinkCode.filter(staff_id__in=[commune_admin.id, people.officer_b.id]).exists()
    # A supervisor makes an officer of the district a supervisor only where that fits.
    unfit = await supervisor.post(
        f"/admin/staff/{people.officer_a.id}/role", {"csrf": token, "role": "supervisor"}
    )
    assert unfit.status == 400  # a supervisor belongs to a district or province
    await people.officer_a.refresh_from_db()
    assert people.officer_a.role is Role.OFFICER


async def test_an_officer_reads_their_communes_roster_and_reaches_no_write_route(
    client: TestClient[Any, Any], people: Scene, clock: Clock
) -> None:
    colleague = await Staff.create(
        full_name="Đồng Nghiệp", role=Role.OFFICER, unit=people.commune_a
    )
    officer = await signed_in(client, people.officer_a, clock, {})
    page = await officer.get("/admin/staff?lang=en")
    assert page.status == 200
    html = unescape(await page.text())
    assert "Đồng Nghiệp" in html and "Officer A" in html
    assert "Officer B" not in html and "Supervisor One" not in html
    assert "Add a staff member" not in html and "/deactivate" not in html
    token = csrf_of(html)
    writes: tuple[tuple[str, dict[str, Any]], ...] = (
        ("/admin/staff", {"full_name": "Mới", "unit": str(people.commune_a.id), "role": "officer"}),
        (f"/admin/staff/{colleague.id}/role", {"role": "officer"}),
        (f"/admin/staff/{colleague.id}/deactivate", {}),
        (f"/admin/staff/{colleague.id}/code", {}),
        (f"/admin/staff/{colleague.id}/duty/on", {}),
        (f"/admin/staff/{colleague.id}/duty/off", {}),
    )
    for path, data in writes:
        response = await officer.post(path, {"csrf": token, **data})
        assert response.status in (403, 404), path
    await colleague.refresh_from_db()
    assert colleague.active
    assert not await Staff.exists(full_name="Mới")
    assert not await DutyShift.exists(staff_id=colleague.id)
    assert not await LinkCode.filter(staff_id=colleague.id).exists()


async def test_the_duty_board_starts_and_ends_a_shift(
    client: TestClient[Any, Any], people: Scene, clock: Clock
) -> None:
    supervisor = await signed_in(client, people.supervisor_1, clock, {})
    page = unescape(await (await supervisor.get("/admin/staff?lang=en")).text())
    duty = page.split('id="duty"')[1]
    assert "Xã Ea Pốk" in duty and "Xã Cư Huê" not in duty
    assert "Nobody is on duty" in duty
    token = csrf_of(page)
    started = await supervisor.post(f"/admin/staff/{people.officer_a.id}/duty/on", {"csrf": token})
    assert started.status == 303
    shift = await DutyShift.get(staff_id=people.officer_a.id, ended_at__isnull=True)
    assert shift.unit_id == people.commune_a.id  # type: ignore[attr-defined]
    event = await AuditEvent.get(action="duty.on", object_id=str(people.officer_a.id))
    assert event.actor_staff_id == people.supervisor_1.id
    board = unescape(await (await supervisor.get("/admin/staff?lang=en")).text()).split(
        'id="duty"'
    )[1]
    on_duty = board.split('class="plain duty-on"')[1].split("</ul>")[0]
    assert "Officer A" in on_duty
    row = unescape(await (await supervisor.get("/admin/staff?lang=en")).text())
    row = row.split(f'id="staff-{people.officer_a.id}"')[1].split("</tr>")[0]
    assert row.count("<td>Yes</td>") >= 3  # web login, active, on duty
    ended = await supervisor.post(f"/admin/staff/{people.officer_a.id}/duty/off", {"csrf": token})
    assert ended.status == 303
    await shift.refresh_from_db()
    assert shift.ended_at is not None and shift.handover_note
    # Another district's officer: not found, and no shift.
    other = await supervisor.post(f"/admin/staff/{people.officer_b.id}/duty/on", {"csrf": token})
    assert other.status == 404
    assert not await DutyShift.exists(staff_id=people.officer_b.id)


# --- the scope matrix --------------------------------------------------------------------------

A, B = "A", "B"
ROLES = ("officer_a", "officer_b", "supervisor_1", "supervisor_2", "admin")
SEES = {
    "officer_a": {A},
    "officer_b": {B},
    "supervisor_1": {A},
    "supervisor_2": {B},
    "admin": {A, B},
}
MANAGES = {"supervisor_1", "supervisor_2", "admin"}


async def test_every_staff_route_keeps_each_role_in_its_subtree(
    client: TestClient[Any, Any], people: Scene, clock: Clock
) -> None:
    commune = {A: people.commune_a, B: people.commune_b}
    secret = {A: ("Officer A", "Xã Ea Pốk"), B: ("Officer B", "Xã Cư Huê")}
    targets = {
        (role, place): await Staff.create(
            full_name=f"Đích {role} {place}", role=Role.OFFICER, unit=commune[place]
        )
        for role in ROLES
        for place in (A, B)
    }
    secrets: dict[int, str] = {}
    problems: list[str] = []

    def check(cell: str, got: int, wanted: int, html: str, role: str) -> None:
        if got != wanted:
            problems.append(f"{cell}: {got}, expected {wanted}")
        for other in (A, B):
            if other not in SEES[role] and any(word in unescape(html) for word in secret[other]):
                problems.append(f"{cell} shows commune {other}")

    for role in ROLES:
        browser = await signed_in(client, getattr(people, role), clock, secrets)
        listing = await browser.get("/admin/staff")
        html = await listing.text()
        check(f"{role} GET /admin/staff", listing.status, 200, html, role)
        for place in SEES[role]:
            assert secret[place][0] in unescape(html), (role, place)
        token = csrf_of(html)
        for place in (A, B):
            target = targets[(role, place)]
            manage = role in MANAGES
            ok = place in SEES[role]

            def wanted(status: int, manage: bool = manage, ok: bool = ok) -> int:
                return 403 if not manage else status if ok else 404

            calls: tuple[tuple[str, dict[str, Any], int], ...] = (
                (
                    "/admin/staff",
                    {
                        "full_name": f"Mới {role} {place}",
                        "unit": commune[place].id,
                        "role": "officer",
                    },
                    200,
                ),
                (f"/admin/staff/{target.id}/role", {"role": "officer"}, 303),
                (f"/admin/staff/{target.id}/code", {}, 200),
                (f"/admin/staff/{target.id}/duty/on", {}, 303),
                (f"/admin/staff/{target.id}/duty/off", {}, 303),
                (f"/admin/staff/{target.id}/deactivate", {}, 303),
            )
            for path, data, allowed in calls:
                response = await browser.post(path, {"csrf": token, **data})
                check(
                    f"{role} POST {path} ({place})",
                    response.status,
                    wanted(allowed),
                    await response.text(),
                    role,
                )
            await target.refresh_from_db()
            if target.active is (manage and ok):
                problems.append(f"{role} deactivating {place}'s officer: active={target.active}")
            added = await Staff.exists(full_name=f"Mới {role} {place}")
            if added is not (manage and ok):
                problems.append(f"{role} adding in {place}: added={added}")

    anonymous = Browser(client)
    response = await anonymous.get("/admin/staff")
    assert response.status == 303 and response.headers["Location"] == "/admin/login"
    target = targets[("admin", A)]
    for path in (
        "/admin/staff",
        f"/admin/staff/{target.id}/role",
        f"/admin/staff/{target.id}/code",
        f"/admin/staff/{target.id}/duty/on",
        f"/admin/staff/{target.id}/duty/off",
        f"/admin/staff/{target.id}/deactivate",
    ):
        refused = await anonymous.post(path, {"role": "officer", "full_name": "Vô Danh"})
        if refused.status != 403:
            problems.append(f"anonymous POST {path}: {refused.status}")
    assert problems == []
    assert not await Staff.exists(full_name="Vô Danh")


async def test_every_staff_write_refuses_a_missing_csrf_token(
    client: TestClient[Any, Any], people: Scene, clock: Clock
) -> None:
    supervisor = await signed_in(client, people.supervisor_1, clock, {})
    token = csrf_of(await (await supervisor.get("/admin/staff")).text())
    target = people.officer_a
    writes: tuple[tuple[str, dict[str, Any]], ...] = (
        ("/admin/staff", {"full_name": "Không Mã", "unit": people.commune_a.id, "role": "officer"}),
        (f"/admin/staff/{target.id}/role", {"role": "officer"}),
        (f"/admin/staff/{target.id}/code", {}),
        (f"/admin/staff/{target.id}/duty/on", {}),
        (f"/admin/staff/{target.id}/duty/off", {}),
        (f"/admin/staff/{target.id}/deactivate", {}),
    )
    for path, data in writes:
        assert (await supervisor.post(path, data)).status == 403, path
        assert (await supervisor.post(path, {**data, "csrf": "forged"})).status == 403, path
        assert (
            await supervisor.post(path, {**data, "csrf": token}, origin="http://evil")
        ).status == 403, path
    await target.refresh_from_db()
    assert target.active
    assert not await Staff.exists(full_name="Không Mã")
    assert not await DutyShift.exists(staff_id=target.id)
    assert not await LinkCode.filter(staff_id=target.id).exists()
