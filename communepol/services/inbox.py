"""The inbox: every inbound platform event is stored durably before the webhook answers 200,
then processed by the inbox worker, in order per contact.

Storing is idempotent: ``(channel account, platform event id)`` is unique and the insert
ignores a conflict, so a platform's replay or two concurrent deliveries of one event store it
once. `InboxWriter` commits in groups: every webhook request waiting at that moment is written
in one transaction and all are answered together, which is what lets SQLite keep up with a
burst (one transaction per request would not).

The event is kept sealed (``inbox`` key) while it waits; once processed, its payload is
erased — only the id (for de-duplication) and the outcome remain. A failing event is retried
with backoff and, after ``MAX_ATTEMPTS``, parked with its error for staff to see and retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from communepol.clock import utcnow
from communepol.crypto import Keyring
from communepol.db import raw
from communepol.db.models import ChannelKind, InboundStatus, Staff
from communepol.db.models import InboundEvent as StoredEvent
from communepol.errors import NotFound, Unavailable
from communepol.ports import InboundEvent
from communepol.services import audit, channels

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
# How long a processed event's id is kept to recognise a replay. Platforms retry for hours
# (Zalo for about 12), never for days; after this the row itself goes.
PROCESSED_RETENTION = timedelta(days=7)
_Row = dict[str, Any]  # one inbound_event row to insert, by column placeholder
_MAX_ERROR = 500


def contact_key(keyring: Keyring, account_id: int, event: InboundEvent) -> str | None:
    """What orders a contact's events: the keyed hash of the chat, never the chat id itself."""
    if event.chat_id is None:
        return None
    return keyring.identity_hash(account_id, event.chat_id)


def storable_event_id(event_id: str) -> str:
    """The platform's event id as stored: as is when it is short printable text, otherwise a
    digest of it — the same id always gives the same value, so replays are still recognised,
    and a hostile id (control characters, NUL, a megabyte) cannot break the batch it is in."""
    if len(event_id) <= 128 and event_id.isprintable():
        return event_id
    return "sha256:" + hashlib.sha256(event_id.encode("utf-8", "surrogatepass")).hexdigest()


def _rows(keyring: Keyring, account_id: int, events: Sequence[InboundEvent]) -> list[_Row]:
    box = keyring.box("inbox")
    now = utcnow()
    return [
        {
            "account": account_id,
            "event_id": storable_event_id(event.event_id),
            "kind": event.kind.value,
            "contact_key": contact_key(keyring, account_id, event),
            "payload": box.seal(event.to_json()),
            "now": now,
        }
        for event in events
    ]


async def store(keyring: Keyring, account_id: int, events: Sequence[InboundEvent]) -> None:
    """Store events at once, in one transaction (the writer's batches go through here)."""
    await store_rows(_rows(keyring, account_id, events))


_INSERT = """
INSERT INTO inbound_event
       (channel_account_id, platform_event_id, event_kind, contact_key, payload_sealed,
        status, attempts, not_before, received_at)
VALUES (:account, :event_id, :kind, :contact_key, :payload, 'pending', 0, :now, :now)
ON CONFLICT (channel_account_id, platform_event_id) DO NOTHING
"""


async def store_rows(rows: list[_Row]) -> None:
    """One transaction for the whole batch; a duplicate (a replay, or the same event twice in
    the batch) is skipped by the unique index."""
    await raw.execute_many(StoredEvent, _INSERT, rows)


@dataclass
class _Waiting:
    rows: list[_Row]
    done: asyncio.Future[None]


class InboxWriter:
    """Group commit for webhook requests: `store` returns once the events are committed."""

    def __init__(
        self,
        keyring: Keyring,
        *,
        max_batch: int = 500,
        linger: float = 0.002,
        on_stored: Callable[[], None] | None = None,
    ) -> None:
        self._linger = linger
        self._keyring = keyring
        self._max_batch = max_batch
        self._on_stored = on_stored
        self._queue: asyncio.Queue[_Waiting] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="inbox-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def store(self, account_id: int, events: Sequence[InboundEvent]) -> None:
        """Durably store ``events``; raises `Unavailable` when the database cannot."""
        if not events:
            return
        rows = _rows(self._keyring, account_id, events)
        if self._task is None:  # not started (a command-line poller, a test): write directly
            await self._write([rows])
            return
        waiting = _Waiting(rows, asyncio.get_running_loop().create_future())
        await self._queue.put(waiting)
        await waiting.done

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            size = len(batch[0].rows)
            # A commit costs about a millisecond whatever its size; under load, waiting up to
            # `linger` seconds for the requests already being read makes each commit carry
            # several times more events. When requests stop arriving, it stops waiting.
            deadline = asyncio.get_running_loop().time() + self._linger
            while size < self._max_batch:
                if self._queue.empty():
                    if asyncio.get_running_loop().time() >= deadline:
                        break
                    await asyncio.sleep(0)
                    if self._queue.empty():
                        break
                    continue
                item = self._queue.get_nowait()
                batch.append(item)
                size += len(item.rows)
            try:
                await self._write([item.rows for item in batch])
            except Unavailable as err:
                if len(batch) == 1:
                    _settle(batch[0], err)
                    continue
                # One request's rows must not fail the others: write each on its own.
                for item in batch:
                    try:
                        await self._write([item.rows])
                    except Unavailable as single:
                        _settle(item, single)
                    else:
                        _settle(item, None)
                continue
            for item in batch:
                _settle(item, None)

    async def _write(self, groups: list[list[_Row]]) -> None:
        try:
            await store_rows([row for rows in groups for row in rows])
        except Exception as err:
            # Answering 503 makes the platform deliver again later; nothing is lost.
            log.error("inbox: cannot store events (%s: %s)", type(err).__name__, _reason(err))
            raise Unavailable("the inbox cannot store events now") from err
        if self._on_stored is not None:
            self._on_stored()


