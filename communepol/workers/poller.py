"""Polling, for stations with no public URL: accounts whose ``receive_mode`` is ``polling``
(Telegram and Zalo Bot can be asked for updates) are polled by the process holding the
account's ``poll:<id>`` lease, and what they return goes into the inbox like a webhook's events.
The platform's offset is advanced only after the events are stored, so a crash re-reads them
and the inbox drops the duplicates."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from communepol.db.models import ChannelAccount, ChannelStatus, ReceiveMode
from communepol.ports import Pollable, SendError
from communepol.services import leases
from communepol.services.channels import ChannelRegistry
from communepol.services.inbox import InboxWriter

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)


class Pollers:
    def __init__(
        self,
        registry: ChannelRegistry,
        writer: InboxWriter,
        *,
        owner: str,
        wait_seconds: int = 25,
        scan_interval: float = 10.0,
    ) -> None:
        self.registry = registry
        self.writer = writer
        self.owner = owner
        self.wait_seconds = wait_seconds
        self.scan_interval = scan_interval
        self._tasks: dict[int, asyncio.Task[None]] = {}

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self.scan()
                except Exception:
                    log.exception("pollers: scan failed")
                await asyncio.sleep(self.scan_interval)
        finally:
            await self.stop()

    async def scan(self) -> None:
        ids = await ChannelAccount.filter(
            status=ChannelStatus.ACTIVE, receive_mode=ReceiveMode.POLLING
        ).values_list("id", flat=True)
        wanted = {int(i) for i in ids}  # type: ignore[call-overload]
        for account_id in list(self._tasks):
            if account_id not in wanted or self._tasks[account_id].done():
                await self._stop(account_id)
        for account_id in wanted:
            if not await leases.acquire(f"poll:{account_id}", self.owner, LEASE):
                await self._stop(account_id)
            elif account_id not in self._tasks:
                self._tasks[account_id] = asyncio.create_task(self._poll(account_id))

    async def _poll(self, account_id: int) -> None:
        offset: str | None = None
        while True:
            try:
                _, channel = await self.registry.get(account_id)
                if not isinstance(channel, Pollable):
                    log.warning("account %s cannot be polled; set it to webhook", account_id)
                    return
                events, next_offset = await channel.get_updates(offset, self.wait_seconds)
                await self.writer.store(account_id, events)
                offset = next_offset
            except asyncio.CancelledError:
                raise
            except (SendError, Exception) as err:
                log.warning("account %s: polling failed (%s)", account_id, type(err).__name__)
                await asyncio.sleep(5.0)

    async def _stop(self, account_id: int) -> None:
        task = self._tasks.pop(account_id, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def stop(self) -> None:
        for account_id in list(self._tasks):
            await self._stop(account_id)
            with contextlib.suppress(Exception):
                await leases.release(f"poll:{account_id}", self.owner)
