"""The queues screen through the real application: a parked inbound event and a dead letter
of an account carrying a page in scope are listed and retried (their status changes, the retry
is audited); a quota-blocked row is listed and waits; nothing of a message's content or its
recipient appears; supervisors see their district's accounts, the province admin every one,
officers none; every route × role, and CSRF refusal on every POST."""

from __future__ import annotations

from dataclasses import dataclass
from html import unescape
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from communepol.clock import utcnow
from communepol.db.models import (
    AuditEvent,
    ChannelAccount,
    ChannelKind,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    InboundEvent,
    InboundStatus,
)
from communepol.services.contacts import ContactIdentity, find_or_create_contact
from tests import pagekit
from tests.web.adminkit import Browser, Clock, Scene, csrf_of, scene, signed_in

SENTINEL = "Nguyễn Bí Mật 0912345678"


@dataclass
class Queues:
    scene: Scene
    event: dict[str, int]  # A, B, orphan → a parked event of that account
    dead: dict[str, int]  # A, B, orphan → a dead letter
    quota_a: int


@pytest.fixture
async def queues(client: TestClient[Any, Any]) -> Queues:
    people = await scene()
    bots = {
        "A": await ChannelAccount.create(kind=ChannelKind.TELEGRAM, name="Bot A"),
        "B": await ChannelAccount.create(kind=ChannelKind.TELEGRAM, name="Bot B"),
        "orphan": await ChannelAccount.create(kind=ChannelKind.ZALO_BOT, name="Bot lẻ"),
    }
    await pagekit.page(people.commune_a, "ca-xa-ea-pok", bots["A"])
    await pagekit.page(people.commune_b, "ca-xa-cu-hue", bots["B"])
    event: dict[str, int] = {}
    dead: dict[str, int] = {}
    for place, bot in bots.items():
        contact, _ = await find_or_create_contact(
            pagekit.KEYRING,
            bot,
            ContactIdentity(platform_user_id=f"{SENTINEL}-{place}", display_name=SENTINEL),
        )
        parked = await InboundEvent.create(
            channel_account=bot,
            platform_event_id=f"{SENTINEL}-{place}",
            event_kind="message",
            contact_key=f"key-{place}",
            payload_sealed=f'{{"text": "{SENTINEL} tip text"}}',
            status=InboundStatus.PARKED,
            attempts=6,
            not_before=utcnow(),
            last_error=f"RuntimeError: could not route ({place})",
        )
        event[place] = parked.id
        letter = await Delivery.create(
            channel_account=bot,
            contact=contact,
            kind=DeliveryKind.REPLY,
            dedup_key=f"test:dead:{place}",
            payload={"text": f"{SENTINEL} reply text"},
            status=DeliveryStatus.DEAD,
            attempts=5,
            not_before=utcnow(),
            last_error=f"HTTP 502 ({place})",
        )
        dead[place] = letter.id
        if place == "A":
            quota = await Delivery.create(
                channel_account=bot,
                contact=contact,
                kind=DeliveryKind.BROADCAST,
                dedup_key="test:quota:A",
                payload={"text": f"{SENTINEL} broadcast"},
                status=DeliveryStatus.QUOTA_BLOCKED,
                attempts=1,
                not_before=utcnow(),
                last_error="quota exceeded",
            )
    return Queues(people, event, dead, quota.id)


async def test_a_parked_event_and_a_dead_letter_are_listed_and_retried(
    client: TestClient[Any, Any], queues: Queues, clock: Clock
) -> None:
    supervisor = await signed_in(client, queues.scene.supervisor_1, clock, {})
    page = await supervisor.get("/admin/queues?lang=en")
    assert page.status == 200
    html = unescape(await page.text())
    assert f'id="event-{queues.event["A"]}"' in html
    assert f'id="delivery-{queues.dead["A"]}"' in html
    assert f'id="delivery-{queues.quota_a}"' in html
    assert "RuntimeError: could not route (A)" in html and "HTTP 502 (A)" in html
    assert "(B)" not in html and f'id="event-{queues.event["B"]}"' not in html
    assert "(orphan)" not in html
    assert SENTINEL not in html and "Nguy" not in html
    quota_row = html.split(f'id="delivery-{queues.quota_a}"')[1].split("</tr>")[0]
    assert "quota-blocked" in quota_row and "/retry" not in quota_row

    token = csrf_of(html)
    retried = await supervisor.post(
        f"/admin/queues/inbox/{queues.event['A']}/retry", {"csrf": token}
    )
    assert retried.status == 303
    event = await InboundEvent.get(id=queues.event["A"])
    assert event.status is InboundStatus.PENDING and event.attempts == 0
    sent = await supervisor.post(f"/admin/queues/outbox/{queues.dead['A']}/retry", {"csrf": token})
    assert sent.status == 303
    letter = await Delivery.get(id=queues.dead["A"])
    assert letter.status is DeliveryStatus.PENDING and letter.attempts == 0
    assert await AuditEvent.exists(action="inbox.retried", object_id=str(queues.event["A"]))
    assert await AuditEvent.exists(action="outbox.retried", object_id=str(queues.dead["A"]))
    after = unescape(await (await supervisor.get(sent.headers["Location"] + "&lang=en")).text())
    assert "The message is back in the queue." in after
    assert f'id="event-{queues.event["A"]}"' not in after
    # Retrying again, or retrying a quota-blocked row: nothing happens.
    again = await supervisor.post(f"/admin/queues/outbox/{queues.dead['A']}/retry", {"csrf": token})
    assert again.status == 303 and "done=gone" in again.headers["Location"]
    waits = await supervisor.post(f"/admin/queues/outbox/{queues.quota_a}/retry", {"csrf": token})
    assert waits.status == 303 and "done=gone" in waits.headers["Location"]
    assert (await Delivery.get(id=queues.quota_a)).status is DeliveryStatus.QUOTA_BLOCKED


