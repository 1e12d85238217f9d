"""The outbox: every outbound message is a `Delivery` row before anything is sent.

Planning (`enqueue`, `enqueue_many`) is idempotent through the unique ``dedup_key``: planning
the same message twice stores it once, whatever crashed in between. Sending is the
dispatcher's (`communepol.workers.dispatcher`); this module gives it the database side:
`claim` leases due rows of one channel account, `record_*` writes each outcome, and
`cancel_publication` stops a broadcast between two sends.

Rows move ``pending → sending (leased) → sent | pending again (a retry, at not_before) | dead |
unreachable | quota_blocked | cancelled``. A row whose lease lapsed (its sender died) is
claimed again: the guarantee is at-least-once, duplicates bounded by the sends in flight at a
crash.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.functions import Count
from tortoise.transactions import in_transaction

from communepol.clock import utcnow
from communepol.db import raw
from communepol.db.models import (
    PRIORITY_OF_KIND,
    ChannelAccount,
    ChannelKind,
    Contact,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Publication,
    Reachability,
    Staff,
)
from communepol.errors import NotFound
from communepol.ports import OutboundMessage
from communepol.services import audit, channels

# A follower's row names its language instead of carrying the text (`communepol.services.fanout`).
FROM_PUBLICATION = "from_publication"

_MAX_ERROR = 500


@dataclass(frozen=True)
class Planned:
    """One message to plan: to a contact or a group, through a channel account."""

    channel_account_id: int
    message: OutboundMessage
    kind: DeliveryKind
    dedup_key: str
    contact_id: int | None = None
    group_id: int | None = None
    publication_id: int | None = None
    tip_id: int | None = None
    not_before: datetime | None = None


def _row(planned: Planned, now: datetime) -> Delivery:
    if (planned.contact_id is None) == (planned.group_id is None):
        raise ValueError("a delivery goes to exactly one contact or one group")
    return Delivery(
        channel_account_id=planned.channel_account_id,
        contact_id=planned.contact_id,
        group_id=planned.group_id,
        kind=planned.kind,
        priority=PRIORITY_OF_KIND[planned.kind],
        dedup_key=planned.dedup_key[:200],
        payload=planned.message.to_payload(),
        publication_id=planned.publication_id,
        tip_id=planned.tip_id,
        not_before=planned.not_before or now,
    )


async def enqueue(planned: Planned) -> bool:
    """Plan one message; False when its dedup key was already planned."""
    return await enqueue_many([planned]) == 1


async def enqueue_many(items: Iterable[Planned], *, batch_size: int = 1000) -> int:
    """Plan many messages in bulk (call inside a transaction to make them all-or-nothing with
    the change that caused them); how many were new."""
    now = utcnow()
    rows = [_row(item, now) for item in items]
    if not rows:
        return 0
    new = 0
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        keys = [row.dedup_key for row in chunk]
        before = await Delivery.filter(dedup_key__in=keys).count()
        await Delivery.bulk_create(chunk, ignore_conflicts=True)
        new += await Delivery.filter(dedup_key__in=keys).count() - before
    return new


@dataclass(frozen=True)
class Claimed:
    """A leased row, ready to send."""

    id: int
    contact_id: int | None
    group_id: int | None
    kind: DeliveryKind
    priority: int
    payload: dict[str, Any]
    attempts: int
    publication_id: int | None


# One status and an index that ends in (priority, not_before, id): the most urgent due rows
# are read off the index in order, however many rows a broadcast has queued or sent.
_CLAIM = """
UPDATE delivery
   SET status = 'sending', lease_owner = :owner, lease_expires_at = :lease_until,
       attempts = attempts + 1
 WHERE id IN (
       SELECT id FROM delivery
        WHERE channel_account_id = :account AND status = 'pending' AND not_before <= :now
        ORDER BY priority, not_before, id
        LIMIT :limit
        {skip_locked})
