"""The breach watch on both engines, driven by the real reads (the admin web's tip page service)
and refusals (`tips.access_tip`) under a controlled clock, with the ticker's job run every
minute: more than N distinct tips read by one officer within 10 minutes raises exactly one
alert and one notice to each supervisor or admin above them (not another district's); N reads,
or N + 1 spread over 11 minutes, raise none; too many refused attempts on another commune's
tips raise their own alert; once per account per 10 minutes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from tortoise.context import TortoiseContext

from bots.registry import channel_factory
from communepol.db.models import (
    AuditEvent,
    ChannelAccount,
    ChannelKind,
    Contact,
    Delivery,
    DeliveryKind,
    Staff,
    Tip,
)
from communepol.errors import NotFound
from communepol.i18n import I18n
from communepol.jobs import Ticker, TipJobs
from communepol.media import MediaStore
from communepol.services import breachwatch, duty, overview, rumours, sla, tipdesk, tips
from communepol.services.channels import ChannelRegistry
from communepol.services.posts import Publisher
from communepol.services.tips import TipInput, Tips
from communepol.settings import Settings
from communepol.web.chathub import WebchatHub
from tests import pagekit
from tests.services.test_tips import linked
from tests.web.adminkit import Clock, Scene, install_clock, scene

LIMITS = breachwatch.Limits(tip_reads=3, refused=2)
BASE_URL = "https://ca.example"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return install_clock(monkeypatch, tips, sla, rumours, duty, tipdesk, overview, breachwatch)


class Desk:
    """A district world: officers of communes A and B, the supervisors of both districts and
    the province's admin, each with a linked bot chat; tips of both communes; and the ticker
    whose breach-watch job the test runs each minute."""

    def __init__(self, people: Scene, bot: ChannelAccount, chats: dict[int, Contact]) -> None:
        self.people = people
        self.bot = bot
        self.chats = chats
        self.ticker: Ticker | None = None
        self.raised: list[breachwatch.Raised] = []
        self.woken = 0

    async def tips(self, where: str, count: int) -> list[Tip]:
        unit = self.people.commune_a if where == "A" else self.people.commune_b
        made = []
        for number in range(count):
            resident = await pagekit.contact(self.bot, f"resident-{where}-{number}", "vi")
            done = await Tips(pagekit.KEYRING).submit(
                resident, TipInput("theft", f"Mất trộm số {number}", unit.id)
            )
            made.append(done.tip)
        return made

    async def tick(self, settings: Settings) -> list[breachwatch.Raised]:
        if self.ticker is None:

            def wake() -> None:
                self.woken += 1

            self.ticker = Ticker(
                Publisher(settings, I18n.load()),
                on_published=wake,
                tip_jobs=TipJobs(
                    pagekit.KEYRING,
                    ChannelRegistry(pagekit.KEYRING, channel_factory(settings, WebchatHub())),
                    MediaStore(settings.data_dir),
                    watch_limits=LIMITS,
                    zone=settings.tz,
                ),
            )
        raised = await self.ticker.watch()
        self.raised.extend(raised)
        return raised


async def desk() -> Desk:
    people = await scene()
    bot = await pagekit.account(ChannelKind.TELEGRAM, "Bot Công an Đắk Lắk")
    chats = {
        person.id: await linked(person, bot, f"staff-{person.id}")
        for person in (
            people.officer_a,
            people.officer_b,
            people.supervisor_1,
            people.supervisor_2,
            people.admin,
        )
    }
    return Desk(people, bot, chats)


async def read(staff: Staff, tip: Tip) -> None:
    await tipdesk.tip_page(pagekit.KEYRING, staff, tip.reference, BASE_URL)


async def alerts() -> list[AuditEvent]:
    return list(await AuditEvent.filter(action="security.alert").order_by("id"))


async def notices(chat: Contact) -> list[str]:
    rows = await Delivery.filter(
        contact_id=chat.id, kind=DeliveryKind.NOTIFICATION, dedup_key__startswith="notice:breach:"
    ).order_by("id")
    return [row.payload["text"] for row in rows]


async def every_minute(
    d: Desk, settings: Settings, clock: Clock, steps: list[Callable[[], Awaitable[Any]]]
) -> None:
    """One step, then a minute passes and the watch ticks; for each step."""
    for step in steps:
        await step()
        clock.advance(minutes=1)
        await d.tick(settings)


async def test_one_read_too_many_within_ten_minutes_alerts_once_and_tells_those_above(
    db: TortoiseContext, settings: Settings, clock: Clock
) -> None:
    d = await desk()
    officer = d.people.officer_a
    found = await d.tips("A", 4)
    steps: list[Callable[[], Awaitable[Any]]] = [
        lambda tip=tip: read(officer, tip)  # type: ignore[misc]
        for tip in found
    ]
    # Reading the same tips again adds nothing: the limit counts distinct tips.
    await every_minute(d, settings, clock, steps[:3] + steps[:3])
    assert await alerts() == []
    await every_minute(d, settings, clock, steps[3:])
    # More ticks inside the same window: still one alert.
    for _ in range(5):
        clock.advance(minutes=1)
        await d.tick(settings)

    [alert] = await alerts()
    assert (alert.action, alert.object_type, alert.object_id) == (
        "security.alert",
        "staff",
        str(officer.id),
    )
    assert alert.unit_id == d.people.commune_a.id
    assert alert.data["kind"] == "tip_reads"
    assert (alert.data["count"], alert.data["tips_read"], alert.data["tips_exported"]) == (4, 4, 0)
    assert alert.data["staff"] == officer.id
    assert "Mất trộm" not in repr(alert.data)
    assert [(r.staff_id, r.kind, r.count) for r in d.raised] == [(officer.id, "tip_reads", 4)]
    assert d.woken == 1  # the dispatcher was woken for the notices

    people = d.people
    [to_supervisor] = await notices(d.chats[people.supervisor_1.id])
    [to_admin] = await notices(d.chats[people.admin.id])
    assert await notices(d.chats[people.supervisor_2.id]) == []  # another district's
    assert await notices(d.chats[officer.id]) == []
    assert await notices(d.chats[people.officer_b.id]) == []
    # In the supervisor's language (Vietnamese unless set): the catalog's text, or the English
    # msgid while the catalog does not have it yet — either way the name, count and times.
    assert officer.full_name in to_supervisor and "4" in to_supervisor
    assert to_admin == to_supervisor

    # Over ten minutes on, reading on: a second alert, for the new window.
    clock.advance(minutes=11)
    for tip in found:
        await read(officer, tip)
    await d.tick(settings)
    assert len(await alerts()) == 2
    assert len(await notices(d.chats[people.supervisor_1.id])) == 2


async def test_n_reads_or_n_plus_one_over_eleven_minutes_raise_nothing(
    db: TortoiseContext, settings: Settings, clock: Clock
) -> None:
    d = await desk()
    officer = d.people.officer_a
    found = await d.tips("A", 4)
    # Exactly N distinct tips, with the watch ticking every minute.
    steps: list[Callable[[], Awaitable[Any]]] = [
        lambda tip=tip: read(officer, tip)  # type: ignore[misc]
        for tip in found[:3]
    ]
    await every_minute(d, settings, clock, steps)
    for _ in range(10):
        clock.advance(minutes=1)
        await d.tick(settings)
    assert await alerts() == []

    # N + 1, once the first reads have left every window, the first and the last 11 minutes
    # apart: no 10 minutes hold more than N.
    clock.advance(minutes=15)
    for number, tip in enumerate(found):
        await read(officer, tip)
        for _ in range(4 if number < 2 else 3):  # reads at 0, 4, 8 and 11 minutes
            clock.advance(minutes=1)
            await d.tick(settings)
    for _ in range(12):
        clock.advance(minutes=1)
        await d.tick(settings)
    assert await alerts() == []
    assert await notices(d.chats[d.people.supervisor_1.id]) == []
    assert await AuditEvent.filter(action="tip.viewed", actor_staff_id=officer.id).count() == 7


async def test_refused_attempts_on_another_communes_tips_alert_on_their_own(
    db: TortoiseContext, settings: Settings, clock: Clock
) -> None:
    d = await desk()
    officer = d.people.officer_a
    [theirs] = await d.tips("B", 1)

    async def attempt() -> None:
        # The answer is exactly "not found", as for a tip that does not exist.
        with pytest.raises(NotFound) as caught:
            await tips.access_tip(officer, theirs.reference, source="web", ip="10.0.0.7")
        assert caught.value.message == "not found"

    await every_minute(d, settings, clock, [attempt, attempt])
    assert await alerts() == []  # M attempts: nothing
    with pytest.raises(NotFound):
        await tips.access_tip(officer, "T-7K3M9P")  # no such tip: nothing to record
    await every_minute(d, settings, clock, [attempt])
    [alert] = await alerts()
    assert (alert.data["kind"], alert.data["count"], alert.object_id) == (
        "refused",
        3,
        str(officer.id),
    )
    refused = await AuditEvent.filter(action="access.refused").order_by("id")
    assert [(e.actor_staff_id, e.object_id, e.source, e.ip) for e in refused] == [
        (officer.id, str(theirs.id), "web", "10.0.0.7")
    ] * 3
    [told] = await notices(d.chats[d.people.supervisor_1.id])
    assert officer.full_name in told and "3" in told
    assert await notices(d.chats[d.people.supervisor_2.id]) == []  # B's own district: not told
    assert await notices(d.chats[d.people.officer_b.id]) == []


async def test_two_processes_ticking_at_once_raise_one_alert(
    db: TortoiseContext, settings: Settings, clock: Clock
) -> None:
    d = await desk()
    for tip in await d.tips("A", 4):
        await read(d.people.officer_a, tip)
    results = await asyncio.gather(
        breachwatch.watch(LIMITS, settings.tz), breachwatch.watch(LIMITS, settings.tz)
    )
    assert sorted(len(raised) for raised in results) == [0, 1]
    assert len(await alerts()) == 1
    assert len(await notices(d.chats[d.people.supervisor_1.id])) == 1


async def test_a_supervisors_web_export_counts_its_tips_against_the_limit(
    db: TortoiseContext, settings: Settings, clock: Clock
) -> None:
    d = await desk()
    supervisor = d.people.supervisor_1
    await d.tips("A", 3)
    # Three tips exported: at the limit, no alert.
    await tipdesk.export_inbox(supervisor, tipdesk.InboxFilter(), tz=settings.tz)
    clock.advance(minutes=1)
    assert await d.tick(settings) == []
    # One more tip read on top of them: above it.
    [extra] = await d.tips("A", 1)
    await read(supervisor, extra)
    clock.advance(minutes=1)
    [raised] = await d.tick(settings)
    assert (raised.staff_id, raised.kind, raised.count) == (supervisor.id, "tip_reads", 4)
    [alert] = await alerts()
    assert (alert.data["tips_read"], alert.data["tips_exported"]) == (1, 3)
    # The admin above the district is told.
    assert len(await notices(d.chats[d.people.admin.id])) == 1
