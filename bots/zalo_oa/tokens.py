"""The Zalo OA access token and its renewal (OAuth v4 ``grant_type=refresh_token``).

Zalo's refresh token is single-use: a refresh returns a new access token *and* a new refresh
token, and the old refresh token answers ``-14020`` from then on. Two renewals racing with the
same refresh token therefore break the account unless exactly one of them talks to Zalo. Inside
one adapter an `asyncio.Lock` serialises them. Across adapters and processes that share a
`SecretsStore`, the winner first writes a short *lease* into the stored secrets with the store's
compare-and-swap `replace`; the others see the lease, wait, and pick up the pair the winner
saves. A lease whose holder died expires after ``lease_seconds`` and may then be taken over.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets as token_bytes
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp

from communepol.ports import (
    AccountRefused,
    RetryAfter,
    SecretsStore,
    SendError,
    TransientSendError,
)

log = logging.getLogger(__name__)

TOKEN_PATH = "/v4/oa/access_token"  # noqa: S105 - a URL path, not a secret
# Stored next to the pair while a renewal is under way: {"until": epoch seconds, "id": hex}.
LEASE_KEY = "refresh_lease"
EXPIRES_KEY = "access_token_expires_at"

_FIRST_PAUSE = 0.05
_LONGEST_PAUSE = 0.5


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_at: int | None = None  # epoch seconds, from ``expires_in``


class AccessTokens:
    """The current access token of one adapter, renewed at most once per failure."""

    def __init__(
        self,
        *,
        account_id: int,
        app_id: str,
        app_secret: str | None,
        access_token: str | None,
        refresh_token: str | None,
        token_url: str,
        store: SecretsStore | None,
        session: Callable[[], aiohttp.ClientSession],
        timeout: aiohttp.ClientTimeout,
        clock: Callable[[], datetime],
        lease_seconds: float,
    ) -> None:
        self._account_id = account_id
        self._app_id = app_id
        self._app_secret = app_secret
        self._access_token = access_token or ""
        self._refresh_token = refresh_token
        self._token_url = token_url
        self._store = store
        self._session = session
        self._timeout = timeout
        self._clock = clock
        self._lease_seconds = lease_seconds
        self._lock = asyncio.Lock()

    @property
    def current(self) -> str:
        return self._access_token

    async def renew(self, failed: str) -> None:
        """Make `current` a token other than ``failed``: adopt one someone else obtained, or
        ask Zalo for a new pair. Raises `AccountRefused` when Zalo refuses the refresh token."""
        async with self._lock:
            if self._access_token != failed:
                return  # another task of this adapter renewed it while we waited
            if self._store is None:
                self._use(await self._exchange(self._refresh_token))
            else:
                await self._renew_through(self._store, failed)
            log.info("zalo oa account %s: access token renewed", self._account_id)

    # -- through a shared store ------------------------------------------------------------

    async def _renew_through(self, store: SecretsStore, failed: str) -> None:
        leased = await self._take_lease(store, failed)
        if leased is None:
            return  # someone else renewed; their pair is in use now
        stored, lease_id = leased
        try:
            pair = await self._exchange(_text(stored.get("refresh_token")) or self._refresh_token)
        except AccountRefused:
            # The stored refresh token was already spent. If someone saved a newer pair in the
            # meantime, that is the one to use; otherwise the account really is refused.
            current, version = await store.load()
            if self._adopt(current, failed):
                return
            await self._release(store, current, version, lease_id)
            raise
        except SendError:
            current, version = await store.load()
            await self._release(store, current, version, lease_id)
            raise
        await self._save(store, pair, failed, lease_id)

    async def _take_lease(
        self, store: SecretsStore, failed: str
    ) -> tuple[dict[str, Any], str] | None:
        """The stored secrets under our fresh lease, or None if a renewed pair was adopted."""
        deadline = time.monotonic() + self._lease_seconds + 5
        pause = _FIRST_PAUSE
        while time.monotonic() < deadline:
            stored, version = await store.load()
            if self._adopt(stored, failed):
                return None
            now = self._clock().timestamp()
            until, _ = _lease(stored)
            if until is not None and now < until:
                await asyncio.sleep(min(pause, until - now))
                pause = min(pause * 2, _LONGEST_PAUSE)
                continue
            lease_id = token_bytes.token_hex(8)
            claim = {**stored, LEASE_KEY: {"until": now + self._lease_seconds, "id": lease_id}}
            if await store.replace(claim, version):
                return claim, lease_id
            # Someone wrote first: look again at what they wrote.
        raise TransientSendError("the Zalo OA access token is being renewed elsewhere")

    async def _save(self, store: SecretsStore, pair: TokenPair, failed: str, lease_id: str) -> None:
        for _ in range(3):
            current, version = await store.load()
            if _lease(current)[1] != lease_id and self._adopt(current, failed):
                # Our lease was overtaken and a different pair saved (staff re-entered the
                # credentials, or our lease expired): the stored pair wins, as the store says.
                return
            saved = {k: v for k, v in current.items() if k != LEASE_KEY}
            saved.update(access_token=pair.access_token, refresh_token=pair.refresh_token)
            if pair.expires_at is not None:
                saved[EXPIRES_KEY] = pair.expires_at
            if await store.replace(saved, version):
                self._use(pair)
                return
        # Zalo has already spent the old refresh token, so the new pair is the only one that
        # works: keep it in memory even though the store keeps changing under us.
        log.warning("zalo oa account %s: renewed token pair could not be saved", self._account_id)
        self._use(pair)

    async def _release(
        self, store: SecretsStore, current: Mapping[str, Any], version: int, lease_id: str
    ) -> None:
        if _lease(current)[1] == lease_id:
            await store.replace({k: v for k, v in current.items() if k != LEASE_KEY}, version)

    def _adopt(self, stored: Mapping[str, Any], failed: str) -> bool:
        access_token = _text(stored.get("access_token"))
        if not access_token or access_token == failed:
            return False
        self._access_token = access_token
        self._refresh_token = _text(stored.get("refresh_token")) or self._refresh_token
        return True

    def _use(self, pair: TokenPair) -> None:
        self._access_token = pair.access_token
        self._refresh_token = pair.refresh_token

    # -- the OAuth call --------------------------------------------------------------------

    async def _exchange(self, refresh_token: str | None) -> TokenPair:
        if not refresh_token or not self._app_secret:
            raise AccountRefused("the Zalo OA account has no refresh token or app secret")
        form = {
            "refresh_token": refresh_token,
            "app_id": self._app_id,
            "grant_type": "refresh_token",
        }
        try:
            async with self._session().post(
                self._token_url,
                data=form,
                headers={"secret_key": self._app_secret},
                timeout=self._timeout,
            ) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After")
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError) as err:
            raise TransientSendError(
                f"the Zalo OAuth server could not be reached ({type(err).__name__})"
            ) from None
        if status == 429:
            raise RetryAfter(retry_seconds(retry_after), "Zalo OAuth rate limit")
        if status >= 500:
            raise TransientSendError(f"the Zalo OAuth server answered HTTP {status}")
        answer = read_json(raw)
        if not isinstance(answer, dict):
            raise TransientSendError("the Zalo OAuth server gave an unreadable answer")
        access_token = _text(answer.get("access_token"))
        new_refresh_token = _text(answer.get("refresh_token"))
        if status != 200 or not access_token or not new_refresh_token:
            number = error_code(answer)
            code = "unknown" if number is None else str(number)
            log.warning(
                "zalo oa account %s: token renewal refused (error %s)", self._account_id, code
            )
            raise AccountRefused(f"Zalo refused to renew the OA access token (error {code})")
        return TokenPair(
            access_token, new_refresh_token, self._expires_at(answer.get("expires_in"))
        )

    def _expires_at(self, expires_in: Any) -> int | None:
        # Zalo sends "90000" as a string as often as a number.
        try:
            seconds = int(str(expires_in).strip())
        except ValueError:
            return None
        return int(self._clock().timestamp()) + seconds if seconds > 0 else None


def _lease(stored: Mapping[str, Any]) -> tuple[float | None, str | None]:
    lease = stored.get(LEASE_KEY)
    if not isinstance(lease, dict):
        return None, None
    until = lease.get("until")
    lease_id = lease.get("id")
    return (
        float(until) if isinstance(until, int | float) else None,
        lease_id if isinstance(lease_id, str) else None,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def read_json(raw: bytes) -> Any:
    """A response body as JSON, or None when it is not JSON (a proxy's error page)."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def error_code(answer: Any) -> int | None:
    """Zalo's ``error`` field as an int (it is a number, occasionally a numeric string)."""
    if not isinstance(answer, dict):
        return None
    value = answer.get("error")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and value.isascii():
        return int(value.strip())
    return None


def retry_seconds(header: str | None) -> float:
    """Retry-After in seconds; Zalo rarely sends one, so a second is the default."""
    try:
        seconds = float(header) if header is not None else 1.0
    except ValueError:
        return 1.0
    return seconds if 0 <= seconds <= 3600 else 1.0


__all__ = ["LEASE_KEY", "TOKEN_PATH", "AccessTokens", "TokenPair", "error_code", "retry_seconds"]