def _settle(waiting: _Waiting, error: Unavailable | None) -> None:
    if waiting.done.done():
        return
    if error is None:
        waiting.done.set_result(None)
    else:
        waiting.done.set_exception(error)


def _reason(err: Exception) -> str:
    """The database's complaint without the values it may quote (they could be a resident's)."""
    return str(err).split("\n", 1)[0].split(":", 1)[0][:80]


@dataclass(frozen=True)
class ClaimedEvent:
    id: int
    channel_account_id: int
    attempts: int
    event: InboundEvent


# The waiting events, oldest first, read off ``inbound_waiting_idx`` — a partial index on id
# over exactly these statuses (migration 0004), so new events are appended to it and processed
# ones leave it. One statement, so its answer is one consistent snapshot.
_WAITING = """
SELECT id, channel_account_id, contact_key, status, not_before, lease_expires_at
  FROM inbound_event
 WHERE status IN ('pending', 'processing', 'failed')
 ORDER BY id
 LIMIT :window
"""

# How many waiting events one claim looks at to find `limit` claimable ones.
_WINDOW = 1000


def _claimable(rows: list[dict[str, Any]], now: datetime, limit: int) -> list[int]:
    """From the waiting events in id order: each contact's oldest, if it is due. A contact whose
    oldest waiting event is being processed (lease still running) or waits for its retry is
    held back — its later events wait behind it."""
    seen: set[tuple[int, str]] = set()
    chosen: list[int] = []
    for row in rows:
        key = row["contact_key"]
        if key is not None:
            contact = (int(row["channel_account_id"]), str(key))
            if contact in seen:
                continue
            seen.add(contact)
        if row["status"] == InboundStatus.PROCESSING.value:
            lease_until = raw.as_datetime(row["lease_expires_at"])
            due = lease_until is not None and lease_until < now  # its worker died
        else:
            not_before = raw.as_datetime(row["not_before"])
            due = not_before is not None and not_before <= now
        if due:
            chosen.append(int(row["id"]))
            if len(chosen) >= limit:
                break
    return chosen


async def claim(
    keyring: Keyring, *, owner: str, limit: int, lease: timedelta, now: datetime | None = None
) -> list[ClaimedEvent]:
    """Lease due events, at most one per contact at a time and each contact's oldest first
    (an event waits while an earlier one of the same contact is pending, being processed or
    waiting for its retry). Several workers may claim at once: each takes an event only by a
    conditional update from the status it read, so an event is taken once, and a contact's
    next event is never chosen while its earlier one is still waiting."""
    now = now or utcnow()
    rows = await raw.fetch(StoredEvent, _WAITING, window=_WINDOW)
    chosen = _claimable(rows, now, limit)
    if not chosen:
        return []
    expired = Q(status=InboundStatus.PROCESSING, lease_expires_at__lt=now)
    waiting = Q(status__in=(InboundStatus.PENDING, InboundStatus.FAILED), not_before__lte=now)
    await StoredEvent.filter(Q(id__in=chosen) & (waiting | expired)).update(
        status=InboundStatus.PROCESSING,
        lease_owner=owner,
        lease_expires_at=now + lease,
        attempts=F("attempts") + 1,
    )
    taken = (
        await StoredEvent.filter(
            id__in=chosen,
            status=InboundStatus.PROCESSING,
            lease_owner=owner,
            lease_expires_at=now + lease,
        )
        .order_by("id")
        .values_list("id", "channel_account_id", "attempts", "payload_sealed")
    )
    box = keyring.box("inbox")
    return [
        ClaimedEvent(
            id=int(event_id),
            channel_account_id=int(account_id),
            attempts=int(attempts),
            event=InboundEvent.from_json(box.open(str(payload))),
        )
        for event_id, account_id, attempts, payload in taken
    ]


async def mark_done(event_id: int, owner: str) -> bool:
    """Processed: erase the payload (only the id stays, for de-duplication)."""
    updated = await StoredEvent.filter(
        id=event_id, lease_owner=owner, status=InboundStatus.PROCESSING
    ).update(
        status=InboundStatus.DONE,
        processed_at=utcnow(),
        payload_sealed="",
        lease_owner=None,
        lease_expires_at=None,
        last_error=None,
    )
    return updated == 1


