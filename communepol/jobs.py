"""The ticker: APScheduler runs each job on an interval; each job is one call into a service.

APScheduler only says *when to look*; what is due lives in the database and is claimed there
(`communepol.services.posts.Publisher.publish_due`), so a tick that comes late, twice, or in
two processes at once changes nothing: each occurrence is claimed by one conditional UPDATE.
A job that fails is logged (never with a resident's data) and runs again at its next tick.

Jobs:

- ``publish``: due posts (once, "now", recurring) become publications and deliveries, every
  ``PUBLISH_EVERY`` seconds; the dispatcher is woken when something was published.
- ``housekeeping``: expire posts and alerts past their expiry, mark finished publications
  done, delete the contacts erased on request once their confirmation is sent.
- ``escalate`` (every ``ESCALATE_EVERY`` seconds): overdue tips go to the supervisors above
  their unit, again at each repeat interval (`communepol.services.sla.escalate_due`).
- ``tip-files`` (every ``FETCH_EVERY`` seconds): the files residents attached to tips are
  fetched from the platforms, cleaned and stored (`communepol.services.tipmedia`).
- ``breach-watch`` (every ``WATCH_EVERY`` seconds): an account that read too many tips, or
  was refused other units' tips too often, in the last 10 minutes raises a security alert and
  its supervisors are told (`communepol.services.breachwatch.watch`). Like the others it runs
  in every process: the alert is claimed under a lock of the staff row, so it is raised once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from communepol.clock import utcnow
from communepol.crypto import Keyring
from communepol.errors import Unavailable
from communepol.media import MediaStore
from communepol.services import alerts, breachwatch, follows, sla, tipmedia
from communepol.services.channels import ChannelRegistry
from communepol.services.posts import Publisher

log = logging.getLogger(__name__)

PUBLISH_EVERY = 2.0  # seconds: "publish now" goes out within this
HOUSEKEEPING_EVERY = 60.0
ESCALATE_EVERY = 30.0  # the shortest deadline is minutes: escalation is at most this late
FETCH_EVERY = 3.0
WATCH_EVERY = 60.0  # an alert fires within a minute of the read that crossed the limit


@dataclass(frozen=True)
class TipJobs:
    """What the tip jobs need: the keyring (vault, sealed file references), the channel
    adapters (to fetch files), the media store, and the breach watch's limits and the zone its
    notices give times in."""

    keyring: Keyring
    registry: ChannelRegistry
    store: MediaStore
    watch_limits: breachwatch.Limits = field(default_factory=breachwatch.Limits)
    zone: tzinfo = field(default_factory=lambda: ZoneInfo("Asia/Ho_Chi_Minh"))


class Ticker:
    def __init__(
        self,
        publisher: Publisher,
        *,
        on_published: Callable[[], None],
        tip_jobs: TipJobs | None = None,
    ) -> None:
        self.publisher = publisher
        self.on_published = on_published
        self.tip_jobs = tip_jobs
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self._running: set[asyncio.Task[object]] = set()

    async def publish(self, now: datetime | None = None) -> list[int]:
        """One publishing tick: everything due is published (in batches)."""
        published: list[int] = []
        while True:
            batch = await self.publisher.publish_due(now or utcnow())
            published.extend(batch)
            if not batch:
                break
        if published:
            self.on_published()
        return published

    async def housekeeping(self, now: datetime | None = None) -> None:
        await self.publisher.expire(now or utcnow())
        await self.publisher.finish_publications()
        await alerts.expire_alerts(now)
        await follows.purge_erased()

    async def escalate(self, now: datetime | None = None) -> int:
        """Escalate overdue tips; the dispatcher is woken when a card was planned."""
        if self.tip_jobs is None:
            return 0
        sent = await sla.escalate_due(self.tip_jobs.keyring, now)
        if sent:
            self.on_published()
        return sent

    async def fetch_tip_files(self) -> int:
        if self.tip_jobs is None:
            return 0
        jobs = self.tip_jobs
        return await tipmedia.fetch_pending(jobs.keyring, jobs.registry, jobs.store)

    async def watch(self, now: datetime | None = None) -> list[breachwatch.Raised]:
        """Raise the security alerts due; the dispatcher is woken when a notice was planned."""
        if self.tip_jobs is None:
            return []
        jobs = self.tip_jobs
        raised = await breachwatch.watch(jobs.watch_limits, jobs.zone, now)
        if any(alert.notified for alert in raised):
            self.on_published()
        return raised

    def start(self) -> None:
        self._add(self.publish, PUBLISH_EVERY, "publish")
        self._add(self.housekeeping, HOUSEKEEPING_EVERY, "housekeeping")
        if self.tip_jobs is not None:
            self._add(self.escalate, ESCALATE_EVERY, "escalate")
            self._add(self.fetch_tip_files, FETCH_EVERY, "tip-files")
            self._add(self.watch, WATCH_EVERY, "breach-watch")
        self.scheduler.start()

    def _add(self, job: Callable[[], Awaitable[object]], seconds: float, name: str) -> None:
        async def run() -> None:
            task = asyncio.current_task()
            if task is not None:
                self._running.add(task)
            try:
                await job()
            except Unavailable:
                log.warning("ticker job %s: database unavailable; next tick retries", name)
            except Exception:
                log.exception("ticker job %s failed; next tick retries", name)
            finally:
                if task is not None:
                    self._running.discard(task)

        self.scheduler.add_job(
            run,
            IntervalTrigger(seconds=seconds),
            id=name,
            name=name,
            next_run_time=utcnow(),  # once at start: what fell due while we were down
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )

    async def stop(self) -> None:
        """No new ticks; a job still running is cancelled (its transaction rolls back, the
        next start does it again) and awaited, so nothing touches the database after this."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        running = list(self._running)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
