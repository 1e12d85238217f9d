"""The inbox: stored once however often a platform delivers, processed in order per contact,
retried then parked — never lost —, and nothing of the event kept once it is processed."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import timedelta

import pytest
from tortoise.context import TortoiseContext

from communepol.clock import utcnow
from communepol.crypto import Keyring
from communepol.db.models import ChannelAccount, ChannelKind, InboundStatus
from communepol.db.models import InboundEvent as StoredEvent
from communepol.errors import ValidationError
from communepol.ports import InboundEvent, InboundKind, Sender
from communepol.services import inbox
from communepol.services.inbox import InboxWriter
from communepol.workers.inbox import InboxWorker
from tests.conftest import POSTGRES_URL, TEST_SECRET_KEY

KEYRING = Keyring(TEST_SECRET_KEY)


def _event(n: int, chat: str = "chat-1", text: str = "xin chào") -> InboundEvent:
    return InboundEvent(
        event_id=f"ev-{n}",
        kind=InboundKind.TEXT,
        chat_id=chat,
        sender=Sender(platform_user_id=chat, display_name="Nguyễn Văn A"),
        text=f"{text} {n}",
        message_id=f"m{n}",
    )


async def _account() -> ChannelAccount:
    return await ChannelAccount.create(kind=ChannelKind.WEBCHAT, name="inbox test")


async def test_a_replay_and_concurrent_duplicates_are_stored_once(db: TortoiseContext) -> None:
    account = await _account()
    writer = InboxWriter(KEYRING)
    writer.start()
    try:
        await asyncio.gather(*(writer.store(account.id, [_event(1)]) for _ in range(5)))
        await writer.store(account.id, [_event(1), _event(2)])
    finally:
        await writer.stop()
    assert await StoredEvent.filter(channel_account_id=account.id).count() == 2


async def test_stored_events_name_no_one_and_keep_no_text_in_clear(db: TortoiseContext) -> None:
    account = await _account()
    await inbox.store(KEYRING, account.id, [_event(1, chat="987654321", text="SENTINEL")])
    row = await StoredEvent.get()
    for column in (row.platform_event_id, row.contact_key or "", row.payload_sealed):
        assert "987654321" not in column
        assert "SENTINEL" not in column
        assert "Nguyễn" not in column


async def test_events_of_one_contact_are_processed_in_order_others_in_parallel(
    db: TortoiseContext,
) -> None:
    account = await _account()
    events = [_event(n, chat=f"chat-{n % 3}") for n in range(12)]
    await inbox.store(KEYRING, account.id, events)
    seen: dict[str, list[str]] = defaultdict(list)

    async def handler(account_id: int, stored_id: int, event: InboundEvent) -> None:
        seen[event.chat_id or ""].append(event.event_id)

    worker = InboxWorker(KEYRING, handler, owner="w1")
    first = await inbox.claim(KEYRING, owner="w1", limit=50, lease=worker.lease)
    # One event per contact at a time: the oldest of each of the three chats.
    assert sorted(c.event.event_id for c in first) == ["ev-0", "ev-1", "ev-2"]
    for item in first:
        await worker.process(item)
    while await worker.run_once():
        pass
    for chat, order in seen.items():
        numbers = [int(e.split("-")[1]) for e in order]
        assert numbers == sorted(numbers), chat
    assert sum(len(v) for v in seen.values()) == 12
    done = await StoredEvent.filter(status=InboundStatus.DONE).values_list(
        "payload_sealed", flat=True
    )
    assert done == [""] * 12  # processed: nothing of the event is kept


async def test_a_failing_event_is_retried_then_parked_and_holds_back_its_contact(
    db: TortoiseContext,
) -> None:
    account = await _account()
    await inbox.store(KEYRING, account.id, [_event(1), _event(2), _event(3, chat="other")])
    handled: list[str] = []

    async def handler(account_id: int, stored_id: int, event: InboundEvent) -> None:
        if event.event_id == "ev-1":
            raise RuntimeError("a bug")
        handled.append(event.event_id)

    worker = InboxWorker(KEYRING, handler, owner="w1")
    await worker.run_once()
    failed = await StoredEvent.get(platform_event_id="ev-1")
    assert failed.status is InboundStatus.FAILED
    assert failed.last_error and failed.last_error.startswith("RuntimeError (incident ")
    assert handled == ["ev-3"]  # ev-2 waits behind ev-1; the other contact goes on
    for _ in range(inbox.MAX_ATTEMPTS):
        await StoredEvent.filter(platform_event_id="ev-1").update(not_before=failed.received_at)
        await worker.run_once()
    parked = await StoredEvent.get(platform_event_id="ev-1")
    assert parked.status is InboundStatus.PARKED
    assert parked.payload_sealed  # kept, sealed, for staff to retry
    assert [e.id for e in await inbox.parked()] == [parked.id]
    await worker.run_once()
    assert handled == ["ev-3", "ev-2"]  # parked no longer holds the contact back
    assert await inbox.retry_parked([parked.id]) == 1
    assert (await StoredEvent.get(id=parked.id)).status is InboundStatus.PENDING


async def test_a_refusal_is_recorded_with_its_message(db: TortoiseContext) -> None:
    account = await _account()
    await inbox.store(KEYRING, account.id, [_event(1)])

    async def handler(account_id: int, stored_id: int, event: InboundEvent) -> None:
        raise ValidationError("unit not found")

    await InboxWorker(KEYRING, handler, owner="w1").run_once()
    row = await StoredEvent.get()
    assert row.last_error == "ValidationError: unit not found"


async def test_what_a_failing_handler_wrote_is_rolled_back(db: TortoiseContext) -> None:
    account = await _account()
    await inbox.store(KEYRING, account.id, [_event(1)])

    async def handler(account_id: int, stored_id: int, event: InboundEvent) -> None:
        await ChannelAccount.create(kind=ChannelKind.WEBCHAT, name="written then rolled back")
        raise RuntimeError("after writing")

    await InboxWorker(KEYRING, handler, owner="w1").run_once()
    assert not await ChannelAccount.filter(name="written then rolled back").exists()


@pytest.mark.skipif(not POSTGRES_URL, reason="needs COMMUNEPOL_TEST_POSTGRES_URL (set in CI)")
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_two_workers_on_postgresql_process_each_event_once_in_order(
    db: TortoiseContext,
) -> None:
    account = await _account()
    await inbox.store(KEYRING, account.id, [_event(n, chat=f"c{n % 5}") for n in range(60)])
    seen: list[tuple[str, str]] = []

    async def handler(account_id: int, stored_id: int, event: InboundEvent) -> None:
        await asyncio.sleep(0.001)
        seen.append((event.chat_id or "", event.event_id))

    workers = [InboxWorker(KEYRING, handler, owner=f"w{i}") for i in range(3)]

    async def drain(worker: InboxWorker) -> None:
        idle = 0
        while idle < 5:
            idle = 0 if await worker.run_once() else idle + 1
            await asyncio.sleep(0.01)

    await asyncio.gather(*(drain(w) for w in workers))
    assert sorted(e for _, e in seen) == sorted(f"ev-{n}" for n in range(60))
    for chat in {c for c, _ in seen}:
        numbers = [int(e.split("-")[1]) for c, e in seen if c == chat]
        assert numbers == sorted(numbers)


async def test_processed_events_are_deleted_after_the_retention_time(db: TortoiseContext) -> None:
    account = await _account()
    await inbox.store(KEYRING, account.id, [_event(n, chat=f"c{n}") for n in range(4)])

    async def handler(account_id: int, stored_id: int, event: InboundEvent) -> None:
        if event.event_id == "ev-3":
            raise RuntimeError("fails")

    worker = InboxWorker(KEYRING, handler, owner="w1")
    await worker.run_once()
    now = utcnow()
    old = now - inbox.PROCESSED_RETENTION - timedelta(minutes=1)
    await StoredEvent.filter(platform_event_id__in=["ev-0", "ev-3"]).update(
        processed_at=old, received_at=old
    )
    assert await inbox.purge_processed(now) == 1  # ev-0: processed long ago
    remaining = await StoredEvent.all().order_by("id").values_list("platform_event_id", flat=True)
    assert remaining == ["ev-1", "ev-2", "ev-3"]  # recent ones, and the failed one, stay