RETURNING id, contact_id, group_id, kind, priority, payload, attempts, publication_id
"""

# Rows whose sender died go back to the queue once their lease has lapsed.
_RECLAIM = """
UPDATE delivery
   SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL
 WHERE status = 'sending' AND lease_expires_at < :now AND channel_account_id = :account
"""


async def claim(
    account_id: int, *, owner: str, limit: int, lease: timedelta, now: datetime | None = None
) -> list[Claimed]:
    """Lease up to ``limit`` due rows of one account, most urgent first."""
    now = now or utcnow()
    await raw.execute(Delivery, _RECLAIM, now=now, account=account_id)
    rows = await raw.fetch(
        Delivery,
        _CLAIM,
        owner=owner,
        lease_until=now + lease,
        account=account_id,
        now=now,
        limit=limit,
    )
    payloads = [_json(row["payload"]) for row in rows]
    await _fill_from_publications(rows, payloads)
    claimed = [
        Claimed(
            id=row["id"],
            contact_id=row["contact_id"],
            group_id=row["group_id"],
            kind=DeliveryKind(row["kind"]),
            priority=row["priority"],
            payload=payload,
            attempts=row["attempts"],
            publication_id=row["publication_id"],
        )
        for row, payload in zip(rows, payloads, strict=True)
    ]
    claimed.sort(key=lambda c: (c.priority, c.id))
    return claimed


async def _fill_from_publications(
    rows: Sequence[dict[str, Any]], payloads: list[dict[str, Any]]
) -> None:
    """A follower's row names only its language (see `communepol.services.fanout`): put the
    publication's message in that language in its place."""
    wanted = {
        row["publication_id"]
        for row, payload in zip(rows, payloads, strict=True)
        if FROM_PUBLICATION in payload
    }
    if not wanted:
        return
    found = await Publication.filter(id__in=list(wanted)).values_list("id", "messages")
    messages = {int(pub_id): _json(value) for pub_id, value in found}
    for index, (row, payload) in enumerate(zip(rows, payloads, strict=True)):
        locale = payload.get(FROM_PUBLICATION)
        if locale is not None:
            by_locale = messages.get(row["publication_id"], {})
            payloads[index] = by_locale.get(locale) or next(iter(by_locale.values()), {})


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    loaded = json.loads(value)
    return loaded if isinstance(loaded, dict) else {}


async def hold(ids: Sequence[int], owner: str, lease: timedelta) -> set[int]:
    """Extend the lease on rows this owner still holds and return them: a cancelled broadcast's
    rows drop out, and a long batch is not taken over by another sender while it runs."""
    if not ids:
        return set()
    held = Delivery.filter(id__in=list(ids), status=DeliveryStatus.SENDING, lease_owner=owner)
    await held.update(lease_expires_at=utcnow() + lease)
    rows = await held.values_list("id", flat=True)
    return {int(row) for row in rows}  # type: ignore[call-overload]


@dataclass(frozen=True)
class Outcome:
    """What happened to one claimed row."""

    id: int
    status: DeliveryStatus
    platform_message_id: str | None = None
    error: str | None = None
    retry_at: datetime | None = None
    refund_attempt: bool = False  # a platform rate limit or a broken account is not the row's fault


_OUTCOME = """
UPDATE delivery
   SET status = :status,
       sent_at = CASE WHEN :sent THEN :now ELSE sent_at END,
       platform_message_id = COALESCE(:message_id, platform_message_id),
       last_error = COALESCE(:error, last_error),
       not_before = COALESCE(:retry_at, not_before),
       attempts = attempts - :refund,
       lease_owner = NULL, lease_expires_at = NULL
 WHERE id = :id AND lease_owner = :owner AND status = 'sending'
"""


