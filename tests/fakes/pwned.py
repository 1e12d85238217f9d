"""A fake Pwned Passwords range API speaking the real wire format.

``GET /range/{first five hex digits of the SHA-1, upper case}`` answers ``text/plain`` lines
``SUFFIX:COUNT`` (the other 35 hex digits, upper case, CRLF-separated) for every breached
password whose hash starts with that prefix. With the request header ``Add-Padding: true`` the
answer also carries made-up suffixes with count 0, as the real service pads every answer to
hundreds of lines so its size says nothing about the prefix. A prefix that is not 5 hex digits
gets 400. Injected faults (`Fault.server_error`, ``fail_always``) answer their status.

Tests use it in-process (``async with FakePwnedPasswords() as fake``) and mark passwords as
breached with `FakePwnedPasswords.breach`; for manual runs::

    python -m tests.fakes.pwned --port 18090 --breached "a password from a leak"
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import re
import secrets

from aiohttp import web

from tests.fakes.base import FakePlatform

PADDING_LINES = 20
_PREFIX = re.compile(r"^[0-9A-Fa-f]{5}$")


def sha1_hex(password: str) -> str:
    return hashlib.sha1(password.encode("utf-8"), usedforsecurity=False).hexdigest().upper()


class FakePwnedPasswords(FakePlatform):
    """The range API; `breach` adds a password (with how often it was seen)."""

    def __init__(self) -> None:
        super().__init__()
        self.hashes: dict[str, int] = {}
        self.app.router.add_get("/range/{prefix}", self._range)

    def breach(self, password: str, count: int = 3) -> None:
        self.hashes[sha1_hex(password)] = count

    async def _range(self, request: web.Request) -> web.StreamResponse:
        prefix = request.match_info["prefix"]
        fault = await self.intercept(request, "range", {"prefix": prefix})
        if fault is not None:
            return web.Response(status=fault.status or 503, text="Service Unavailable")
        if not _PREFIX.match(prefix):
            return web.Response(status=400, text="The hash prefix was not in a valid format")
        prefix = prefix.upper()
        lines = [
            f"{digest[5:]}:{count}"
            for digest, count in self.hashes.items()
            if digest.startswith(prefix)
        ]
        if request.headers.get("Add-Padding", "").lower() == "true":
            lines += [f"{secrets.token_hex(18)[:35].upper()}:0" for _ in range(PADDING_LINES)]
        return web.Response(text="\r\n".join(sorted(lines)), content_type="text/plain")


async def _serve(port: int, breached: list[str]) -> None:
    fake = FakePwnedPasswords()
    for password in breached:
        fake.breach(password)
    print(f"fake Pwned Passwords on {await fake.start(port)}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=18090)
    parser.add_argument("--breached", action="append", default=[], help="a breached password")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port, args.breached))


if __name__ == "__main__":
    main()