# --- the scope matrix --------------------------------------------------------------------------

ROLES = ("officer_a", "officer_b", "supervisor_1", "supervisor_2", "admin")
SEES = {
    "officer_a": set(),
    "officer_b": set(),
    "supervisor_1": {"A"},
    "supervisor_2": {"B"},
    "admin": {"A", "B", "orphan"},
}


async def test_every_queue_route_keeps_each_role_to_its_accounts(
    client: TestClient[Any, Any], queues: Queues, clock: Clock
) -> None:
    secrets: dict[int, str] = {}
    problems: list[str] = []
    for role in ROLES:
        browser = await signed_in(client, getattr(queues.scene, role), clock, secrets)
        manager = role.startswith(("supervisor", "admin"))
        page = await browser.get("/admin/queues")
        html = await page.text()
        if page.status != (200 if manager else 403):
            problems.append(f"{role} GET /admin/queues: {page.status}")
        for place in ("A", "B", "orphan"):
            shown = f'id="event-{queues.event[place]}"' in html
            if shown is not (place in SEES[role]):
                problems.append(f"{role} sees {place}'s parked event: {shown}")
            if (f'id="delivery-{queues.dead[place]}"' in html) is not (place in SEES[role]):
                problems.append(f"{role} sees {place}'s dead letter wrongly")
        if SENTINEL in unescape(html):
            problems.append(f"{role} GET shows content or a recipient")
        token = csrf_of(await (await browser.get("/admin/password")).text())
        for place in ("A", "B", "orphan"):
            allowed = place in SEES[role]
            wanted = (303 if allowed else 404) if manager else 403
            for path in (
                f"/admin/queues/inbox/{queues.event[place]}/retry",
                f"/admin/queues/outbox/{queues.dead[place]}/retry",
            ):
                response = await browser.post(path, {"csrf": token})
                if response.status != wanted:
                    problems.append(f"{role} POST {path}: {response.status}, expected {wanted}")
            event = await InboundEvent.get(id=queues.event[place])
            letter = await Delivery.get(id=queues.dead[place])
            if (event.status is InboundStatus.PENDING) is not allowed:
                problems.append(f"{role} retrying {place}'s event: {event.status}")
            if (letter.status is DeliveryStatus.PENDING) is not allowed:
                problems.append(f"{role} retrying {place}'s dead letter: {letter.status}")
            # Back to where they were, for the next role.
            await InboundEvent.filter(id=event.id).update(status=InboundStatus.PARKED)
            await Delivery.filter(id=letter.id).update(status=DeliveryStatus.DEAD)
        for path in ("/admin/queues/inbox/99999999/retry", "/admin/queues/outbox/99999999/retry"):
            response = await browser.post(path, {"csrf": token})
            if response.status != (404 if manager else 403):
                problems.append(f"{role} POST {path}: {response.status}")

    anonymous = Browser(client)
    response = await anonymous.get("/admin/queues")
    assert response.status == 303
    for path in (
        f"/admin/queues/inbox/{queues.event['A']}/retry",
        f"/admin/queues/outbox/{queues.dead['A']}/retry",
    ):
        if (await anonymous.post(path, {})).status != 403:
            problems.append(f"anonymous POST {path}")
    assert problems == []


async def test_every_queue_retry_refuses_a_missing_csrf_token(
    client: TestClient[Any, Any], queues: Queues, clock: Clock
) -> None:
    admin = await signed_in(client, queues.scene.admin, clock, {})
    token = csrf_of(await (await admin.get("/admin/queues")).text())
    for path in (
        f"/admin/queues/inbox/{queues.event['A']}/retry",
        f"/admin/queues/outbox/{queues.dead['A']}/retry",
    ):
        assert (await admin.post(path, {})).status == 403, path
        assert (await admin.post(path, {"csrf": "forged"})).status == 403, path
        assert (await admin.post(path, {"csrf": token}, origin="http://evil")).status == 403, path
    assert (await InboundEvent.get(id=queues.event["A"])).status is InboundStatus.PARKED
    assert (await Delivery.get(id=queues.dead["A"])).status is DeliveryStatus.DEAD