async def record_outcomes(outcomes: Sequence[Outcome], owner: str) -> None:
    """Write outcomes in one transaction, each only if this owner still holds the row (a
    cancelled row stays cancelled). One prepared statement for the whole group: at thousands
    of sends a second, building an ORM query per row would cost more than the sends."""
    now = utcnow()
    await raw.execute_many(
        Delivery,
        _OUTCOME,
        [
            {
                "status": outcome.status.value,
                "sent": outcome.status is DeliveryStatus.SENT,
                "now": now,
                "message_id": outcome.platform_message_id,
                "error": outcome.error[:_MAX_ERROR] if outcome.error is not None else None,
                "retry_at": outcome.retry_at,
                "refund": 1 if outcome.refund_attempt else 0,
                "id": outcome.id,
                "owner": owner,
            }
            for outcome in outcomes
        ],
    )


async def release(ids: Sequence[int], owner: str) -> None:
    """Give claimed rows back untouched (the sender is stopping)."""
    if ids:
        await Delivery.filter(
            id__in=list(ids), lease_owner=owner, status=DeliveryStatus.SENDING
        ).update(status=DeliveryStatus.PENDING, lease_owner=None, lease_expires_at=None)


async def skip_unreachable(contact_id: int, reason: str) -> int:
    """Mark a contact unreachable and every row still waiting for it as such; how many rows."""
    await Contact.filter(id=contact_id).update(
        reachability=Reachability.UNREACHABLE, unreachable_reason=reason[:200]
    )
    return await Delivery.filter(
        contact_id=contact_id,
        status=DeliveryStatus.PENDING,
    ).update(status=DeliveryStatus.UNREACHABLE, last_error=reason[:_MAX_ERROR])


async def cancel_publication(publication_id: int) -> int:
    """Stop a broadcast: every row not yet sent is cancelled, including rows a sender holds
    (it re-checks before each send). How many rows were stopped."""
    return await Delivery.filter(
        publication_id=publication_id,
        status__in=(DeliveryStatus.PENDING, DeliveryStatus.SENDING),
    ).update(status=DeliveryStatus.CANCELLED, lease_owner=None, lease_expires_at=None)


async def mark_read(account_id: int, platform_message_id: str, at: datetime | None) -> int:
    """A platform says its user saw this message: the delivery that sent it is read."""
    return await Delivery.filter(
        channel_account_id=account_id,
        platform_message_id=platform_message_id[:128],
        read_at__isnull=True,
    ).update(read_at=at or utcnow())


async def retry_dead(delivery_ids: Sequence[int]) -> int:
    """Staff retry dead letters by hand: they go back to the queue with a fresh count."""
    return await Delivery.filter(id__in=list(delivery_ids), status=DeliveryStatus.DEAD).update(
        status=DeliveryStatus.PENDING, attempts=0, not_before=utcnow(), last_error=None
    )


async def note_account_error(account_id: int, message: str) -> None:
    """Shown to staff on the channel account (a quota or window error, a refused token)."""
    await ChannelAccount.filter(id=account_id).update(
        last_error=message[:_MAX_ERROR], last_error_at=utcnow()
    )


async def counts(publication_id: int | None = None) -> dict[str, int]:
    """Rows per status, for one broadcast or for everything."""
    query = Delivery.all()
    if publication_id is not None:
        query = query.filter(publication_id=publication_id)
    result = {status.value: 0 for status in DeliveryStatus}
    for status, count in await _status_counts(query):
        result[status] = count
    return result


async def _status_counts(query: Any) -> list[tuple[str, int]]:
    rows = await query.annotate(n=Count("id")).group_by("status").values_list("status", "n")
    return [(str(status), int(n)) for status, n in rows]


async def counts_by_account(account_id: int | None = None) -> dict[int, dict[str, int]]:
    """Rows per status for each channel account that has rows (or for one), in one query."""
    query = Delivery.all()
    if account_id is not None:
        query = query.filter(channel_account_id=account_id)
    rows = (
        await query.annotate(n=Count("id"))
        .group_by("channel_account_id", "status")
        .values_list("channel_account_id", "status", "n")
    )
    result: dict[int, dict[str, int]] = {}
    for account, status, n in rows:
        per_status = result.setdefault(int(account), {s.value: 0 for s in DeliveryStatus})
        per_status[str(status)] = int(n)
    return result


