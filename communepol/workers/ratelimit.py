"""Send pacing: one bucket per channel account, one gap per chat and per group.

`Pacer` is a GCRA token bucket: at ``rate`` per second with a ``burst`` of one it spaces
sends exactly ``1/rate`` apart, so a 30/s Telegram bot sends 30 a second however its batches
arrive; `Pacer.pause` holds every send of the account until a platform's ``retry_after`` has
passed. `Gaps` keeps a minimum interval per key (1 s per Telegram chat, 3 s per group = 20 a
minute) and tells the caller when a key may be sent to next, so the sender can go on with other
recipients instead of stalling behind one chat.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class Pacer:
    def __init__(
        self,
        rate: float | None,
        *,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive (or None for no limit)")
        self.rate = rate
        self._burst = max(1.0, burst)
        self._clock = clock
        self._tat = clock()  # theoretical arrival time of the next send
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """No send before ``seconds`` from now (a platform's retry_after, honoured exactly)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    @property
    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self._clock())

    def reserve(self) -> float:
        """Take the next slot; how many seconds to wait before using it."""
        now = self._clock()
        start = max(now, self._paused_until)
        if self.rate is None:
            return start - now
        interval = 1.0 / self.rate
        tat = max(self._tat, start)
        wait = tat - (self._burst - 1.0) * interval - now
        self._tat = tat + interval
        return max(0.0, wait, start - now)

    async def take(self) -> None:
        wait = self.reserve()
        if wait > 0:
            await asyncio.sleep(wait)
        # A retry_after that arrived while this send waited for its slot holds it too.
        while (paused := self.paused_for) > 0:  # noqa: ASYNC110 - waiting on a clock, not an event
            await asyncio.sleep(paused)


class Gaps:
    """A minimum interval between two sends to the same key."""

    def __init__(self, interval: float | None, *, clock: Callable[[], float] = time.monotonic):
        self.interval = interval
        self._clock = clock
        self._next: dict[str, float] = {}

    def ready_at(self, key: str) -> float:
        """The monotonic time at which ``key`` may be sent to."""
        return self._next.get(key, 0.0) if self.interval is not None else 0.0

    def mark(self, key: str) -> None:
        """Record a send to ``key`` now."""
        if self.interval is None:
            return
        now = self._clock()
        self._next[key] = now + self.interval
        if len(self._next) > 10_000:  # forget chats whose gap has long passed
            self._next = {k: t for k, t in self._next.items() if t > now}
