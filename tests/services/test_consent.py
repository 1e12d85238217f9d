"""Consent: nothing is delivered to anyone who declined, never answered, unfollowed or asked to
be deleted — including from a broadcast that is already going out when they stop."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tortoise.context import TortoiseContext

from communepol.db.models import (
    ConsentPurpose,
    ConsentRecord,
    Contact,
    Delivery,
    DeliveryStatus,
    Follow,
    FollowStatus,
)
from communepol.i18n import I18n
from communepol.services import follows, outbox, posts
from communepol.services.posts import PostInput, Publisher, Translation
from communepol.settings import Settings
from communepol.workers.dispatcher import AccountSender, DispatchConfig, Limits
from tests import pagekit
from tests.e2e.conftest import eventually
from tests.fakes.channel import FakeChannel

I18N = I18n.load()
CONFIG = DispatchConfig(batch=50, concurrency=4, idle_poll=0.05, scan_interval=0.05)


async def _consenting(page: pagekit.Page, on: pagekit.ChannelAccount, user: str) -> Contact:
    person = await pagekit.contact(on, user)
    await follows.start_follow(person, page)
    await follows.answer_consent(person, page, agree=True, locale="vi")
    return person


async def test_consent_is_recorded_with_its_version_and_only_agree_activates(
    db: TortoiseContext,
) -> None:
    commune = await pagekit.unit("Xã Ea Kar")
    account = await pagekit.account()
    page = await pagekit.page(commune, "ea-kar", account)
    yes = await _consenting(page, account, "yes")
    no = await pagekit.contact(account, "no")
    await follows.start_follow(no, page)
    await follows.answer_consent(no, page, agree=False, locale="en")
    silent = await pagekit.contact(account, "silent")
    await follows.start_follow(silent, page)

    status = {f.contact_id: f.status for f in await Follow.all()}  # type: ignore[attr-defined]
    assert status == {
        yes.id: FollowStatus.ACTIVE,
        no.id: FollowStatus.STOPPED,
        silent.id: FollowStatus.PENDING_CONSENT,  # silence is not consent
    }
    records = await ConsentRecord.all().order_by("id")
    assert [(r.contact_id, r.granted, r.locale) for r in records] == [  # type: ignore[attr-defined]
        (yes.id, True, "vi"),
        (no.id, False, "en"),
    ]
    assert {r.text_version for r in records} == {follows.CONSENT_TEXT_VERSION}
    assert all(r.purpose is ConsentPurpose.FOLLOW for r in records)


async def test_no_delivery_to_anyone_who_declined_unfollowed_or_was_deleted(
    db: TortoiseContext, settings: Settings
) -> None:
    commune = await pagekit.unit("Xã Ea Kar")
    account = await pagekit.account()
    page = await pagekit.page(commune, "ea-kar", account)
    officer = await pagekit.staff(commune)
    readers = [await _consenting(page, account, f"reader-{i}") for i in range(6)]
    declined = await pagekit.contact(account, "declined")
    await follows.start_follow(declined, page)
    await follows.answer_consent(declined, page, agree=False, locale="vi")
    silent = await pagekit.contact(account, "silent")
    await follows.start_follow(silent, page)
    left_before = await _consenting(page, account, "left-before")
    await follows.unfollow(left_before)
    erased_before = await _consenting(page, account, "erased-before")
    await follows.erase_contact(erased_before)
    # These two stop while the broadcast is going out; their rows come last.
    stops_midway = await _consenting(page, account, "stops-midway")
    erased_midway = await _consenting(page, account, "erased-midway")

    post = await posts.create_post(
        officer,
        page.id,
        PostInput("fraud_warning", [Translation("vi", "Cảnh báo", "Không chuyển tiền.")]),
        settings,
    )
    await posts.submit_post(officer, post.id, settings)
    tick = datetime.now(UTC) + timedelta(seconds=1)
    [publication] = await Publisher(settings, I18N).publish_due(tick)
    planned = {
        row.contact_id  # type: ignore[attr-defined]
        for row in await Delivery.filter(publication_id=publication)
    }
    assert planned == {c.id for c in (*readers, stops_midway, erased_midway)}

    channel = FakeChannel(account.id)
    sender = AccountSender(account.id, channel, pagekit.KEYRING, Limits(4.0), "me", CONFIG)
    rows = await outbox.claim(
        account.id, owner="me", limit=50, lease=timedelta(seconds=30), now=tick
    )
    assert len(rows) == 8
    sending = asyncio.create_task(sender.send_batch(rows))
    await eventually(lambda: channel.sent)
    await follows.unfollow(stops_midway)
    await follows.erase_contact(erased_midway)
    await sending

    sent_to = {s.chat_id for s in channel.sent}
    assert sent_to == {f"reader-{i}" for i in range(6)}
    assert await Delivery.filter(
        contact_id=stops_midway.id, status=DeliveryStatus.CANCELLED
    ).exists()
    # Its held row is cancelled and goes with the contact; the rest is gone already.
    left = await Delivery.filter(contact_id=erased_midway.id).values_list("status", flat=True)
    assert set(left) <= {DeliveryStatus.CANCELLED}
    assert not await Follow.filter(contact_id=erased_midway.id).exists()
    assert not await ConsentRecord.filter(contact_id=erased_midway.id).exists()
    # The erased contacts are deleted by the ticker once nothing waits for them.
    assert await follows.purge_erased() == 2
    assert not await Contact.filter(id__in=[erased_before.id, erased_midway.id]).exists()
    assert not await Delivery.filter(contact_id=erased_midway.id).exists()