# What staff look at by hand: the rows the dispatcher gave up on, and those a platform's quota
# or window forbade.
STUCK_STATUSES = (DeliveryStatus.DEAD, DeliveryStatus.QUOTA_BLOCKED)


@dataclass(frozen=True)
class StuckDelivery:
    """A dead or quota-blocked row as staff see it: never its payload or its recipient."""

    id: int
    channel_account_id: int
    channel_kind: ChannelKind
    kind: DeliveryKind
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    last_error: str | None


async def dead_letters(limit: int = 100, account_id: int | None = None) -> list[StuckDelivery]:
    """Dead and quota-blocked rows, newest first, without loading their payload."""
    query = Delivery.filter(status__in=STUCK_STATUSES)
    if account_id is not None:
        query = query.filter(channel_account_id=account_id)
    rows = (
        await query.order_by("-id")
        .limit(limit)
        .values(
            "id",
            "channel_account_id",
            "kind",
            "status",
            "attempts",
            "created_at",
            "last_error",
            channel_kind="channel_account__kind",
        )
    )
    return [
        StuckDelivery(
            id=int(row["id"]),
            channel_account_id=int(row["channel_account_id"]),
            channel_kind=ChannelKind(row["channel_kind"]),
            kind=DeliveryKind(row["kind"]),
            status=DeliveryStatus(row["status"]),
            attempts=int(row["attempts"]),
            created_at=row["created_at"],
            last_error=row["last_error"],
        )
        for row in rows
    ]


async def retry_all_dead(account_id: int | None = None) -> int:
    """Every dead letter (of one account) back to the queue with a fresh count; how many."""
    query = Delivery.filter(status=DeliveryStatus.DEAD)
    if account_id is not None:
        query = query.filter(channel_account_id=account_id)
    return await query.update(
        status=DeliveryStatus.PENDING, attempts=0, not_before=utcnow(), last_error=None
    )


async def retry_dead_letters(
    delivery_ids: Sequence[int],
) -> tuple[list[int], dict[int, str | None]]:
    """Retry these dead letters (`retry_dead`): the ids that went back to the queue, and for
    each other id its status (None: there is no such row)."""
    wanted = list(dict.fromkeys(delivery_ids))
    async with in_transaction(raw.connection(Delivery).connection_name):
        # Locked (PostgreSQL) so that two staff retrying at once are each told the truth.
        rows = await Delivery.filter(id__in=wanted).select_for_update().only("id", "status")
        status: dict[int, str | None] = {row.id: row.status.value for row in rows}
        ready = [item for item in wanted if status.get(item) == DeliveryStatus.DEAD.value]
        if ready:
            await retry_dead(ready)
    return ready, {item: status.get(item) for item in wanted if item not in ready}


# --- the admin web: the same list and retry, kept to a supervisor's accounts ------------------


async def stuck_in_scope(staff: Staff, limit: int = 100) -> list[StuckDelivery]:
    """`dead_letters` (dead and quota-blocked rows) of the accounts ``staff`` may see
    (`channels.accounts_in_scope`)."""
    visible = await channels.accounts_in_scope(staff)
    return [row for row in await dead_letters(limit=limit) if row.channel_account_id in visible]


async def retry_dead_in_scope(staff: Staff, delivery_id: int, *, source: str = "web") -> bool:
    """Put one dead letter of an account in ``staff``'s scope back in the queue (`NotFound`
    for another account's or a missing one); False when it was not dead (a quota-blocked row
    waits for its quota, not for a retry)."""
    visible = await channels.accounts_in_scope(staff)
    row = await Delivery.get_or_none(id=delivery_id).only("id", "channel_account_id")
    if row is None or int(row.channel_account_id) not in visible:  # type: ignore[attr-defined]
        raise NotFound("not found")
    ready, _ = await retry_dead_letters([delivery_id])
    if ready:
        await audit.record(
            "outbox.retried",
            actor=staff,
            object_type="delivery",
            object_id=delivery_id,
            source=source,
            data={"account": int(row.channel_account_id)},  # type: ignore[attr-defined]
        )
    return bool(ready)
