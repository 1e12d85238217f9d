"""The dispatcher: sends the outbox through the channel adapters, within the platforms' limits.

One `AccountSender` per channel account, in the process that holds the account's lease
(``send:<id>``): on PostgreSQL several processes share the outbox and each account is sent by
exactly one of them at a time; on SQLite the one process holds them all. A sender claims due
rows most-urgent-first (reply > officer notification > alert > broadcast), paces them with the
account's `Pacer` and each chat's or group's `Gaps`, sends up to ``concurrency`` at once and
writes the outcomes in groups:

- sent → ``sent`` with the platform's message id;
- ``RetryAfter`` → the whole account pauses for exactly that long, the row waits as long, and
  the attempt is not counted against it;
- ``Unreachable`` → the contact is marked unreachable and every row still waiting for it is
  skipped;
- ``NotAllowedNow`` (a Zalo quota or window) → ``quota_blocked``, noted on the account for
  staff, never retried blindly;
- transient failures → retried with exponential backoff and full jitter, dead after
  ``max_attempts``;
- ``PermanentSendError`` → dead at once; ``AccountRefused`` → the account is marked broken and
  its sending stops, the message kept for when staff fix it.

Before each chunk of sends the sender re-reads which of its rows it still holds, so cancelling
a broadcast (or a withdrawn consent that cancels rows) stops it before its next send.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from communepol.clock import utcnow
from communepol.crypto import Keyring
from communepol.db.models import (
    ChannelAccount,
    ChannelKind,
    ChannelStatus,
    CommunityGroup,
    Contact,
    DeliveryKind,
    DeliveryStatus,
    Reachability,
)
from communepol.ports import (
    AccountRefused,
    Channel,
    NotAllowedNow,
    OutboundMessage,
    PermanentSendError,
    Recipient,
    RetryAfter,
    SendPurpose,
    SendResult,
    TransientSendError,
    Unreachable,
)
from communepol.services import leases, outbox
from communepol.services.channels import ChannelRegistry
from communepol.services.contacts import open_identity
from communepol.services.outbox import Claimed, Outcome
from communepol.workers.metrics import WorkerMetrics
from communepol.workers.ratelimit import Gaps, Pacer

log = logging.getLogger(__name__)

_PURPOSE = {
    DeliveryKind.REPLY: SendPurpose.REPLY,
    DeliveryKind.NOTIFICATION: SendPurpose.NOTIFICATION,
    DeliveryKind.ALERT: SendPurpose.ALERT,
    DeliveryKind.BROADCAST: SendPurpose.BROADCAST,
}


@dataclass(frozen=True)
class Limits:
    """A platform's sending limits for one account. ``None`` means no limit."""

    per_second: float | None
    chat_interval: float | None = None
    group_interval: float | None = None


def default_limits(kind: ChannelKind, telegram_rate: float = 30.0) -> Limits:
    """Telegram's published limits (30/s per bot — up to 1000/s with paid broadcasts —, 1/s per
    chat, 20/min per group); Zalo publishes none, so its accounts get a cautious 10/s; the web
    chat is the service itself."""
    if kind is ChannelKind.TELEGRAM:
        return Limits(per_second=telegram_rate, chat_interval=1.0, group_interval=3.0)
    if kind in (ChannelKind.ZALO_OA, ChannelKind.ZALO_BOT):
        return Limits(per_second=10.0, chat_interval=1.0, group_interval=3.0)
    return Limits(per_second=None)


@dataclass(frozen=True)
class DispatchConfig:
    batch: int = 500
    concurrency: int = 16
    max_attempts: int = 8
    backoff_base: float = 2.0
    backoff_cap: float = 600.0
    # A crashed process's work is picked up by another within these times; a live process
    # renews both long before they lapse (the account every scan, its rows every 0.25 s).
    account_lease: timedelta = timedelta(seconds=10)
    row_lease: timedelta = timedelta(seconds=15)
    idle_poll: float = 0.5
    scan_interval: float = 2.0