async def mark_failed(event: ClaimedEvent, owner: str, error: str) -> InboundStatus:
    """Retry later with backoff, or park after `MAX_ATTEMPTS`; the status it now has."""
    if event.attempts >= MAX_ATTEMPTS:
        status, retry_at = InboundStatus.PARKED, utcnow()
    else:
        ceiling = min(300.0, 2.0 * 2 ** (event.attempts - 1))
        delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret
        status, retry_at = InboundStatus.FAILED, utcnow() + timedelta(seconds=delay)
    await StoredEvent.filter(id=event.id, lease_owner=owner).update(
        status=status,
        not_before=retry_at,
        last_error=error[:_MAX_ERROR],
        lease_owner=None,
        lease_expires_at=None,
    )
    return status


async def parked(limit: int = 100) -> list[StoredEvent]:
    """Events that gave up, newest first, for staff (their payload stays sealed)."""
    return await StoredEvent.filter(status=InboundStatus.PARKED).order_by("-id").limit(limit)


async def retry_parked(event_ids: Sequence[int]) -> int:
    """Staff send parked events through again, with a fresh count."""
    return await StoredEvent.filter(id__in=list(event_ids), status=InboundStatus.PARKED).update(
        status=InboundStatus.PENDING, attempts=0, not_before=utcnow(), last_error=None
    )


@dataclass(frozen=True)
class ParkedEvent:
    """A parked event as staff see it: what, where, when and why — never its content, its
    platform id or whose it is."""

    id: int
    channel_account_id: int
    channel_kind: ChannelKind
    event_kind: str
    attempts: int
    received_at: datetime
    last_error: str | None


async def parked_events(limit: int = 100) -> list[ParkedEvent]:
    """Events that gave up, newest first, without loading their sealed payload."""
    rows = (
        await StoredEvent.filter(status=InboundStatus.PARKED)
        .order_by("-id")
        .limit(limit)
        .values(
            "id",
            "channel_account_id",
            "event_kind",
            "attempts",
            "received_at",
            "last_error",
            channel_kind="channel_account__kind",
        )
    )
    return [
        ParkedEvent(
            id=int(row["id"]),
            channel_account_id=int(row["channel_account_id"]),
            channel_kind=ChannelKind(row["channel_kind"]),
            event_kind=str(row["event_kind"]),
            attempts=int(row["attempts"]),
            received_at=row["received_at"],
            last_error=row["last_error"],
        )
        for row in rows
    ]


async def retry_all_parked() -> int:
    """Send every parked event through again, with a fresh count; how many."""
    return await StoredEvent.filter(status=InboundStatus.PARKED).update(
        status=InboundStatus.PENDING, attempts=0, not_before=utcnow(), last_error=None
    )


async def retry_parked_events(event_ids: Sequence[int]) -> tuple[list[int], dict[int, str | None]]:
    """Send these parked events through again (`retry_parked`): the ids that went back to the
    queue, and for each other id its status (None: there is no such event)."""
    wanted = list(dict.fromkeys(event_ids))
    async with in_transaction(raw.connection(StoredEvent).connection_name):
        # Locked (PostgreSQL) so that two staff retrying at once are each told the truth.
        rows = await StoredEvent.filter(id__in=wanted).select_for_update().only("id", "status")
        status: dict[int, str | None] = {row.id: row.status.value for row in rows}
        ready = [item for item in wanted if status.get(item) == InboundStatus.PARKED.value]
        if ready:
            await retry_parked(ready)
    return ready, {item: status.get(item) for item in wanted if item not in ready}


async def purge_processed(now: datetime | None = None) -> int:
    """Delete processed events older than `PROCESSED_RETENTION` (their payload is already
    gone; this removes the id too). Parked and waiting events are never touched."""
    before = (now or utcnow()) - PROCESSED_RETENTION
    return await StoredEvent.filter(status=InboundStatus.DONE, processed_at__lt=before).delete()


# --- the admin web: the same list and retry, kept to a supervisor's accounts ------------------


async def parked_in_scope(staff: Staff, limit: int = 100) -> list[ParkedEvent]:
    """`parked_events` of the accounts ``staff`` may see (`channels.accounts_in_scope`)."""
    visible = await channels.accounts_in_scope(staff)
    return [
        event for event in await parked_events(limit=limit) if event.channel_account_id in visible
    ]


async def retry_parked_in_scope(staff: Staff, event_id: int, *, source: str = "web") -> bool:
    """Send one parked event of an account in ``staff``'s scope through again (`NotFound`
    for another account's or a missing one); False when it was no longer parked."""
    visible = await channels.accounts_in_scope(staff)
    row = await StoredEvent.get_or_none(id=event_id).only("id", "channel_account_id")
    if row is None or int(row.channel_account_id) not in visible:  # type: ignore[attr-defined]
        raise NotFound("not found")
    ready, _ = await retry_parked_events([event_id])
    if ready:
        await audit.record(
            "inbox.retried",
            actor=staff,
            object_type="inbound_event",
            object_id=event_id,
            source=source,
            data={"account": int(row.channel_account_id)},  # type: ignore[attr-defined]
        )
    return bool(ready)
