"""The breach watch through the real application, on both engines: opening a tip on the admin
web, in the officer bot (a real update through the conversation engine) and through the API
leaves one ``tip.viewed`` each, with its source and address and without the tip's text; the
dashboard's banner shows a security alert to the supervisors above the account only, and links
to the audit log filtered by ``security.``; a refused API authentication is audited with its
reason (never the token) and, past the allowance, an address gets 429 with ``Retry-After``
until the back-off has passed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from communepol.db.models import ApiToken, AuditEvent, ChannelKind, Staff, Tip
from communepol.services import (
    apitokens,
    breachwatch,
)
from communepol.services import staff as roster
from communepol.services.contacts import ContactIdentity, find_or_create_contact
from communepol.services.tips import TipInput, Tips
from communepol.settings import Settings
from tests import pagekit
from tests.bots.test_officer_tips import Person
from tests.web.adminkit import Clock, Scene, scene, signed_in

TEXT = "Có người bán ma túy sau chợ Ea Pốk"  # the tip's text: in no audit row
SENDER = "SENTINEL Nguyễn"


async def tips_of(people: Scene, count: int, where: str = "A") -> list[Tip]:
    bot = await pagekit.account(ChannelKind.TELEGRAM, f"bot {where} {count}")
    unit = people.commune_a if where == "A" else people.commune_b
    made = []
    for number in range(count):
        resident = await pagekit.contact(bot, f"resident-{where}-{number}", "vi")
        done = await Tips(pagekit.KEYRING).submit(
            resident, TipInput("drugs", f"{TEXT} {number}", unit.id, anonymous=number % 2 == 0)
        )
        made.append(done.tip)
    return made


async def test_a_read_on_the_web_in_the_bot_and_through_the_api_is_one_event_each(
    client: TestClient[Any, Any], settings: Settings, clock: Clock
) -> None:
    people = await scene()
    officer = people.officer_a
    bot = await pagekit.account(ChannelKind.TELEGRAM, "Bot Công an Đắk Lắk")
    resident, _ = await find_or_create_contact(
        pagekit.KEYRING, bot, ContactIdentity("987654321", SENDER), locale="vi"
    )
    tip = (
        await Tips(pagekit.KEYRING).submit(
            resident, TipInput("drugs", TEXT, people.commune_a.id, anonymous=False)
        )
    ).tip
    reference = f"T-{tip.reference}"

    browser = await signed_in(client, officer, clock, {})
    web = await browser.get(f"/admin/tips/{reference}")
    assert web.status == 200 and TEXT in await web.text()

    person = Person(bot, settings, "tg-officer-a")
    await person.english()
    code, _ = await roster.issue_link_code(pagekit.KEYRING, officer)
    await person.send(f"/link {code}")
    [card] = await person.send(f"/viewtip {reference}")
    assert TEXT in card.text

    _, token = await apitokens.create_token(pagekit.KEYRING, officer, "script")
    api = await client.get(
        f"/api/v1/tips/{reference}", headers={"Authorization": f"Bearer {token}"}
    )
    assert api.status == 200 and (await api.json())["text"] == TEXT

    events = await AuditEvent.filter(action="tip.viewed").order_by("id")
    assert [(e.source, e.ip) for e in events] == [
        ("web", "127.0.0.1"),
        ("bot", None),  # a bot's platform gives no address
        ("api", "127.0.0.1"),
    ]
    for event in events:
        assert (event.actor_staff_id, event.object_type, event.object_id, event.unit_id) == (
            officer.id,
            "tip",
            str(tip.id),
            people.commune_a.id,
        )
        assert event.actor_label == officer.full_name
        assert event.data == {}  # no text, no sender: nothing but who, what, when, where


async def test_the_dashboard_banner_shows_the_alert_to_those_above_only(
    client: TestClient[Any, Any], settings: Settings, clock: Clock
) -> None:
    people = await scene()
    for tip in await tips_of(people, 4):
        await breachwatch.record_tip_read(people.officer_a, tip, source="web")
    [raised] = await breachwatch.watch(breachwatch.Limits(tip_reads=3), settings.tz)
    assert (raised.staff_id, raised.count) == (people.officer_a.id, 4)

    secrets: dict[int, str] = {}
    seen = {}
    for role in ("supervisor_1", "supervisor_2", "admin", "officer_a"):
        browser = await signed_in(client, getattr(people, role), clock, secrets)
        response = await browser.get("/admin/?lang=en")
        assert response.status == 200
        seen[role] = (browser, await response.text())
    link = 'href="/admin/audit?action=security."'
    for role in ("supervisor_1", "admin"):
        html = seen[role][1]
        assert "1 security alert in the last 24 hours" in html
        assert "Officer A (Xã Ea Pốk)" in html and "4 tips opened within 10 minutes" in html
        assert link in html
    for role in ("supervisor_2", "officer_a"):  # another district; the officer themselves
        assert "security alert" not in seen[role][1] and link not in seen[role][1]

    # The link: the audit log with the breach watch's events of the supervisor's area.
    audit = await seen["supervisor_1"][0].get("/admin/audit?action=security.&lang=en")
    assert audit.status == 200
    assert "<td>security.alert</td>" in await audit.text()

    # A day later the banner is gone.
    clock.advance(hours=24, minutes=1)
    later = await (await seen["supervisor_1"][0].get("/admin/?lang=en")).text()
    assert "security alert" not in later


REFUSED = {"error": "a valid API token is needed"}


async def test_each_refused_token_is_audited_with_its_reason_and_never_the_token(
    client: TestClient[Any, Any], clock: Clock
) -> None:
    people = await scene()
    tokens = {}
    for name in ("revoked", "expired", "inactive", "good"):
        owner = people.officer_b if name == "inactive" else people.officer_a
        row, tokens[name] = await apitokens.create_token(pagekit.KEYRING, owner, name)
        if name == "revoked":
            await apitokens.revoke_token(row.id)
        if name == "expired":
            await ApiToken.filter(id=row.id).update(expires_at=clock.now - timedelta(seconds=1))
    await Staff.filter(id=people.officer_b.id).update(active=False)
    unknown = apitokens.new_token()
    headers: dict[str, dict[str, str]] = {
        "missing": {},
        "malformed": {"Authorization": "Bearer not-a-token"},
        "unknown": {"Authorization": f"Bearer {unknown}"},
        **{name: {"Authorization": f"Bearer {tokens[name]}"} for name in tokens},
    }
    for reason, sent in headers.items():
        response = await client.get("/api/v1/me", headers=sent)
        if reason == "good":
            assert response.status == 200
            continue
        assert response.status == 401, reason
        assert await response.json() == REFUSED  # the same answer whatever was wrong
        assert response.headers["WWW-Authenticate"].startswith("Bearer")

    events = await AuditEvent.filter(action="api.auth_failed").order_by("id")
    assert [(e.data["reason"], e.ip, e.source) for e in events] == [
        (reason, "127.0.0.1", "api")
        for reason in ("missing", "malformed", "unknown", "revoked", "expired", "inactive")
    ]
    owners = {e.data["reason"]: (e.data["staff"], e.unit_id) for e in events}
    assert owners["unknown"] == (None, None)
    assert owners["revoked"] == (people.officer_a.id, people.commune_a.id)
    assert owners["inactive"] == (people.officer_b.id, people.commune_b.id)
    stored = repr([(e.actor_label, e.object_id, e.data) for e in events])
    for token in (*tokens.values(), unknown):
        assert token not in stored
        assert apitokens.token_hash(pagekit.KEYRING, token) not in stored


async def test_an_address_refused_too_often_waits_then_is_let_in_again(
    client: TestClient[Any, Any], clock: Clock
) -> None:
    people = await scene()
    _, good = await apitokens.create_token(pagekit.KEYRING, people.officer_a, "script")
    wrong = {"Authorization": f"Bearer {apitokens.new_token()}"}
    right = {"Authorization": f"Bearer {good}"}
    for _ in range(apitokens.ADDRESS_FREE_FAILURES - 1):
        assert (await client.get("/api/v1/me", headers=wrong)).status == 401
    assert (await client.get("/api/v1/me", headers=right)).status == 200  # within the allowance
    assert (await client.get("/api/v1/me", headers=wrong)).status == 401  # the last free one

    # Past the allowance: every request from the address waits, the right token too, and the
    # waiting requests write nothing.
    for sent in (wrong, right, {}):
        throttled = await client.get("/api/v1/me", headers=sent)
        assert throttled.status == 429
        assert throttled.headers["Retry-After"] == "5"
        assert (await throttled.json())["error"].startswith("too many refused authentications")
    assert await AuditEvent.filter(action="api.auth_failed").count() == (
        apitokens.ADDRESS_FREE_FAILURES
    )

    clock.advance(seconds=5)
    assert (await client.get("/api/v1/me", headers=wrong)).status == 401  # one more failure
    doubled = await client.get("/api/v1/me", headers=right)
    assert (doubled.status, doubled.headers["Retry-After"]) == (429, "10")

    # Once the failures have aged out of the 15-minute window, the address is let in.
    clock.advance(minutes=15, seconds=1)
    assert (await client.get("/api/v1/me", headers=right)).status == 200