@dataclass(order=True)
class _Waiting:
    ready_at: float
    seq: int
    row: Claimed = field(compare=False)
    recipient: Recipient = field(compare=False)
    key: str = field(compare=False)
    gaps: Gaps = field(compare=False)


class AccountSender:
    """Sends one account's outbox while this process holds the account's lease."""

    def __init__(
        self,
        account_id: int,
        channel: Channel,
        keyring: Keyring,
        limits: Limits,
        owner: str,
        config: DispatchConfig,
        *,
        kind: str = "",
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.account_id = account_id
        self.kind = kind
        self.metrics = metrics
        self.channel = channel
        self.keyring = keyring
        self.owner = owner
        self.config = config
        self.pacer = Pacer(limits.per_second)
        self.chat_gaps = Gaps(limits.chat_interval)
        self.group_gaps = Gaps(limits.group_interval)
        self.wakeup = asyncio.Event()
        self._sem = asyncio.Semaphore(config.concurrency)
        self._outcomes: list[Outcome] = []
        self._unreachable: dict[int, str] = {}
        self._refused: str | None = None
        self._seq = 0
        self.sent = 0

    @property
    def row_lease(self) -> timedelta:
        return self.config.row_lease

    async def run(self) -> None:
        while self._refused is None:
            rows = await outbox.claim(
                self.account_id, owner=self.owner, limit=self.config.batch, lease=self.row_lease
            )
            if not rows:
                self.wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wakeup.wait(), self.config.idle_poll)
                continue
            await self.send_batch(rows)
        await self._stop_refused()

    async def send_batch(self, rows: list[Claimed]) -> None:
        """Send a claimed batch: resolve recipients, then send in order, pacing each chat."""
        recipients = await self._recipients(rows)
        waiting: list[_Waiting] = []
        for row in rows:
            recipient = recipients.get(row.id)
            if recipient is None:
                continue
            gaps = self.group_gaps if recipient.is_group else self.chat_gaps
            key = ("g:" if recipient.is_group else "c:") + recipient.chat_id
            waiting.append(_Waiting(0.0, self._next_seq(), row, recipient, key, gaps))
        heapq.heapify(waiting)
        tasks: set[asyncio.Task[None]] = set()
        try:
            await self._send_waiting(waiting, tasks)
        except asyncio.CancelledError:
            # Stopping (shutdown, lost lease): finish what is in flight, give the rest back.
            await asyncio.shield(self._give_back(waiting, tasks))
            raise
        await self._give_back(waiting, tasks)

    async def _give_back(self, waiting: list[_Waiting], tasks: set[asyncio.Task[None]]) -> None:
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if waiting:
            await outbox.release([w.row.id for w in waiting], self.owner)
            waiting.clear()
        await self._flush()

    async def _send_waiting(self, waiting: list[_Waiting], tasks: set[asyncio.Task[None]]) -> None:
        chunk_started = time.monotonic()
        held = {w.row.id for w in waiting}
        while waiting and self._refused is None:
            if time.monotonic() - chunk_started > 0.25:
                ids = [w.row.id for w in waiting]
                held = await outbox.hold(ids, self.owner, self.config.row_lease)
                chunk_started = time.monotonic()
                await self._flush()
            item = heapq.heappop(waiting)
            if item.row.id not in held:
                continue  # cancelled while it waited
            now = time.monotonic()
            ready_at = max(item.ready_at, item.gaps.ready_at(item.key))
            if ready_at > now:
                # The chat's next slot, exactly: rows of one chat keep their order (by seq).
                item.ready_at = ready_at
                delay = ready_at - now
                heapq.heappush(waiting, item)
                if waiting[0] is item:
                    await asyncio.sleep(min(delay, 0.25))
                continue
            await self._sem.acquire()
            await self.pacer.take()
            if self._refused is not None:  # learnt while this send waited for its turn
                self._sem.release()
                heapq.heappush(waiting, item)
                break
            item.gaps.mark(item.key)
            task = asyncio.create_task(self._send_one(item.row, item.recipient))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    async def _send_one(self, row: Claimed, recipient: Recipient) -> None:
        try:
            message = OutboundMessage.from_payload(row.payload)
            result: SendResult = await self.channel.send(recipient, message, _PURPOSE[row.kind])
        except RetryAfter as err:
            self.pacer.pause(err.seconds)
            retry_at = utcnow() + timedelta(seconds=err.seconds)
            self._record(row, DeliveryStatus.PENDING, err.message, retry_at, refund=True)
        except Unreachable as err:
            if row.contact_id is not None:
                self._unreachable[row.contact_id] = err.message
            self._record(row, DeliveryStatus.UNREACHABLE, err.message)
        except NotAllowedNow as err:
            self._record(row, DeliveryStatus.QUOTA_BLOCKED, err.message)
            await outbox.note_account_error(self.account_id, err.message)
        except PermanentSendError as err:
            self._record(row, DeliveryStatus.DEAD, err.message)
        except AccountRefused as err:
            self._refused = err.message
            self._record(row, DeliveryStatus.PENDING, err.message, utcnow(), refund=True)
        except TransientSendError as err:
            self._retry_later(row, err.message)
        except Exception as err:  # an adapter bug must not kill the sender or lose the row
            log.exception(
                "account %s: unexpected error sending delivery %s", self.account_id, row.id
            )
            self._retry_later(row, f"internal error ({type(err).__name__})")
        else:
            self.sent += 1
            first_id = result.platform_message_ids[0] if result.platform_message_ids else None
            self._outcomes.append(
                Outcome(row.id, DeliveryStatus.SENT, platform_message_id=first_id)
            )
        finally:
            self._sem.release()

    def _retry_later(self, row: Claimed, error: str) -> None:
        if row.attempts >= self.config.max_attempts:
            self._record(row, DeliveryStatus.DEAD, error)
            return
        # Full jitter: a platform that came back is not hit by every sender at the same instant.
        ceiling = min(self.config.backoff_cap, self.config.backoff_base * 2 ** (row.attempts - 1))
        retry_at = utcnow() + timedelta(seconds=random.uniform(ceiling / 2, ceiling))  # noqa: S311
        self._record(row, DeliveryStatus.PENDING, error, retry_at)

    def _record(
        self,
        row: Claimed,
        status: DeliveryStatus,
        error: str,
        retry_at: datetime | None = None,
        *,
        refund: bool = False,
    ) -> None:
        self._outcomes.append(
            Outcome(row.id, status, error=error, retry_at=retry_at, refund_attempt=refund)
        )

    async def _flush(self) -> None:
        outcomes, self._outcomes = self._outcomes, []
        if outcomes:
            await outbox.record_outcomes(outcomes, self.owner)
            if self.metrics is not None:
                for outcome in outcomes:
                    self.metrics.deliveries.labels(self.kind, outcome.status.value).inc()
        unreachable, self._unreachable = self._unreachable, {}
        for contact_id, reason in unreachable.items():
            await outbox.skip_unreachable(contact_id, reason)

    async def _recipients(self, rows: list[Claimed]) -> dict[int, Recipient]:
        """Open each row's recipient; rows whose contact is already unreachable are skipped."""
        contact_ids = {r.contact_id for r in rows if r.contact_id is not None}
        group_ids = {r.group_id for r in rows if r.group_id is not None}
        contacts = (
            {c.id: c for c in await Contact.filter(id__in=contact_ids)} if contact_ids else {}
        )
        groups = (
            {g.id: g for g in await CommunityGroup.filter(id__in=group_ids)} if group_ids else {}
        )
        result: dict[int, Recipient] = {}
        for row in rows:
            if row.contact_id is not None:
                contact = contacts.get(row.contact_id)
                if contact is None or contact.reachability is Reachability.UNREACHABLE:
                    self._record(row, DeliveryStatus.UNREACHABLE, "the contact is unreachable")
                    continue
                identity = open_identity(self.keyring, contact)
                result[row.id] = Recipient(
                    chat_id=identity.platform_user_id,
                    last_inbound_at=contact.last_inbound_at,
                    last_inbound_message_id=contact.last_inbound_message_id,
                )
            else:
                group = groups.get(row.group_id or 0)
                if group is None or not group.active:
                    self._record(row, DeliveryStatus.UNREACHABLE, "the group is not active")
                    continue
                chat = self.keyring.box("contact-identity").open_json(group.chat_sealed)
                result[row.id] = Recipient(chat_id=str(chat["id"]), is_group=True)
        return result

    async def _stop_refused(self) -> None:
        reason = self._refused or "refused"
        await ChannelAccount.filter(id=self.account_id).update(status=ChannelStatus.BROKEN)
        await outbox.note_account_error(self.account_id, reason)
        log.error("account %s: credentials refused; sending stopped", self.account_id)


