"""What every fake platform server shares: a real aiohttp server on 127.0.0.1, a record of
every call it received, faults injected on demand, and an optional rate cap that answers 429
the way the platform would.

A platform's fake subclasses `FakePlatform`, adds its routes, calls `intercept` at the top of
each handler and renders the returned `Fault` in its own error format.

`FakePlatform.host_file` serves bytes at a URL of the fake, the way Zalo's CDN serves the
photo a person sent (the URL in the event); fetching it is recorded as a ``file`` call.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web


@dataclass(frozen=True)
class Call:
    """One request the fake received: the API method and its parameters, parsed."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    at: float = 0.0  # time.monotonic() when it arrived


@dataclass(frozen=True)
class Fault:
    """What the fake does instead of succeeding. ``kind`` is one of ``rate_limited``
    (``retry_after`` seconds), ``forbidden``, ``bad_request``, ``server_error``, ``slow``
    (answer normally after ``delay`` seconds) or a platform-specific code in ``code``."""

    kind: str
    retry_after: int = 0
    delay: float = 0.0
    status: int = 0
    code: int = 0
    description: str = ""

    @classmethod
    def rate_limited(cls, retry_after: int) -> Fault:
        return cls("rate_limited", retry_after=retry_after)

    @classmethod
    def forbidden(cls, description: str = "Forbidden: bot was blocked by the user") -> Fault:
        return cls("forbidden", description=description)

    @classmethod
    def bad_request(cls, description: str = "Bad Request: chat not found") -> Fault:
        return cls("bad_request", description=description)

    @classmethod
    def server_error(cls, status: int = 502) -> Fault:
        return cls("server_error", status=status, description="Bad Gateway")

    @classmethod
    def slow(cls, delay: float) -> Fault:
        return cls("slow", delay=delay)

    @classmethod
    def platform_error(cls, code: int, description: str) -> Fault:
        """A platform error code answered with HTTP 200 (Zalo OA's way: ``{"error": -230}``)."""
        return cls("platform_error", code=code, description=description)


class FakePlatform:
    """Base of the fake servers. Use as ``async with FakeTelegram() as fake: fake.base_url``."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._faults: deque[Fault] = deque()
        self._sticky: Fault | None = None
        self._rate_cap: float | None = None
        self._bucket = 0.0
        self._bucket_at = 0.0
        self.rejected_by_cap = 0
        self.app = web.Application(client_max_size=20 * 1024 * 1024)
        self.app.router.add_get("/_files/{name}", self._hosted_file)
        self.hosted: dict[str, bytes] = {}
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # -- control, used by tests ------------------------------------------------------------

    def fail_next(self, fault: Fault, times: int = 1) -> None:
        """Answer the next ``times`` calls with ``fault``."""
        self._faults.extend([fault] * times)

    def fail_always(self, fault: Fault | None) -> None:
        """Answer every call with ``fault`` until called again with ``None``."""
        self._sticky = fault

    def enforce_rate(self, per_second: float | None) -> None:
        """Answer 429 (retry after 1 s) when calls come faster than ``per_second``, with a burst
        of one second's worth — the way the real platforms throttle a bot."""
        self._rate_cap = per_second
        self._bucket = per_second or 0.0
        self._bucket_at = time.monotonic()

    def host_file(self, name: str, data: bytes) -> str:
        """Serve ``data`` at the returned URL (the fake must be started)."""
        self.hosted[name] = data
        return f"{self.base_url}/_files/{name}"

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def reset(self) -> None:
        self.calls.clear()
        self._faults.clear()
        self._sticky = None
        self.rejected_by_cap = 0

    # -- used by subclasses ----------------------------------------------------------------

    async def intercept(
        self, request: web.Request, method: str, params: dict[str, Any]
    ) -> Fault | None:
        """Record the call; return the fault to answer with, or None to answer normally."""
        self.calls.append(
            Call(method=method, params=params, headers=dict(request.headers), at=time.monotonic())
        )
        fault = self._faults.popleft() if self._faults else self._sticky
        if fault is not None and fault.kind == "slow":
            await asyncio.sleep(fault.delay)
            return None
        if fault is None and self._over_cap():
            self.rejected_by_cap += 1
            return Fault.rate_limited(1)
        return fault

    async def _hosted_file(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        fault = await self.intercept(request, "file", {"name": name})
        if fault is not None:
            status = fault.status or (429 if fault.kind == "rate_limited" else 403)
            return web.Response(status=status)
        data = self.hosted.get(name)
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    def _over_cap(self) -> bool:
        if self._rate_cap is None:
            return False
        now = time.monotonic()
        self._bucket = min(self._rate_cap, self._bucket + (now - self._bucket_at) * self._rate_cap)
        self._bucket_at = now
        if self._bucket < 1.0:
            return True
        self._bucket -= 1.0
        return False

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, port: int = 0) -> str:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        bound = sockets[0].getsockname()[1] if sockets else port
        self.base_url = f"http://127.0.0.1:{bound}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
