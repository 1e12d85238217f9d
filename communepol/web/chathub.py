"""Wake-ups for open web chat streams: the web chat adapter calls `WebchatHub.notify` when a
reply to a visitor was sent, and the visitor's event stream (`communepol.web.webchat`) reads
it at once instead of at its next poll."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Iterator


class WebchatHub:
    """Wakes the open event streams of a visitor when a reply to them was sent (in this
    process; streams also poll, for replies sent by another process)."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)

    def notify(self, visitor: str) -> None:
        for event in self._waiters.get(visitor, ()):
            event.set()

    @contextlib.contextmanager
    def listen(self, visitor: str) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        self._waiters[visitor].add(event)
        try:
            yield event
        finally:
            self._waiters[visitor].discard(event)
            if not self._waiters[visitor]:
                del self._waiters[visitor]
