"""The inbox worker: takes stored events in order per contact and hands each to the
conversations, in one transaction with marking it done, so the replies it plans and the event's
completion commit together (a crash before the commit processes the event again; a crash after
it never does).

The handler is injected by the composition root (``bots.conversation.ConversationEngine``):
the core never imports the bots. A handler that raises rolls back everything it did; the event
is retried with backoff and parked after `communepol.services.inbox.MAX_ATTEMPTS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

from tortoise.transactions import in_transaction

from communepol.crypto import Keyring
from communepol.db import raw
from communepol.db.models import InboundEvent as StoredEvent
from communepol.errors import CommunepolError
from communepol.ports import InboundEvent
from communepol.services import inbox
from communepol.services.channels import ChannelRegistry
from communepol.services.inbox import ClaimedEvent
from communepol.workers.metrics import WorkerMetrics

log = logging.getLogger(__name__)

PURGE_INTERVAL = 3600.0  # seconds between deletions of long-processed events

EventHandler = Callable[[int, int, InboundEvent], Awaitable[None]]
"""``handler(channel_account_id, stored_event_id, event)``."""


class InboxWorker:
    def __init__(
        self,
        keyring: Keyring,
        handler: EventHandler,
        *,
        owner: str,
        registry: ChannelRegistry | None = None,
        on_processed: Callable[[], None] | None = None,
        metrics: WorkerMetrics | None = None,
        batch: int = 50,
        lease: timedelta = timedelta(seconds=30),
        idle_poll: float = 0.5,
    ) -> None:
        self.keyring = keyring
        self.handler = handler
        self.owner = owner
        self.registry = registry
        self.on_processed = on_processed
        self.metrics = metrics
        self.batch = batch
        self.lease = lease
        self.idle_poll = idle_poll
        self.wakeup = asyncio.Event()

    def wake(self) -> None:
        self.wakeup.set()

    async def run(self) -> None:
        next_purge = 0.0
        while True:
            if time.monotonic() >= next_purge:
                next_purge = time.monotonic() + PURGE_INTERVAL
                with contextlib.suppress(Exception):  # retried at the next interval
                    await inbox.purge_processed()
            try:
                handled = await self.run_once()
            except Exception:
                # The database went away: wait and try again; nothing is lost, events stay.
                log.exception("inbox worker: cannot claim events")
                handled = 0
                await asyncio.sleep(2.0)
            if handled == 0:
                self.wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wakeup.wait(), self.idle_poll)

    async def run_once(self) -> int:
        """Claim and process one batch; how many events were handled."""
        claimed = await inbox.claim(
            self.keyring, owner=self.owner, limit=self.batch, lease=self.lease
        )
        for item in claimed:
            await self.process(item)
        if claimed and self.on_processed is not None:
            self.on_processed()
        return len(claimed)

    async def process(self, item: ClaimedEvent) -> None:
        try:
            async with in_transaction(raw.connection(StoredEvent).connection_name):
                await self.handler(item.channel_account_id, item.id, item.event)
                await inbox.mark_done(item.id, self.owner)
        except CommunepolError as err:
            error = f"{type(err).__name__}: {err.message}"
        except Exception as err:
            incident = uuid.uuid4().hex[:12]
            # The event's content is never logged: only where to look and what kind of error.
            log.exception("inbox event %s failed (incident %s)", item.id, incident)
            error = f"{type(err).__name__} (incident {incident})"
        else:
            self._count("done")
            await self._acknowledge(item)
            return
        status = await inbox.mark_failed(item, self.owner, error)
        self._count(status.value)

    def _count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.inbound.labels(outcome).inc()

    async def _acknowledge(self, item: ClaimedEvent) -> None:
        if self.registry is None or item.event.callback_id is None:
            return
        try:
            _, channel = await self.registry.get(item.channel_account_id)
            await channel.acknowledge(item.event)
        except Exception:  # a courtesy to the platform; never worth failing the event for
            log.warning("account %s: acknowledge failed", item.channel_account_id)