class Dispatcher:
    """Runs an `AccountSender` for every active account whose lease this process wins."""

    def __init__(
        self,
        registry: ChannelRegistry,
        keyring: Keyring,
        *,
        owner: str,
        limits_for: Callable[[ChannelKind], Limits] = default_limits,
        config: DispatchConfig | None = None,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.metrics = metrics
        self.registry = registry
        self.keyring = keyring
        self.owner = owner
        self.limits_for = limits_for
        self.config = config or DispatchConfig()
        self.senders: dict[int, AccountSender] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}

    def wake(self, account_id: int | None = None) -> None:
        """Something was just queued: senders look now instead of at their next poll."""
        for sender_id, sender in self.senders.items():
            if account_id is None or sender_id == account_id:
                sender.wakeup.set()

    async def run(self) -> None:
        try:
            while True:
                await self.scan()
                await asyncio.sleep(self.config.scan_interval)
        finally:
            await self.stop()

    async def scan(self) -> None:
        """Start senders for accounts this process can own; stop those whose lease it lost."""
        accounts = await ChannelAccount.filter(status=ChannelStatus.ACTIVE).values_list(
            "id", "kind"
        )
        active = {int(account_id): ChannelKind(kind) for account_id, kind in accounts}
        for account_id in list(self._tasks):
            task = self._tasks[account_id]
            if task.done() or account_id not in active:
                await self._stop_sender(account_id)
        for account_id, kind in active.items():
            owned = await leases.acquire(
                f"send:{account_id}", self.owner, self.config.account_lease
            )
            if not owned:
                await self._stop_sender(account_id)
                continue
            if account_id in self._tasks:
                continue
            try:
                _, channel = await self.registry.get(account_id)
            except Exception:
                log.exception("account %s: cannot build its adapter", account_id)
                continue
            sender = AccountSender(
                account_id,
                channel,
                self.keyring,
                self.limits_for(kind),
                self.owner,
                self.config,
                kind=kind.value,
                metrics=self.metrics,
            )
            self.senders[account_id] = sender
            self._tasks[account_id] = asyncio.create_task(
                self._guard(sender), name=f"sender-{account_id}"
            )

    async def _guard(self, sender: AccountSender) -> None:
        try:
            await sender.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            # A database outage ends this run; the next scan starts a fresh sender.
            log.exception("account %s: sender stopped", sender.account_id)

    async def _stop_sender(self, account_id: int) -> None:
        task = self._tasks.pop(account_id, None)
        self.senders.pop(account_id, None)
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def stop(self) -> None:
        for account_id in list(self._tasks):
            await self._stop_sender(account_id)
            with contextlib.suppress(Exception):
                await leases.release(f"send:{account_id}", self.owner)
