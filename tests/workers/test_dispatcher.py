"""The dispatcher against an in-memory channel: order, pacing, retry_after, unreachable
contacts, backoff and dead letters, cancelled broadcasts, and one owner per account."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterable
from datetime import timedelta

from tortoise.context import TortoiseContext

from communepol.clock import utcnow
from communepol.crypto import Keyring
from communepol.db.models import (
    ChannelAccount,
    ChannelKind,
    ChannelStatus,
    Contact,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Page,
    Post,
    PostCategory,
    Publication,
    Reachability,
    Unit,
    UnitLevel,
)
from communepol.ports import (
    AccountRefused,
    NotAllowedNow,
    OutboundMessage,
    PermanentSendError,
    RetryAfter,
    TransientSendError,
    Unreachable,
)
from communepol.services import outbox
from communepol.services.channels import ChannelRegistry
from communepol.services.contacts import ContactIdentity, find_or_create_contact
from communepol.services.outbox import Planned
from communepol.workers.dispatcher import AccountSender, DispatchConfig, Dispatcher, Limits
from tests.conftest import TEST_SECRET_KEY
from tests.fakes.channel import FakeChannel

KEYRING = Keyring(TEST_SECRET_KEY)
FAST = DispatchConfig(batch=50, concurrency=8, idle_poll=0.05, scan_interval=0.05)


async def _account() -> ChannelAccount:
    return await ChannelAccount.create(kind=ChannelKind.WEBCHAT, name="test")


async def _contacts(account: ChannelAccount, n: int) -> list[Contact]:
    result = []
    for i in range(n):
        contact, _ = await find_or_create_contact(
            KEYRING, account, ContactIdentity(platform_user_id=f"chat-{i}")
        )
        result.append(contact)
    return result


async def _plan(
    account: ChannelAccount,
    contacts: Iterable[Contact],
    kind: DeliveryKind,
    tag: str,
    publication_id: int | None = None,
) -> None:
    await outbox.enqueue_many(
        Planned(
            channel_account_id=account.id,
            message=OutboundMessage(text=f"{tag} {contact.id}"),
            kind=kind,
            dedup_key=f"{tag}:{contact.id}",
            contact_id=contact.id,
            publication_id=publication_id,
        )
        for contact in contacts
    )


async def _publication() -> Publication:
    unit = await Unit.create(
        code="T1", level=UnitLevel.COMMUNE, kind="Xã", name="Xã Thử", name_folded="xa thu"
    )
    page = await Page.create(unit=unit, slug="thu", title="Thử")
    post = await Post.create(page=page, category=PostCategory.ANNOUNCEMENT)
    return await Publication.create(post=post, occurrence_at=utcnow())


def _sender(account: ChannelAccount, channel: FakeChannel, **limits: float | None) -> AccountSender:
    per_second = limits.pop("per_second", None)
    return AccountSender(
        account.id, channel, KEYRING, Limits(per_second=per_second, **limits), "me", FAST
    )


async def _drain(sender: AccountSender, *, until: float = 10.0) -> None:
    """Claim and send until nothing is due (rows waiting for a retry time are left)."""
    deadline = time.monotonic() + until
    while time.monotonic() < deadline:
        rows = await outbox.claim(sender.account_id, owner="me", limit=50, lease=sender.row_lease)
        if not rows:
            return
        await sender.send_batch(rows)


async def _statuses() -> dict[str, int]:
    counts = await outbox.counts()
    return {status: n for status, n in counts.items() if n}


async def test_sends_every_row_most_urgent_first(db: TortoiseContext) -> None:
    account = await _account()
    contacts = await _contacts(account, 3)
    await _plan(account, contacts, DeliveryKind.BROADCAST, "news")
    await _plan(account, contacts[:1], DeliveryKind.ALERT, "alert")
    await _plan(account, contacts[:1], DeliveryKind.NOTIFICATION, "duty")
    await _plan(account, contacts[:1], DeliveryKind.REPLY, "reply")
    channel = FakeChannel(account.id)
    await _drain(_sender(account, channel))
    assert await _statuses() == {"sent": 6}
    first_four = [s.message.text.split()[0] for s in channel.sent[:4]]
    assert first_four == ["reply", "duty", "alert", "news"]


async def test_planning_twice_stores_once(db: TortoiseContext) -> None:
    account = await _account()
    contacts = await _contacts(account, 2)
    await _plan(account, contacts, DeliveryKind.BROADCAST, "news")
    await _plan(account, contacts, DeliveryKind.BROADCAST, "news")
    assert await Delivery.all().count() == 2


async def test_retry_after_pauses_the_whole_account_and_loses_nothing(db: TortoiseContext) -> None:
    account = await _account()
    contacts = await _contacts(account, 4)
    await _plan(account, contacts, DeliveryKind.BROADCAST, "news")
    channel = FakeChannel(account.id)
    channel.fail_next(RetryAfter(2))
    sender = _sender(account, channel, per_second=20)
    deadline = time.monotonic() + 6
    while (await outbox.counts())["sent"] < 4 and time.monotonic() < deadline:
        await _drain(sender)
        await asyncio.sleep(0.05)
    assert await _statuses() == {"sent": 4}
    # Nothing went out through the account for the 2 s the platform asked for.
    limited_at = channel.attempts[0][1]
    after = [at for _, at in channel.attempts[1:]]
    assert len(after) == 4
    assert min(after) - limited_at >= 1.95
    row = await Delivery.get(dedup_key=f"news:{contacts[0].id}")
    assert row.attempts == 1  # the 429 was not counted against the message


async def test_unreachable_contact_is_marked_and_its_other_rows_skipped(
    db: TortoiseContext,
) -> None:
    account = await _account()
    contacts = await _contacts(account, 2)
    blocked = contacts[0]
    await _plan(account, [blocked], DeliveryKind.REPLY, "first")
    channel = FakeChannel(account.id)
    channel.fail_next(Unreachable("blocked by the user"))
    await _drain(_sender(account, channel))
    await _plan(account, contacts, DeliveryKind.BROADCAST, "news")
    await _drain(_sender(account, channel))
    contact = await Contact.get(id=blocked.id)
    assert contact.reachability is Reachability.UNREACHABLE
    assert await _statuses() == {"unreachable": 2, "sent": 1}
    assert [s.chat_id for s in channel.sent] == ["chat-1"]


async def test_transient_errors_back_off_then_dead_letter(db: TortoiseContext) -> None:
    account = await _account()
    [contact] = await _contacts(account, 1)
    await _plan(account, [contact], DeliveryKind.REPLY, "hello")
    channel = FakeChannel(account.id)
    channel.fail_next(TransientSendError("502 from the platform"), times=100)
    config = DispatchConfig(max_attempts=3, backoff_base=0.01, backoff_cap=0.02)
    sender = AccountSender(account.id, channel, KEYRING, Limits(None), "me", config)
    for _ in range(6):
        await _drain(sender)
        await asyncio.sleep(0.05)
    row = await Delivery.get()
    assert row.status is DeliveryStatus.DEAD
    assert row.attempts == 3
    assert "502" in (row.last_error or "")
    assert await outbox.retry_dead([row.id]) == 1
    channel.fail_next(TransientSendError("x"), times=0)
    channel._errors.clear()
    await _drain(sender)
    assert await _statuses() == {"sent": 1}


async def test_backoff_waits_longer_each_time(db: TortoiseContext) -> None:
    account = await _account()
    [contact] = await _contacts(account, 1)
    await _plan(account, [contact], DeliveryKind.REPLY, "hello")
    channel = FakeChannel(account.id)
    channel.fail_next(TransientSendError("timeout"), times=2)
    sender = _sender(account, channel)
    await _drain(sender)
    first = await Delivery.get()
    assert first.status is DeliveryStatus.PENDING
    assert first.attempts == 1 and first.last_error == "timeout"
    wait = (first.not_before - first.created_at).total_seconds()
    assert 0.9 <= wait <= 2.5  # base 2 s with full jitter in [1, 2]


async def test_quota_and_permanent_errors_are_recorded_not_retried(db: TortoiseContext) -> None:
    account = await _account()
    contacts = await _contacts(account, 2)
    await _plan(account, contacts, DeliveryKind.BROADCAST, "news")
    channel = FakeChannel(account.id)
    channel.fail_next(NotAllowedNow("Zalo -230: no interaction in 7 days", code="-230"))
    channel.fail_next(PermanentSendError("400 bad request"))
    await _drain(_sender(account, channel))
    assert await _statuses() == {"quota_blocked": 1, "dead": 1}
    assert len(channel.attempts) == 2
    stored = await ChannelAccount.get(id=account.id)
    assert "-230" in (stored.last_error or "")


async def test_refused_credentials_stop_the_account_and_keep_the_messages(
    db: TortoiseContext,
) -> None:
    account = await _account()
    contacts = await _contacts(account, 5)
    await _plan(account, contacts, DeliveryKind.BROADCAST, "news")
    channel = FakeChannel(account.id)
    channel.fail_next(AccountRefused("token revoked"))
    sender = AccountSender(
        account.id, channel, KEYRING, Limits(None), "me", DispatchConfig(concurrency=1)
    )
    await sender.run()
    stored = await ChannelAccount.get(id=account.id)
    assert stored.status is ChannelStatus.BROKEN
    assert await _statuses() == {"pending": 5}


async def test_cancelled_broadcast_stops_before_its_next_send(db: TortoiseContext) -> None:
    account = await _account()
    contacts = await _contacts(account, 40)
    publication = await _publication()
    await _plan(account, contacts, DeliveryKind.BROADCAST, "news", publication.id)
    channel = FakeChannel(account.id)
    sender = _sender(account, channel, per_second=20)
    rows = await outbox.claim(account.id, owner="me", limit=50, lease=timedelta(seconds=60))
    task = asyncio.create_task(sender.send_batch(rows))
    await asyncio.sleep(0.5)
    stopped = await outbox.cancel_publication(publication.id)
    await task
    sent = len(channel.sent)
    assert 0 < sent < 40
    assert stopped == 40 - sent or stopped >= 40 - sent - 8  # rows in flight at the cancel
    counts = await _statuses()
    assert counts.get("sent", 0) + counts.get("cancelled", 0) == 40
    assert counts.get("sent", 0) <= sent


async def test_pacing_spaces_sends_to_one_chat(db: TortoiseContext) -> None:
    account = await _account()
    [contact] = await _contacts(account, 1)
    for i in range(3):
        await outbox.enqueue(
            Planned(
                channel_account_id=account.id,
                message=OutboundMessage(text=f"part {i}"),
                kind=DeliveryKind.REPLY,
                dedup_key=f"r{i}",
                contact_id=contact.id,
            )
        )
    channel = FakeChannel(account.id)
    await _drain(_sender(account, channel, chat_interval=0.3))
    times = [s.at for s in channel.sent]
    assert [s.message.text for s in channel.sent] == ["part 0", "part 1", "part 2"]
    assert all(b - a >= 0.29 for a, b in itertools.pairwise(times))


async def test_one_dispatcher_owns_an_account(db: TortoiseContext) -> None:
    account = await _account()
    contacts = await _contacts(account, 30)
    channels: list[FakeChannel] = []

    def factory(acct: ChannelAccount, secrets: dict[str, object], store: object) -> FakeChannel:
        channel = FakeChannel(acct.id)
        channels.append(channel)
        return channel

    first = Dispatcher(ChannelRegistry(KEYRING, factory), KEYRING, owner="p1", config=FAST)
    second = Dispatcher(ChannelRegistry(KEYRING, factory), KEYRING, owner="p2", config=FAST)
    await first.scan()
    await second.scan()
    assert list(first.senders) == [account.id]
    assert second.senders == {}
    await _plan(account, contacts, DeliveryKind.BROADCAST, "news")
    first.wake(account.id)
    for _ in range(100):
        if (await outbox.counts())["sent"] == 30:
            break
        await asyncio.sleep(0.05)
    await first.stop()
    await second.stop()
    assert sum(len(c.sent) for c in channels) == 30
